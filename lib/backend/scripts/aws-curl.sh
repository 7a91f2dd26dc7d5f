# shellcheck shell=bash
# nlb-ftp: AWS calls by curl alone, for what runs every few minutes (the users sync): with the AWS
# CLI its three reads cost a sync about 2.7 s of CPU (measured in the sandbox, bench/RESULTS.md 8).
# Instance metadata over IMDSv2, and SigV4 signed by curl itself with the instance role's
# credentials, which reach curl on stdin, never on a command line. bootstrap.sh carries imds,
# role_config and signed_curl inline, as it runs before this file is on the instance;
# test/unit/boot-scripts.test.ts keeps the two copies equal.
# AWS_ENDPOINT_URL is honoured as the AWS CLI honours it (the sandbox's endpoint), and so is
# AWS_EC2_METADATA_SERVICE_ENDPOINT (tests); on EC2 both are unset.

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

# Secrets Manager's GetSecretValue response (JSON with SecretString) for `get_secret ARN`; on
# failure, one line on stderr with AWS's error code and message (an error never holds the secret).
get_secret() {
  local out
  if out=$(signed_curl secretsmanager --fail-with-body -H 'X-Amz-Target: secretsmanager.GetSecretValue' \
    -H 'Content-Type: application/x-amz-json-1.1' --data "{\"SecretId\":\"$1\"}" \
    "${AWS_ENDPOINT_URL:-https://secretsmanager.${REGION}.${URL_SUFFIX}}/"); then
    printf '%s' "$out"
  else
    echo "GetSecretValue of $1 failed: ${out//$'\n'/ }" >&2
    return 1
  fi
}
