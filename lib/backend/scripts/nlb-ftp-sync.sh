#!/bin/bash
# nlb-ftp: apply the FTP users, the health-check account, (with SFTP) the host keys and (with FTPS)
# the certificate from Secrets Manager. Run by the boot and every 5 minutes by nlb-ftp-sync.timer. Never prints a secret.
# A certificate that is not valid PEM, or whose key does not match, is refused and the files in
# use stay as they are. Settings: NLBFTP_SETTINGS_ENV (default /etc/nlb-ftp/settings.env).
set -euo pipefail
# shellcheck source=/dev/null
. "${NLBFTP_SETTINGS_ENV:-/etc/nlb-ftp/settings.env}"
: "${REGION:?} ${USERS_SECRET_ARN:?} ${HEALTH_SECRET_ARN:?} ${SERVER:?} ${FTP_ROOT:?} ${ALLOW_FILE:?}"
# What the users script reads from its environment (the reserved names are a file of the scripts).
export FTP_ROOT ALLOW_FILE
NLBFTP_LIB=${NLBFTP_LIB:-/usr/local/lib/nlb-ftp}
: "${URL_SUFFIX:?}"
# imds, signed_curl and get_secret: AWS calls by curl, cheap enough to run every 5 minutes.
# shellcheck source=aws-curl.sh
. "$NLBFTP_LIB/aws-curl.sh"

# The role's credentials once for the three reads; each secret is read whole before anything is
# applied, so a failed read changes nothing.
ROLE_CONFIG=$(role_config) || { echo "nlb-ftp sync: cannot read the instance role's credentials from IMDS" >&2; exit 1; }
users=$(get_secret "$USERS_SECRET_ARN")
health=$(get_secret "$HEALTH_SECRET_ARN")
{
  # Reserved names (root, system accounts, the health-check account) are never FTP users.
  printf '%s' "$users" | python3 "$NLBFTP_LIB/nlb-ftp-secrets.py" --api users
  printf '%s' "$health" | python3 "$NLBFTP_LIB/nlb-ftp-secrets.py" --api health
} | "${APPLY_USERS:-/usr/local/sbin/nlb-ftp-apply-users}"

umask 077
new=$(mktemp -d)
trap 'rm -rf "$new"' EXIT

# The SFTP host keys: the same on every backend, so clients see one host. Written only when they
# changed; keys that openssl cannot read are refused and the files in use stay.
if [ -n "${HOST_KEYS_SECRET_ARN:-}" ]; then
  # Where the server reads them: its config's SFTPHostKey lines, ECDSA's first (the renderer's order).
  mapfile -t key_files < <(awk '$1 == "SFTPHostKey" {print $2}' "${SERVER_CONF:-/etc/proftpd/proftpd.conf}")
  [ "${#key_files[@]}" -eq 2 ] || { echo "nlb-ftp sync: the server config names ${#key_files[@]} SFTP host keys, not 2" >&2; exit 1; }
  get_secret "$HOST_KEYS_SECRET_ARN" | python3 "$NLBFTP_LIB/nlb-ftp-secrets.py" --api host-keys "$new/ecdsa" "$new/rsa"
  if ! cmp -s "$new/ecdsa" "${key_files[0]}" || ! cmp -s "$new/rsa" "${key_files[1]}"; then
    if ! openssl pkey -in "$new/ecdsa" -noout 2>/dev/null || ! openssl pkey -in "$new/rsa" -noout 2>/dev/null; then
      echo "nlb-ftp sync: the SFTP host keys secret does not hold two unencrypted PEM keys; keeping the current keys" >&2
      exit 1
    fi
    install -m 0600 -o root -g root "$new/ecdsa" "${key_files[0]}"
    install -m 0600 -o root -g root "$new/rsa" "${key_files[1]}"
    echo "nlb-ftp sync: SFTP host keys installed"
    # As for the certificate below: only the listener restarts; no-op before the first start.
    systemctl try-restart "${SERVER}.service"
  fi
fi

[ -n "${CERTIFICATE_SECRET_ARN:-}" ] || exit 0
# The FTPS certificate: one for every backend. Written only when it changed.
: "${CERT_FILE:?} ${KEY_FILE:?}"
get_secret "$CERTIFICATE_SECRET_ARN" | python3 "$NLBFTP_LIB/nlb-ftp-secrets.py" --api certificate "$new/crt" "$new/key"
# As installed (checked when it was installed): nothing to do, and no openssl run every 5 minutes.
if cmp -s "$new/crt" "$CERT_FILE" && cmp -s "$new/key" "$KEY_FILE"; then exit 0; fi
if ! openssl x509 -in "$new/crt" -noout 2>/dev/null || ! openssl pkey -in "$new/key" -noout 2>/dev/null; then
  echo "nlb-ftp sync: the certificate secret does not hold a PEM certificate and unencrypted key; keeping the current files" >&2
  exit 1
fi
if [[ "$(openssl x509 -in "$new/crt" -noout -pubkey)" != "$(openssl pkey -in "$new/key" -pubout)" ]]; then
  echo "nlb-ftp sync: the certificate and the private key in the secret do not belong together; keeping the current files" >&2
  exit 1
fi
install -m 0600 -o root -g root "$new/key" "$KEY_FILE"
install -m 0644 -o root -g root "$new/crt" "$CERT_FILE"
echo "nlb-ftp sync: FTPS certificate installed: $(openssl x509 -in "$CERT_FILE" -noout -fingerprint -sha256)"
# The server reads the certificate when it starts. KillMode=process restarts only the listener:
# sessions in progress keep their connections. No-op at boot, before the server first starts.
systemctl try-restart "${SERVER}.service"
