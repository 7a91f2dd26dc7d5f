# shellcheck shell=bash
# nlb-ftp boot: the steps that are ProFTPD's own (sourced by boot.sh).

# ProFTPD's own network namespace, whose ephemeral port range is exactly the slot's passive range
# (see ftp-namespace.sh for why), made at every boot by its unit.
server_network() {
  log "1/7 ProFTPD's own network namespace: passive ports never leave ${PASV_MIN}-${PASV_MAX}"
  setting_file namespace-sysctl namespace-env
  install -m 0755 "$NLBFTP_LIB/ftp-namespace.sh" /usr/local/sbin/nlb-ftp-namespace
  install -m 0644 "$NLBFTP_LIB/units/nlb-ftp-namespace.service" /etc/systemd/system/
}

server_configure() {
  install -d -m 0755 /etc/proftpd /var/log/proftpd
  setting_file server-conf
}

server_units() { echo nlb-ftp-namespace.service proftpd.service; }

# A config ProFTPD refuses fails the boot here, before anything is started.
server_check() { /usr/sbin/proftpd --configtest -c /etc/proftpd/proftpd.conf; }
