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
  log "4/7 ProFTPD's upload module (mod_nlbftp_uploads): built against the installed ProFTPD, then ${BUILD_PACKAGES:?} purged"
  # A cut-off FTP or FTPS upload is never renamed into place (see the module's header). Built here,
  # against this ProFTPD's own headers, so it always matches the ProFTPD that loads it; the compiler
  # and headers go right after, so none stays on a backend. A failed build fails the boot.
  gcc -shared -fPIC -O2 -Wall -I/usr/include/proftpd -o /usr/lib/proftpd/mod_nlbftp_uploads.so \
    "$NLBFTP_LIB/mod_nlbftp_uploads.c" -lssl
  # What purging them would remove (they, and what only they needed), less anything the image
  # already had: a package of the image is never removed here. A package another one merely
  # suggests goes too (binutils, which python3.13 suggests, is an assembler and a linker).
  local purge
  # shellcheck disable=SC2086 # a list of package names
  purge=$(apt-get -s -o APT::AutoRemove::SuggestsImportant=false -o APT::AutoRemove::RecommendsImportant=false \
    purge --auto-remove $BUILD_PACKAGES | awk '/^Purg /{print $2}' | sed 's/:.*//' | sort -u |
    comm -23 - /var/lib/nlb-ftp/packages-before)
  # shellcheck disable=SC2086
  apt-get purge -y -q $purge >/dev/null
  hash -r # the shell remembers where gcc was
  if command -v gcc cc as ld >/dev/null; then log "a compiler, assembler or linker is still installed after the purge"; exit 1; fi
  install -d -m 0755 /etc/proftpd /var/log/proftpd
  setting_file server-conf
}

server_units() { echo nlb-ftp-namespace.service nlb-ftp-refuse-per-address.service nlb-ftp-refuse-full.service proftpd.service; }

# A config ProFTPD refuses fails the boot here, before anything is started.
server_check() { /usr/sbin/proftpd --configtest -c /etc/proftpd/proftpd.conf; }
