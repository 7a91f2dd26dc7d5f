# shellcheck shell=bash
# nlb-ftp boot: the steps that are ProFTPD's own (sourced by boot.sh).

# ProFTPD's own network namespace, whose ephemeral port range is exactly the slot's passive range
# (see ftp-namespace.sh for why), made at every boot by its unit.
server_network() {
  log "1/7 ProFTPD's own network namespace: passive ports never leave ${PASV_MIN}-${PASV_MAX}"
  setting_file namespace-sysctl namespace-env
  install -m 0755 "$NLBFTP_LIB/ftp-namespace.sh" /usr/local/sbin/nlb-ftp-namespace
  install -m 0644 "$NLBFTP_LIB/units/nlb-ftp-namespace.service" /etc/systemd/system/
  # The 421 responders at ProFTPD's caps (ftp-namespace.sh sends the connections over a cap to
  # them): one line each, naming the limit, as vsftpd answers at its own.
  (
    # shellcheck source=/dev/null
    . /etc/nlb-ftp/ftp-namespace.env
    printf '421 Too many sessions from your address on this backend (the limit is %s per address on each backend); try again later.\r\n' \
      "${MAX_PER_ADDRESS:?}" >/etc/nlb-ftp/refuse-per-address.txt
    printf '421 This backend is at its limit of %s sessions; try again later.\r\n' "${MAX_SESSIONS:?}" >/etc/nlb-ftp/refuse-full.txt
  )
  install -m 0644 "$NLBFTP_LIB/units/nlb-ftp-refuse-per-address.service" "$NLBFTP_LIB/units/nlb-ftp-refuse-full.service" /etc/systemd/system/
}

server_configure() {
  install -d -m 0755 /etc/proftpd /var/log/proftpd
  setting_file server-conf
}

server_units() { echo nlb-ftp-namespace.service nlb-ftp-refuse-per-address.service nlb-ftp-refuse-full.service proftpd.service; }

# A config ProFTPD refuses fails the boot here, before anything is started.
server_check() { /usr/sbin/proftpd --configtest -c /etc/proftpd/proftpd.conf; }
