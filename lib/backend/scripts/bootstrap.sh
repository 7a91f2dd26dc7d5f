#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# nlb-ftp backend boot, first stage. EC2 user data is this file, byte for byte, except for the one
# line between the NLBFTP_SETTINGS markers below: the slot's settings, rendered by
# lib/backend/user-data.ts (data only, no program). It fetches the boot scripts (a CDK asset: this
# folder, zipped), checks every file against the settings' digest, and runs boot.sh from them.
#
# Any failure, here or in boot.sh, reports ABANDON to the slot's lifecycle hook, so the Auto
# Scaling group replaces the instance instead of leaving a half-configured one out of service.
# Secrets pass through this shell: never enable xtrace here.
set -euo pipefail
install -d -m 0755 /etc/nlb-ftp
cat >/etc/nlb-ftp/settings.json <<'NLBFTP_SETTINGS'
{}
NLBFTP_SETTINGS
exec > >(tee -a /var/log/nlb-ftp-boot.log) 2>&1
umask 022

readonly SETTINGS_JSON=/etc/nlb-ftp/settings.json
readonly SETTINGS_ENV=/etc/nlb-ftp/settings.env
readonly NLBFTP_LIB=/usr/local/lib/nlb-ftp

# The settings' scalar values as shell assignments, each quoted (values are ARNs, IDs, addresses
# and names; never a secret).
python3 -c 'import json, re, shlex, sys
for key, value in json.load(open(sys.argv[1]))["env"].items():
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
        sys.exit("nlb-ftp boot: bad setting name %r" % key)
    print("%s=%s" % (key, shlex.quote(str(value))))' "$SETTINGS_JSON" >"$SETTINGS_ENV"
# shellcheck source=/dev/null
. "$SETTINGS_ENV"
: "${SLOT:?} ${REGION:?} ${URL_SUFFIX:?} ${BUNDLE_BUCKET:?} ${BUNDLE_KEY:?} ${BUNDLE_DIGEST:?}"

log() { echo "nlb-ftp slot ${SLOT} boot (+${SECONDS}s): $*"; }

# AWS calls by curl, as aws-curl.sh makes them (the same functions, kept equal by a test: this
# stage runs before that file is on the instance). The boot fetches its scripts and reports at any
# step with them. AWS_ENDPOINT_URL is honoured as the AWS CLI honours it (the sandbox's endpoint).
# Instance metadata over IMDSv2: `imds instance-id`.
imds() {
  local token base=${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}
  token=$(curl -sS --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$base/latest/api/token") &&
    curl -sS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$base/latest/meta-data/$1"
}

# The curl config lines that carry the instance role's temporary credentials, from IMDS.
role_config() {
  local role creds
  role=$(imds iam/security-credentials/) && creds=$(imds "iam/security-credentials/$role") || return 1
  printf '%s' "$creds" | python3 -c 'import json, sys
c = json.load(sys.stdin)
print("user = \"%s:%s\"" % (c["AccessKeyId"], c["SecretAccessKey"]))
print("header = \"X-Amz-Security-Token: %s\"" % c["Token"])'
}

# An AWS API call signed by curl (SigV4) as the instance role: `signed_curl SERVICE CURL-ARGS...`.
# A script that makes several sets ROLE_CONFIG=$(role_config) once instead of asking IMDS each time.
signed_curl() {
  local service=$1 config=${ROLE_CONFIG:-}
  shift
  [ -n "$config" ] || config=$(role_config) || return 1
  printf '%s\n' "$config" | curl -sS --max-time 60 -K - --aws-sigv4 "aws:amz:${REGION}:${service}" "$@"
}

# Report to the slot's lifecycle hook: CONTINUE puts the instance into its target groups, ABANDON
# makes the group replace it. Should the report fail, the hook's timeout (default ABANDON) acts.
report() {
  local iid
  [ -n "${READY_GROUP:-}" ] || return 0
  iid=$(imds instance-id) || { log "cannot read the instance ID; the lifecycle hook will time out instead"; return 0; }
  signed_curl autoscaling --fail \
    --data-urlencode Action=CompleteLifecycleAction --data-urlencode Version=2011-01-01 \
    --data-urlencode "AutoScalingGroupName=${READY_GROUP}" --data-urlencode "LifecycleHookName=${READY_HOOK}" \
    --data-urlencode "InstanceId=$iid" --data-urlencode "LifecycleActionResult=$1" \
    "${AWS_ENDPOINT_URL:-https://autoscaling.${REGION}.${URL_SUFFIX}}/" >/dev/null ||
    log "could not report $1; the lifecycle hook will time out instead"
}

on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    log "FAILED (exit $rc): reporting ABANDON so that Auto Scaling replaces this instance"
    report ABANDON
  fi
}
trap on_exit EXIT

log "0/7 boot scripts: s3://${BUNDLE_BUCKET}/${BUNDLE_KEY}, every file checked"
install -d -m 0700 /var/lib/nlb-ftp
bundle=/var/lib/nlb-ftp/boot-scripts.zip
# Path-style through the sandbox's endpoint; virtual-hosted on AWS. The payload is not signed (a GET).
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  url="${AWS_ENDPOINT_URL}/${BUNDLE_BUCKET}/${BUNDLE_KEY}"
else
  url="https://${BUNDLE_BUCKET}.s3.${REGION}.${URL_SUFFIX}/${BUNDLE_KEY}"
fi
for attempt in 1 2 3 4 5; do
  if signed_curl s3 --fail -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -o "$bundle" "$url"; then break; fi
  [ "$attempt" -lt 5 ] || { log "cannot fetch the boot scripts"; exit 1; }
  log "fetching the boot scripts failed (attempt $attempt of 5); retrying in 5 s"
  sleep 5
done
staging=$(mktemp -d)
python3 -m zipfile -e "$bundle" "$staging"
# Every file's SHA-256, sorted by name (sha256sum's lines): its digest must be the settings' one,
# so no file is changed, missing or added (lib/backend/user-data.ts, bootScriptsDigest).
manifest=$(cd "$staging" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum)
digest=$(printf '%s\n' "$manifest" | sha256sum)
if [ "${digest%% *}" != "$BUNDLE_DIGEST" ]; then
  log "the boot scripts do not match the settings (digest ${digest%% *}, expected ${BUNDLE_DIGEST}); they hold:"
  printf '%s\n' "$manifest"
  exit 1
fi
rm -rf "$NLBFTP_LIB"
chmod -R u=rwX,go=rX "$staging"
mv "$staging" "$NLBFTP_LIB"

# shellcheck source=boot.sh
. "$NLBFTP_LIB/boot.sh"
