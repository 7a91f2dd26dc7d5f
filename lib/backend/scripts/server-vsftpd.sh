# shellcheck shell=bash
# nlb-ftp boot: the steps that are vsftpd's own (sourced by boot.sh).

# vsftpd runs in the instance's own network namespace: nothing to make.
server_network() { :; }

server_configure() {
  install -d -m 0755 /etc/vsftpd /run/vsftpd/empty
  setting_file server-conf
  if [ -n "${CERTIFICATE_SECRET_ARN:-}" ]; then
    # FTPS: the protocol range through OPENSSL_CONF (vsftpd 3.0 has no option for it).
    setting_file openssl-conf
    install -d -m 0755 /etc/systemd/system/vsftpd.service.d
    install -m 0644 "$NLBFTP_LIB/units/vsftpd.service.d/nlb-ftp-openssl.conf" /etc/systemd/system/vsftpd.service.d/
  fi
}

server_units() { echo vsftpd.service; }

server_check() { :; }
