# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# nlb-ftp backend boot, second stage: turns a Debian 13 instance into a backend of either server.
# Sourced by bootstrap.sh (the user data), which has loaded the settings (settings.env), defined
# log, imds, signed_curl and report, and set the trap that reports ABANDON on any failure.
# The steps: 1 sysctls (ProFTPD: also its own network namespace), 2 packages, 3 EFS over TLS,
# 4 the server's config and the audit trail, 5 users and certificate, 6 start, 7 a local login,
# then CONTINUE. Any failure stops here (set -e) before the server starts, so the backend never
# passes the NLB's port-21 check or the checker's login.
: "${SERVER:?} ${SERVER_LABEL:?} ${PACKAGES:?} ${FTP_ROOT:?} ${FILE_SYSTEM_ID:?} ${PASV_MIN:?} ${PASV_MAX:?} ${PASV_ADDRESS:?}"
: "${APT_ATTEMPTS:?} ${APT_RETRY_SECONDS:?} ${FSTAB_LINE:?} ${READINESS_HOST:?} ${STACK_NAME:?}"
export DEBIAN_FRONTEND=noninteractive

# get_secret (and the same imds and signed_curl as bootstrap.sh): AWS calls by curl; no AWS CLI.
# shellcheck source=aws-curl.sh
. "$NLBFTP_LIB/aws-curl.sh"

# Write one of the settings' files (server config, sysctls, ...) to its place.
setting_file() { python3 "$NLBFTP_LIB/nlb-ftp-settings.py" write "$@"; }

# The server-specific steps: server_network, server_configure, server_units, server_check.
# shellcheck source=server-vsftpd.sh
. "$NLBFTP_LIB/server-${SERVER}.sh"

log "1/7 TCP keepalive below the NLB idle timeout; passive ports ${PASV_MIN}-${PASV_MAX} reserved"
install -d -m 0755 /etc/nlb-ftp
setting_file host-sysctl
sysctl -q -p /etc/sysctl.d/90-nlb-ftp.conf
server_network

log "2/7 packages: ${PACKAGES} from Debian's archive; AWS's agents"
# A package would start the server with Debian's sample config: keep every service stopped until ours is written.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
# What the image had: a build's packages are purged later, and only ones this boot added (server-proftpd.sh).
dpkg-query -W -f '${binary:Package}\n' | sed 's/:.*//' | sort -u >/var/lib/nlb-ftp/packages-before
for attempt in $(seq 1 "$APT_ATTEMPTS"); do
  # shellcheck disable=SC2086 # PACKAGES is a list of package names
  if apt-get update -q && apt-get install -y -q --no-install-recommends $PACKAGES; then break; fi
  log "apt attempt $attempt of ${APT_ATTEMPTS} failed; retrying in ${APT_RETRY_SECONDS} s"
  sleep "$APT_RETRY_SECONDS"
done
# shellcheck disable=SC2086
dpkg -s $PACKAGES >/dev/null
rm -f /usr/sbin/policy-rc.d
systemctl disable --now "${SERVER}.service" || true
arch=$(dpkg --print-architecture)
# AWS's own packages, from AWS's public regional buckets: anonymous GETs, as they are public
# (path-style through the sandbox's endpoint, virtual-hosted on AWS).
for object in ${AGENT_DEBS:-}; do
  object=${object//\$arch/$arch}
  deb="/var/lib/nlb-ftp/${object##*/}"
  bucket=${object%%/*}
  url=${AWS_ENDPOINT_URL:+${AWS_ENDPOINT_URL}/${object}}
  curl -sS --fail --retry 3 --max-time 300 -o "$deb" "${url:-https://${bucket}.s3.${REGION}.${URL_SUFFIX}/${object#*/}}"
  dpkg -i "$deb"
done
systemctl enable --now amazon-ssm-agent.service

log "3/7 shared storage (EFS ${FILE_SYSTEM_ID}, NFS over TLS through stunnel)"
# Debian has no amazon-efs-utils: stunnel carries NFS over TLS to the mount target as efs-utils does.
setting_file stunnel
install -m 0644 "$NLBFTP_LIB/units/nlb-ftp-efs-tls.service" /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now nlb-ftp-efs-tls.service
mkdir -p "$FTP_ROOT"
# _netdev: wait for the network at boot; nofail: a slow EFS must not hang boot (the server waits instead).
grep -qxF "$FSTAB_LINE" /etc/fstab || echo "$FSTAB_LINE" >>/etc/fstab
for attempt in $(seq 1 30); do
  if mountpoint -q "$FTP_ROOT"; then break; fi
  mount "$FTP_ROOT" || { log "EFS mount attempt $attempt failed; retrying in 10 s"; sleep 10; }
done
mountpoint -q "$FTP_ROOT"

log "4/7 ${SERVER_LABEL} configuration"
server_configure
setting_file pam
# The server's unit: wait for the shared file system and the audit converter, restart on failure,
# and restart only the listener (sessions in progress finish their transfers).
install -d -m 0755 "/etc/systemd/system/${SERVER}.service.d"
install -m 0644 "$NLBFTP_LIB/units/${SERVER}.service.d/nlb-ftp.conf" "/etc/systemd/system/${SERVER}.service.d/"

log "4/7 audit trail: every login and transfer as a JSON event${LOG_GROUP:+, shipped to $LOG_GROUP}"
# The audit event writer that nlb-ftp-audit, nlb-ftp-apply-users and nlb-ftp-bans import, beside them.
install -m 0644 "$NLBFTP_LIB/nlb_ftp_event.py" /usr/local/sbin/nlb_ftp_event.py
install -m 0755 "$NLBFTP_LIB/nlb-ftp-audit.py" /usr/local/sbin/nlb-ftp-audit
install -d -m 0750 /var/log/nlb-ftp
printf 'SERVER=%s\nSTACK=%s\nSLOT=%s\nINSTANCE=%s\n' "$SERVER" "$STACK_NAME" "$SLOT" "$(imds instance-id)" >/etc/nlb-ftp/audit.env
install -m 0644 "$NLBFTP_LIB/units/nlb-ftp-audit.service" /etc/systemd/system/
install -m 0644 "$NLBFTP_LIB/units/nlb-ftp-audit.logrotate" /etc/logrotate.d/nlb-ftp-audit
systemctl daemon-reload
systemctl enable --now nlb-ftp-audit.service
if [ -n "${LOG_GROUP:-}" ]; then
  setting_file cloudwatch-agent
  /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
    -c file:/opt/aws/amazon-cloudwatch-agent/etc/nlb-ftp.json
fi

log "5/7 FTP users${HOST_KEYS_SECRET_ARN:+, the SFTP host keys}${CERTIFICATE_SECRET_ARN:+ and the FTPS certificate} from Secrets Manager"
install -m 0700 "$NLBFTP_LIB/nlb-ftp-apply-users.py" /usr/local/sbin/nlb-ftp-apply-users
install -m 0700 "$NLBFTP_LIB/nlb-ftp-sync.sh" /usr/local/sbin/nlb-ftp-sync
install -m 0644 "$NLBFTP_LIB/units/nlb-ftp-sync.service" "$NLBFTP_LIB/units/nlb-ftp-sync.timer" /etc/systemd/system/
/usr/local/sbin/nlb-ftp-sync

log "6/7 start ${SERVER_LABEL}${BAN_TABLE:+; bans of addresses that keep failing to log in, from ${BAN_TABLE}}"
server_check
if [ -n "${BAN_TABLE:-}" ]; then
  install -m 0700 "$NLBFTP_LIB/nlb-ftp-bans.py" /usr/local/sbin/nlb-ftp-bans
  install -m 0644 "$NLBFTP_LIB/units/nlb-ftp-bans.service" /etc/systemd/system/
fi
systemctl daemon-reload
# shellcheck disable=SC2046 # one unit name per word
systemctl enable --now $(server_units) nlb-ftp-sync.timer ${BAN_TABLE:+nlb-ftp-bans.service}

if [ -n "${READY_GROUP:-}" ]; then
  log "7/7 readiness: a local FTP${CERTIFICATE_SECRET_ARN:+S} login on ${READINESS_HOST} as the health-check account"
  get_secret "$HEALTH_SECRET_ARN" | python3 "$NLBFTP_LIB/nlb-ftp-readiness.py" --host "$READINESS_HOST" ${CERTIFICATE_SECRET_ARN:+--ftps}
  report CONTINUE
fi
log "ready: passive ports ${PASV_MIN}-${PASV_MAX}, passive address ${PASV_ADDRESS}"
