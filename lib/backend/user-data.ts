/**
 * Shell scripts that turn a Debian 13 instance into an nlb-ftp backend (either server). Pure; no
 * aws-cdk-lib import. Inputs may be CloudFormation tokens (the stack passes them); the strings
 * are only ever placed in quoted heredocs or quoted words, never evaluated by the shell.
 *
 * Passwords never pass through the template or these scripts: the instance reads them from
 * Secrets Manager at boot and pipes them straight into chpasswd. The scripts never use `set -x`.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { AUDIT_FIFO, AUDIT_LOG_FILE } from '../shared/audit';
import { CONTROL_PORT } from '../shared/contract';
import { RESERVED_USER_NAMES, RESERVED_USER_PREFIXES } from '../shared/users';
import { EC2_PROFTPD_PATHS, renderProftpdConf } from './proftpd-conf';
import { EC2_VSFTPD_PATHS, renderOpenSslConf, renderPamService, renderVsftpdConf, type VsftpdSlotSettings } from './vsftpd-conf';

export type FtpServerName = 'vsftpd' | 'proftpd';

/** EC2: user data is limited to 16 KB in raw form (before base64). */
export const USER_DATA_MAX_BYTES = 16_384;

/** Where the packed user data leaves the boot script it ran, readable, on the instance. */
export const BOOT_SCRIPT_FILE = '/var/lib/nlb-ftp/boot.sh';

const placeholder = (i: number) => `@@NLBFTP_VALUE_${i}@@`;

/**
 * The user data for a boot script: the script gzip-compressed and base64-encoded (a third of its
 * size), with each value only known at deploy time (`values`: CloudFormation tokens as they appear
 * in `script`) taken out and set in plain text in front, where CloudFormation fills it in. At boot
 * the values go back in, the script is saved at BOOT_SCRIPT_FILE and runs. Values are ARNs, IDs,
 * addresses and names: none holds a quote or a secret.
 */
export function packBootScript(script: string, values: readonly string[]): string {
  const distinct = [...new Set(values)];
  let body = script;
  distinct.forEach((v, i) => {
    body = body.split(v).join(placeholder(i));
  });
  const b64 = zlib
    .gzipSync(Buffer.from(body, 'utf8'), { level: 9 })
    .toString('base64')
    .replace(/.{1,76}/g, '$&\n');
  const header = /^#!\/bin\/bash\n(# .*\n)+/.exec(script)?.[0].replace(/^#!\/bin\/bash\n/, '') ?? '';
  return `#!/bin/bash
${header}# Packed by nlb-ftp: EC2 user data holds 16 KB, so the boot script is gzip+base64 below and the
# values CloudFormation fills in are set here. It is saved readable at ${BOOT_SCRIPT_FILE} and run.
set -euo pipefail
${distinct.map((v, i) => `v${i}='${v}'`).join('\n')}
boot=$(base64 -d <<'NLBFTP_EOF' | gunzip
${b64}NLBFTP_EOF
)
${distinct.map((_, i) => `boot=\${boot//${placeholder(i)}/"$v${i}"}`).join('\n')}
install -d -m 0700 ${path.posix.dirname(BOOT_SCRIPT_FILE)}
printf '%s\n' "$boot" >${BOOT_SCRIPT_FILE}
chmod 0700 ${BOOT_SCRIPT_FILE}
exec /bin/bash ${BOOT_SCRIPT_FILE}
`;
}

/**
 * The boot script that packed user data runs, given the user data as text (its values filled in
 * with whatever stands for them: real values, or `${Ref:X}` from harness/template's flatten).
 * User data that is not packed is returned as it is.
 */
export function unpackBootScript(userData: string): string {
  const m = /^boot=\$\(base64 -d <<'NLBFTP_EOF' \| gunzip\n([A-Za-z0-9+/=\n]*?)NLBFTP_EOF\n\)$/m.exec(userData);
  if (!m) return userData;
  let script = zlib.gunzipSync(Buffer.from(m[1].replace(/\n/g, ''), 'base64')).toString('utf8');
  for (const v of userData.matchAll(/^v(\d+)='([^'\n]*)'$/gm)) script = script.split(placeholder(Number(v[1]))).join(v[2]);
  return script;
}

/** Where the boot script writes vsftpd's OpenSSL settings (with FTPS); the unit points OPENSSL_CONF at it. */
export const OPENSSL_CONF_FILE = '/etc/vsftpd/openssl.cnf';

export const FTP_ROOT = '/srv/ftp';
/** The PAM allow-list of FTP users: in nlb-ftp's own directory, which the users script creates. */
export const ALLOW_FILE = '/etc/nlb-ftp/ftp-users';

export interface ApplyUsersPaths {
  /** Shared root (EFS on EC2); each user gets users/NAME (jail) and users/NAME/files (writable). */
  readonly ftpRoot: string;
  /** The PAM allow-list written for the users applied. */
  readonly allowFile: string;
}

/**
 * A script that reads `user<TAB>password` lines on stdin and makes each one an FTP user:
 * a local account with a stable UID (so files on the shared storage keep their owner on every
 * backend), a root-owned jail and a writable files/ directory. Users not on stdin lose FTP access
 * because they drop out of the allow-list. Reused by the local sandbox.
 */
export function renderApplyUsersScript(p: ApplyUsersPaths): string {
  return `#!/bin/bash
# nlb-ftp: apply FTP users read as "user<TAB>password" lines on stdin. Never prints a password.
set -euo pipefail
umask 077
FTP_ROOT='${p.ftpRoot}'
ALLOW_FILE='${p.allowFile}'
allow=$(mktemp)
trap 'rm -f "$allow"' EXIT
count=0
while IFS=$'\\t' read -r user pass; do
  if [[ ! "$user" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]]; then
    echo "nlb-ftp users: skipping an entry whose name is not a valid Linux user name" >&2
    continue
  fi
  if [[ -z "$pass" || "$pass" == *:* ]]; then
    echo "nlb-ftp users: skipping $user: its password is empty or contains ':'" >&2
    continue
  fi
  # Same name -> same UID on every backend, because the shared file system stores numeric owners.
  sum=$(printf '%s' "$user" | cksum)
  uid=$((20000 + \${sum%% *} % 40000))
  # An account of that name that this script did not make (root, ec2-user, any system account
  # or one added to the image later) is never given a password or FTP access.
  if existing=$(id -u "$user" 2>/dev/null) && [[ "$existing" != "$uid" ]]; then
    echo "nlb-ftp users: ERROR: skipping $user: an account of that name already exists (UID $existing) that nlb-ftp did not create" >&2
    continue
  fi
  # A group of that name that is not the user's own (users, wheel, video...): groupadd would fail
  # and stop the whole sync, so skip the one name instead.
  if gid=$(getent group "$user" | cut -d: -f3) && [[ -n "$gid" && "$gid" != "$uid" ]]; then
    echo "nlb-ftp users: ERROR: skipping $user: a group of that name already exists (GID $gid); rename the user" >&2
    continue
  fi
  if ! id -u "$user" >/dev/null 2>&1; then
    if getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; then
      echo "nlb-ftp users: skipping $user: its UID $uid is taken by another account; rename the user" >&2
      continue
    fi
    groupadd -g "$uid" "$user"
    useradd -u "$uid" -g "$uid" -M -d "$FTP_ROOT/users/$user/./files" -s /usr/sbin/nologin "$user"
  fi
  install -d -o root -g root -m 0755 "$FTP_ROOT/users"
  install -d -o root -g root -m 0755 "$FTP_ROOT/users/$user"
  install -d -o "$user" -g "$user" -m 0750 "$FTP_ROOT/users/$user/files"
  printf '%s:%s\\n' "$user" "$pass" | chpasswd
  printf '%s\\n' "$user" >>"$allow"
  count=$((count + 1))
done
install -D -m 0644 "$allow" "$ALLOW_FILE"
echo "nlb-ftp users: $count FTP user(s) applied"
`;
}

export interface BootScriptParams {
  /** The slot's FTP server settings (either server: the renderers share them). */
  readonly ftp: VsftpdSlotSettings;
  readonly region: string;
  readonly fileSystemId: string;
  readonly usersSecretArn: string;
  readonly healthSecretArn: string;
  /** The FTPS certificate secret ({certificate, privateKey, ca?}); required unless FTPS is off. */
  readonly certificateSecretArn?: string;
  /** net.ipv4.tcp_keepalive_time: below the NLB idle timeout (vsftpd sets SO_KEEPALIVE). */
  readonly keepaliveSeconds: number;
  /**
   * The slot's Auto Scaling group and its launch lifecycle hook: the script reports CONTINUE after
   * a local FTP (FTPS) login, ABANDON on any failure. Unset: no report (the script still fails loudly).
   */
  readonly readiness?: { readonly groupName: string; readonly hookName: string };
  /**
   * Ship the audit events (lib/shared/audit.ts) to this log group with the CloudWatch agent; the
   * events name `stackName`. Unset: the converter still writes them to the instance's own file.
   */
  readonly audit?: { readonly logGroupName: string; readonly stackName: string };
  /**
   * Where the boot fetches the audit converter (lib/backend/scripts/nlb-ftp-audit.py, a CDK file
   * asset: user data has no room for it) and the SHA-256 it must have.
   */
  readonly auditScript: { readonly bucket: string; readonly key: string; readonly sha256: string };
}

/** Both boot scripts, right after `log()`: read instance metadata over IMDSv2 (`imds instance-id`). */
const IMDS_FUNCTION = `imds() {
  local token
  token=$(curl -sS --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token) &&
    curl -sS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
`;

/**
 * Right after `imds()`: how the script reports to its Auto Scaling group, and the trap that reports
 * ABANDON when any step fails (set -e), so the group replaces the instance instead of leaving a
 * half-configured one out of service. The report is curl's own SigV4 with the role's credentials
 * from IMDS (curl and python3 are on Debian's image), so it works before the AWS CLI is installed
 * (a failed package install reports ABANDON too). It honours AWS_ENDPOINT_URL as the CLI does (the
 * sandbox's endpoint); on EC2 it is unset. Should it still fail, the hook's timeout, whose default
 * result is ABANDON, does the same.
 */
function readinessPrelude(p: BootScriptParams): string {
  const r = p.readiness;
  if (!r) return '';
  return `report() {
  local iid role creds
  iid=$(imds instance-id) || { log "cannot read the instance ID; the lifecycle hook will time out instead"; return 0; }
  if ! role=$(imds iam/security-credentials/) || ! creds=$(imds "iam/security-credentials/$role"); then
    log "cannot read the role's credentials; the lifecycle hook will time out instead"
    return 0
  fi
  # curl signs the call itself (SigV4), so a boot reports at any step, before the AWS CLI is
  # installed too. The credentials reach curl on stdin, never on a command line.
  printf '%s' "$creds" | python3 -c 'import json, sys
c = json.load(sys.stdin)
print("user = \\"%s:%s\\"" % (c["AccessKeyId"], c["SecretAccessKey"]))
print("header = \\"X-Amz-Security-Token: %s\\"" % c["Token"])' |
    curl -sS --fail --max-time 10 -K - --aws-sigv4 'aws:amz:${p.region}:autoscaling' \\
      --data-urlencode Action=CompleteLifecycleAction --data-urlencode Version=2011-01-01 \\
      --data-urlencode 'AutoScalingGroupName=${r.groupName}' --data-urlencode 'LifecycleHookName=${r.hookName}' \\
      --data-urlencode "InstanceId=$iid" --data-urlencode "LifecycleActionResult=$1" \\
      "\${AWS_ENDPOINT_URL:-https://autoscaling.${p.region}.amazonaws.com}/" >/dev/null ||
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
`;
}

/**
 * The last step: log in over FTP (FTPS when enabled) on 127.0.0.1 as the health-check account,
 * as the checker will, retrying while the server starts; only then report CONTINUE, which puts the
 * instance into its target groups. Python's ftplib: no password in any command line. The local
 * check does not verify the certificate (it names the NLB, not 127.0.0.1); clients and the checker do.
 */
function readinessStep(p: BootScriptParams, ftpsOn: boolean, host = '127.0.0.1'): string {
  if (!p.readiness) return '';
  return `log "7/7 readiness: a local FTP${ftpsOn ? 'S' : ''} login on ${host} as the health-check account"
python3 - <<'NLBFTP_EOF'
import ftplib, json, ssl, subprocess, sys, time
out = subprocess.run(
    ["aws", "secretsmanager", "get-secret-value", "--region", "${p.region}", "--secret-id", "${p.healthSecretArn}",
     "--query", "SecretString", "--output", "text"],
    check=True, capture_output=True, text=True).stdout
account = json.loads(out)
ATTEMPTS = 30  # 2 s apart, while the server starts
last = "no attempt"
for attempt in range(1, ATTEMPTS + 1):
    try:
${
  ftpsOn
    ? `        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        ftp = ftplib.FTP_TLS(context=context, timeout=10)
        ftp.connect("${host}", 21)
        ftp.auth()
        ftp.login(account["username"], account["password"])
        ftp.prot_p()`
    : `        ftp = ftplib.FTP(timeout=10)
        ftp.connect("${host}", 21)
        ftp.login(account["username"], account["password"])`
}
        ftp.pwd()
        ftp.quit()
        print("nlb-ftp readiness: logged in on attempt %d" % attempt)
        sys.exit(0)
    except Exception as err:  # the server's reply or the socket error; never the password
        last = "%s: %s" % (type(err).__name__, err)
        time.sleep(2)
print("nlb-ftp readiness: no login after %d attempts: %s" % (ATTEMPTS, last), file=sys.stderr)
sys.exit(1)
NLBFTP_EOF
report CONTINUE
`;
}

function ftpsEnabled(p: BootScriptParams): boolean {
  const on = p.ftp.ftps !== undefined && p.ftp.ftps.mode !== 'off';
  if (on && !p.certificateSecretArn) throw new Error('FTPS needs certificateSecretArn');
  return on;
}

/**
 * Reads the FTP users, the health-check account and (with FTPS) the certificate from Secrets
 * Manager and applies them; runs at boot and every 5 minutes. A certificate that is not valid
 * PEM, or whose key does not match, is refused and the files in use stay as they are.
 */
export function renderSyncScript(p: BootScriptParams, server: FtpServerName = 'vsftpd'): string {
  const certFile = server === 'proftpd' ? EC2_PROFTPD_PATHS.certFile : EC2_VSFTPD_PATHS.certFile;
  const keyFile = server === 'proftpd' ? EC2_PROFTPD_PATHS.keyFile : EC2_VSFTPD_PATHS.keyFile;
  const ftpsOn = ftpsEnabled(p);
  const certificate = ftpsOn
    ? `
# The FTPS certificate: one for every backend. Written only when it changed.
umask 077
new=$(mktemp -d)
trap 'rm -rf "$new"' EXIT
fetch '${p.certificateSecretArn}' | python3 -c 'import json, sys
d = json.load(sys.stdin)
open(sys.argv[1], "w").write(d["certificate"].strip() + "\\n")
open(sys.argv[2], "w").write(d["privateKey"].strip() + "\\n")' "$new/crt" "$new/key"
if ! openssl x509 -in "$new/crt" -noout 2>/dev/null || ! openssl pkey -in "$new/key" -noout 2>/dev/null; then
  echo "nlb-ftp sync: the certificate secret does not hold a PEM certificate and unencrypted key; keeping the current files" >&2
  exit 1
fi
if [[ "$(openssl x509 -in "$new/crt" -noout -pubkey)" != "$(openssl pkey -in "$new/key" -pubout)" ]]; then
  echo "nlb-ftp sync: the certificate and the private key in the secret do not belong together; keeping the current files" >&2
  exit 1
fi
if ! cmp -s "$new/crt" '${certFile}' || ! cmp -s "$new/key" '${keyFile}'; then
  install -m 0600 -o root -g root "$new/key" '${keyFile}'
  install -m 0644 -o root -g root "$new/crt" '${certFile}'
  echo "nlb-ftp sync: FTPS certificate installed: $(openssl x509 -in '${certFile}' -noout -fingerprint -sha256)"
  # ${server} reads the certificate when it starts. KillMode=process restarts only the listener:
  # sessions in progress keep their connections. No-op at boot, before ${server} first starts.
  systemctl try-restart ${server}.service
fi
`
    : '';
  return `#!/bin/bash
# nlb-ftp: apply FTP users${ftpsOn ? ' and the FTPS certificate' : ''} from Secrets Manager. Never prints a secret.
set -euo pipefail
fetch() {
  aws secretsmanager get-secret-value --region '${p.region}' --secret-id "$1" --query SecretString --output text
}
{
  # Reserved names (root, system accounts, the health-check account) are never FTP users.
  fetch '${p.usersSecretArn}' | python3 -c 'import json, sys
reserved = set(json.loads(sys.argv[1]))
prefixes = tuple(json.loads(sys.argv[2]))
for user, password in json.load(sys.stdin).items():
    if user in reserved or user.startswith(prefixes):
        print("nlb-ftp users: ERROR: skipping " + user + ": the name is reserved for a system or nlb-ftp account; rename it in the users secret", file=sys.stderr)
        continue
    print(f"{user}\\t{password}")' '${JSON.stringify(RESERVED_USER_NAMES)}' '${JSON.stringify(RESERVED_USER_PREFIXES)}'
  fetch '${p.healthSecretArn}' | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d["username"] + "\\t" + d["password"])'
} | /usr/local/sbin/nlb-ftp-apply-users
${certificate}`;
}

/**
 * The systemd drop-in of either server: wait for the shared file system, restart on failure, and
 * restart only the listener (KillMode=process). `execLines` says how to run the server.
 */
function serverUnitDropIn(server: FtpServerName, execLines: string, unitLines?: string): string {
  return `install -d -m 0755 /etc/systemd/system/${server}.service.d
cat >/etc/systemd/system/${server}.service.d/nlb-ftp.conf <<'NLBFTP_EOF'
[Unit]
# Never serve FTP from an empty local directory: wait for the shared file system.
RequiresMountsFor=${FTP_ROOT}
After=network-online.target
Wants=network-online.target${unitLines ? `\n${unitLines}` : ''}
[Service]
Type=simple
${execLines}
Restart=always
RestartSec=2
# A restart (new certificate, new config) replaces only the listener; sessions in progress,
# which are separate processes, finish their transfers.
KillMode=process
NLBFTP_EOF
`;
}

/** Both servers' units: the audit converter, the FIFO's reader, runs first. */
const AUDIT_UNIT_ORDER = 'Wants=nlb-ftp-audit.service\nAfter=nlb-ftp-audit.service';

/** The instance's own sysctls (keepalive, reserved passive ports). */
export const HOST_SYSCTL_FILE = '/etc/sysctl.d/90-nlb-ftp.conf';

/** TCP keepalive below the NLB idle timeout, as sysctl.d lines (per network namespace, so set in each). */
function keepaliveSysctlLines(p: BootScriptParams): string {
  return `net.ipv4.tcp_keepalive_time = ${p.keepaliveSeconds}
net.ipv4.tcp_keepalive_intvl = 10
net.ipv4.tcp_keepalive_probes = 6`;
}

/** Step 1 of both boot scripts: TCP keepalive below the NLB idle timeout; the passive range reserved. */
function keepaliveStep(p: BootScriptParams, server: FtpServerName): string {
  const who =
    server === 'proftpd'
      ? '# ProFTPD sets SO_KEEPALIVE on control connections (SocketOptions keepalive on); probes keep them\n# alive through the NLB while a long transfer leaves the control connection idle.'
      : '# vsftpd sets SO_KEEPALIVE on control connections; probes keep them alive through the NLB\n# while a long transfer leaves the control connection idle.';
  return `log "1/7 TCP keepalive below the NLB idle timeout; passive ports reserved"
cat >${HOST_SYSCTL_FILE} <<'NLBFTP_EOF'
${who}
${keepaliveSysctlLines(p)}
# The passive range lies inside Linux's ephemeral range (32768-60999): keep outbound connections
# (AWS CLI, stunnel, SSM agent) from taking one of its ports as their source port.
net.ipv4.ip_local_reserved_ports = ${p.ftp.pasvMinPort}-${p.ftp.pasvMaxPort}
NLBFTP_EOF
sysctl -q -p ${HOST_SYSCTL_FILE}
`;
}

/** ProFTPD's own network namespace on the instance: names and the veth pair's /30 (link-local). */
export interface FtpNamespace {
  readonly name: string;
  readonly hostIf: string;
  readonly nsIf: string;
  readonly hostAddr: string;
  readonly nsAddr: string;
}

export const EC2_FTP_NAMESPACE: FtpNamespace = {
  name: 'nlb-ftp',
  hostIf: 'nlbftp-host',
  nsIf: 'nlbftp0',
  hostAddr: '169.254.21.1',
  nsAddr: '169.254.21.2',
};

export const FTP_NAMESPACE_ENV = '/etc/nlb-ftp/ftp-namespace.env';
export const FTP_NAMESPACE_SYSCTLS = '/etc/nlb-ftp/ftp-namespace.sysctl.conf';

/** The script that makes the FTP server's namespace (a real file, shellchecked in the repository). */
export const FTP_NAMESPACE_SCRIPT = fs.readFileSync(path.join(__dirname, 'scripts', 'ftp-namespace.sh'), 'utf8');

/** The settings file the namespace script reads. */
export function renderFtpNamespaceEnv(ns: FtpNamespace, range: { readonly min: number; readonly max: number }, sysctlFile: string): string {
  return `NS=${ns.name}
HOST_IF=${ns.hostIf}
NS_IF=${ns.nsIf}
HOST_ADDR=${ns.hostAddr}
NS_ADDR=${ns.nsAddr}
PORTS=${CONTROL_PORT},${range.min}:${range.max}
SYSCTL_FILE=${sysctlFile}
`;
}

/**
 * Step 1b of the ProFTPD boot: the server's own network namespace, whose ephemeral port range is
 * exactly the slot's passive range (see scripts/ftp-namespace.sh for why), made at every boot.
 * The script is lib/backend/scripts/ftp-namespace.sh byte for byte.
 */
function ftpNamespaceStep(p: BootScriptParams): string {
  return `log "1/7 ProFTPD's own network namespace: passive ports never leave ${p.ftp.pasvMinPort}-${p.ftp.pasvMaxPort}"
install -d -m 0755 /etc/nlb-ftp
cat >${FTP_NAMESPACE_SYSCTLS} <<'NLBFTP_EOF'
# ProFTPD's fallback bind (INPORT_ANY) draws from this range: exactly the slot's PassivePorts.
net.ipv4.ip_local_port_range = ${p.ftp.pasvMinPort} ${p.ftp.pasvMaxPort}
${keepaliveSysctlLines(p)}
NLBFTP_EOF
cat >${FTP_NAMESPACE_ENV} <<'NLBFTP_EOF'
${renderFtpNamespaceEnv(EC2_FTP_NAMESPACE, { min: p.ftp.pasvMinPort, max: p.ftp.pasvMaxPort }, FTP_NAMESPACE_SYSCTLS).trimEnd()}
NLBFTP_EOF
cat >/usr/local/sbin/nlb-ftp-namespace <<'NLBFTP_EOF'
${FTP_NAMESPACE_SCRIPT.trimEnd()}
NLBFTP_EOF
chmod 0755 /usr/local/sbin/nlb-ftp-namespace
cat >/etc/systemd/system/nlb-ftp-namespace.service <<'NLBFTP_EOF'
[Unit]
Description=nlb-ftp: ProFTPD's own network namespace (passive ports never leave the slot's range)
Before=proftpd.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/nlb-ftp-namespace up
ExecStop=/usr/local/sbin/nlb-ftp-namespace down
[Install]
WantedBy=multi-user.target
NLBFTP_EOF
`;
}

/** The audit converter (a real file, byte for byte), installed on every backend from its asset. */
export const AUDIT_SCRIPT_PATH = path.join(__dirname, 'scripts', 'nlb-ftp-audit.py');

/** The converter's SHA-256, which the boot checks after the download. */
export function auditScriptSha256(): string {
  return crypto.createHash('sha256').update(fs.readFileSync(AUDIT_SCRIPT_PATH)).digest('hex');
}

/** Where the CloudWatch agent's configuration goes (its own fetch-config reads it from there). */
export const CLOUDWATCH_AGENT_CONFIG = '/opt/aws/amazon-cloudwatch-agent/etc/nlb-ftp.json';

/**
 * The CloudWatch agent's configuration: ship the audit events file to the log group, one stream
 * per instance, flushed every 5 s. The agent reads the file from its last recorded offset, so the
 * file on disk is the buffer: a restart loses nothing, and a terminated instance at most the last
 * flush interval. Checked against the agent's documented schema in test/unit/audit-shipping.test.ts.
 */
export function renderCloudWatchAgentConfig(logGroupName: string): string {
  return `${JSON.stringify(
    {
      agent: { run_as_user: 'root', logfile: '/opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log' },
      logs: {
        force_flush_interval: 5,
        logs_collected: {
          files: {
            collect_list: [{ file_path: AUDIT_LOG_FILE, log_group_name: logGroupName, log_stream_name: '{instance_id}', timezone: 'UTC' }],
          },
        },
      },
    },
    null,
    1,
  )}\n`;
}

/**
 * Step 4b of both boot scripts: the audit trail. The server writes its log lines into a FIFO that
 * only nlb-ftp-audit reads (it starts first; the server's unit wants it), which writes JSON events
 * to AUDIT_LOG_FILE; logrotate keeps a week on disk and the CloudWatch agent ships them.
 */
function auditStep(p: BootScriptParams, server: FtpServerName): string {
  const slot = p.ftp.slot;
  const a = p.audit;
  const agent = a
    ? `cat >${CLOUDWATCH_AGENT_CONFIG} <<'NLBFTP_EOF'
${renderCloudWatchAgentConfig(a.logGroupName).trimEnd()}
NLBFTP_EOF
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${CLOUDWATCH_AGENT_CONFIG}
`
    : '';
  return `log "4/7 audit trail: every login and transfer as a JSON event${a ? `, shipped to ${a.logGroupName}` : ''}"
aws s3 cp --only-show-errors --region '${p.region}' 's3://${p.auditScript.bucket}/${p.auditScript.key}' /usr/local/sbin/nlb-ftp-audit
echo '${p.auditScript.sha256}  /usr/local/sbin/nlb-ftp-audit' | sha256sum -c --quiet
chmod 0755 /usr/local/sbin/nlb-ftp-audit
install -d -m 0755 /etc/nlb-ftp
install -d -m 0750 ${path.posix.dirname(AUDIT_LOG_FILE)}
iid=$(imds instance-id)
printf 'SERVER=${server}\nSTACK=%s\nSLOT=${slot}\nINSTANCE=%s\n' '${a?.stackName ?? 'nlb-ftp'}' "$iid" >/etc/nlb-ftp/audit.env
cat >/etc/systemd/system/nlb-ftp-audit.service <<'NLBFTP_EOF'
[Unit]
Description=nlb-ftp: the FTP server's log lines as JSON audit events
Before=${server}.service
[Service]
# Ready once the FIFO has its reader, so the server (After= this) never opens it without one.
Type=notify
EnvironmentFile=/etc/nlb-ftp/audit.env
RuntimeDirectory=${path.posix.basename(path.posix.dirname(AUDIT_FIFO))}
RuntimeDirectoryPreserve=yes
ExecStartPre=/bin/sh -c 'test -p ${AUDIT_FIFO} || { rm -f ${AUDIT_FIFO}; mkfifo -m 0600 ${AUDIT_FIFO}; }'
ExecStart=/usr/bin/python3 /usr/local/sbin/nlb-ftp-audit --server \${SERVER} --fifo ${AUDIT_FIFO} --out ${AUDIT_LOG_FILE} --allow-file ${ALLOW_FILE} --stack \${STACK} --slot \${SLOT} --instance \${INSTANCE}
Restart=always
RestartSec=1
[Install]
WantedBy=multi-user.target
NLBFTP_EOF
cat >/etc/logrotate.d/nlb-ftp-audit <<'NLBFTP_EOF'
${AUDIT_LOG_FILE} {
  daily
  rotate 7
  compress
  delaycompress
  missingok
  notifempty
  postrotate
    systemctl kill -s HUP nlb-ftp-audit.service
  endscript
}
NLBFTP_EOF
systemctl daemon-reload
systemctl enable --now nlb-ftp-audit.service
${agent}`;
}

/** Step 5 of both boot scripts: the users and certificate sync, run once now and every 5 minutes. */
function usersStep(p: BootScriptParams, server: FtpServerName, ftpsOn: boolean): string {
  return `log "5/7 FTP users${ftpsOn ? ' and the FTPS certificate' : ''} from Secrets Manager"
cat >/usr/local/sbin/nlb-ftp-apply-users <<'NLBFTP_EOF'
${renderApplyUsersScript({ ftpRoot: FTP_ROOT, allowFile: ALLOW_FILE }).trimEnd()}
NLBFTP_EOF
cat >/usr/local/sbin/nlb-ftp-sync <<'NLBFTP_EOF'
${renderSyncScript(p, server).trimEnd()}
NLBFTP_EOF
chmod 0700 /usr/local/sbin/nlb-ftp-apply-users /usr/local/sbin/nlb-ftp-sync
cat >/etc/systemd/system/nlb-ftp-sync.service <<'NLBFTP_EOF'
[Unit]
Description=nlb-ftp: apply FTP users${ftpsOn ? ' and the FTPS certificate' : ''} from Secrets Manager
RequiresMountsFor=${FTP_ROOT}
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/nlb-ftp-sync
NLBFTP_EOF
cat >/etc/systemd/system/nlb-ftp-sync.timer <<'NLBFTP_EOF'
[Unit]
Description=nlb-ftp: pick up changed FTP users${ftpsOn ? ' and certificate' : ''} every 5 minutes
[Timer]
OnBootSec=1min
OnUnitActiveSec=5min
[Install]
WantedBy=timers.target
NLBFTP_EOF
/usr/local/sbin/nlb-ftp-sync
`;
}

/** The Debian 13 packages each server's boot installs from Debian's archive (the sandbox's root build reads this list too). */
export function bootPackages(server: FtpServerName): string[] {
  const serverPackages = server === 'proftpd' ? ['proftpd-core', 'proftpd-mod-crypto', 'iptables'] : ['vsftpd'];
  return [...serverPackages, 'awscli', 'nfs-common', 'stunnel4', 'openssl', 'python3', 'ca-certificates', 'curl'];
}

/**
 * AWS's own packages that Debian does not carry, from AWS's public regional buckets (anonymous
 * requests: they are public): the SSM agent (Session Manager, no SSH), and with the audit trail
 * the CloudWatch agent. `$arch` is Debian's architecture name (amd64, arm64).
 */
export function awsAgentPackages(region: string, withCloudWatchAgent: boolean): Array<{ readonly bucket: string; readonly key: string }> {
  const ssm = { bucket: `amazon-ssm-${region}`, key: 'latest/debian_$arch/amazon-ssm-agent.deb' };
  const cloudwatch = { bucket: `amazoncloudwatch-agent-${region}`, key: 'debian/$arch/latest/amazon-cloudwatch-agent.deb' };
  return withCloudWatchAgent ? [ssm, cloudwatch] : [ssm];
}

/** How many times the boot tries Debian's archive, and how long it waits between tries. */
export const APT_ATTEMPTS = 3;
export const APT_RETRY_SECONDS = 10;

/** Step 2 of the boot: Debian's packages, then AWS's agents; the server stays stopped until its config is written. */
function packagesStep(p: BootScriptParams, server: FtpServerName): string {
  const pkgs = bootPackages(server).join(' ');
  const agents = awsAgentPackages(p.region, p.audit !== undefined);
  return `log "2/7 packages: ${pkgs} from Debian's archive; ${agents.map((a) => a.key.split('/').pop()?.replace('.deb', '')).join(' and ')} from AWS"
# A package would start ${server} with Debian's sample config: keep every service stopped until ours is written.
printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
for attempt in $(seq 1 ${APT_ATTEMPTS}); do
  if apt-get update -q && apt-get install -y -q --no-install-recommends ${pkgs}; then break; fi
  log "apt attempt $attempt of ${APT_ATTEMPTS} failed; retrying in ${APT_RETRY_SECONDS} s"
  sleep ${APT_RETRY_SECONDS}
done
dpkg -s ${pkgs} >/dev/null
rm -f /usr/sbin/policy-rc.d
systemctl disable --now ${server}.service || true
aws --version
arch=$(dpkg --print-architecture)
install -d -m 0700 /var/lib/nlb-ftp
${agents
  .map(
    (
      a,
    ) => `aws s3 cp --only-show-errors --no-sign-request --region '${p.region}' "s3://${a.bucket}/${a.key}" /var/lib/nlb-ftp/${path.posix.basename(a.key)}
dpkg -i /var/lib/nlb-ftp/${path.posix.basename(a.key)}`,
  )
  .join('\n')}
systemctl enable --now amazon-ssm-agent.service
`;
}

/** NFS options of the EFS mount, through the local stunnel (efs-utils' own defaults). */
const EFS_MOUNT_OPTIONS =
  'nfsvers=4.1,port=20049,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,_netdev,nofail,x-systemd.requires=nlb-ftp-efs-tls.service';

/**
 * Step 3: the shared root. Debian has no amazon-efs-utils, so stunnel carries NFS over TLS to the
 * mount target as efs-utils does (see SECURITY.md for the file system policy). Added to fstab once,
 * then mounted, retrying for 5 minutes; the boot fails if it never mounts.
 */
function efsStep(p: BootScriptParams, server: FtpServerName): string {
  const efsHost = `${p.fileSystemId}.efs.${p.region}.amazonaws.com`;
  return `log "3/7 shared storage (EFS ${p.fileSystemId}, NFS over TLS through stunnel)"
cat >/etc/stunnel/nlb-ftp-efs.conf <<'NLBFTP_EOF'
# NFS to EFS over TLS, as amazon-efs-utils does it: the mount talks to 127.0.0.1:20049.
foreground = no
pid = /run/stunnel-nlb-ftp-efs.pid
[efs]
client = yes
accept = 127.0.0.1:20049
connect = ${efsHost}:2049
sslVersionMin = TLSv1.2
verifyChain = yes
CAfile = /etc/ssl/certs/ca-certificates.crt
checkHost = ${efsHost}
TIMEOUTclose = 0
TIMEOUTidle = 70
delay = yes
NLBFTP_EOF
cat >/etc/systemd/system/nlb-ftp-efs-tls.service <<'NLBFTP_EOF'
[Unit]
Description=nlb-ftp: TLS tunnel to EFS
After=network-online.target
Wants=network-online.target
Before=remote-fs-pre.target
[Service]
Type=forking
PIDFile=/run/stunnel-nlb-ftp-efs.pid
ExecStart=/usr/bin/stunnel4 /etc/stunnel/nlb-ftp-efs.conf
Restart=always
[Install]
WantedBy=multi-user.target
NLBFTP_EOF
systemctl daemon-reload
systemctl enable --now nlb-ftp-efs-tls.service
mkdir -p '${FTP_ROOT}'
if ! grep -q ' ${FTP_ROOT} nfs4 ' /etc/fstab; then
  # _netdev: wait for the network at boot; nofail: a slow EFS must not hang boot (${server} waits instead).
  echo '127.0.0.1:/ ${FTP_ROOT} nfs4 ${EFS_MOUNT_OPTIONS} 0 0' >>/etc/fstab
fi
for attempt in $(seq 1 30); do
  if mountpoint -q '${FTP_ROOT}'; then break; fi
  mount '${FTP_ROOT}' || { log "EFS mount attempt $attempt failed; retrying in 10 s"; sleep 10; }
done
mountpoint -q '${FTP_ROOT}'
`;
}

/** Step 4, vsftpd: its config, OpenSSL settings and PAM service; the unit runs our config. */
function vsftpdConfigStep(p: BootScriptParams, ftpsOn: boolean): string {
  return `log "4/7 vsftpd configuration"
install -d -m 0755 /etc/vsftpd ${EC2_VSFTPD_PATHS.secureChrootDir}
cat >/etc/vsftpd/vsftpd.conf <<'NLBFTP_EOF'
${renderVsftpdConf({ ...p.ftp, paths: EC2_VSFTPD_PATHS }).trimEnd()}
NLBFTP_EOF
${
  ftpsOn && p.ftp.ftps
    ? `cat >${OPENSSL_CONF_FILE} <<'NLBFTP_EOF'
${renderOpenSslConf(p.ftp.ftps).trimEnd()}
NLBFTP_EOF
`
    : ''
}cat >/etc/pam.d/${EC2_VSFTPD_PATHS.pamServiceName} <<'NLBFTP_EOF'
${renderPamService(ALLOW_FILE).trimEnd()}
NLBFTP_EOF
${serverUnitDropIn(
  'vsftpd',
  `ExecStartPre=\nExecStartPre=/bin/mkdir -p ${EC2_VSFTPD_PATHS.secureChrootDir}\nExecStart=\nExecStart=/usr/sbin/vsftpd /etc/vsftpd/vsftpd.conf${ftpsOn ? `\nEnvironment=OPENSSL_CONF=${OPENSSL_CONF_FILE}` : ''}`,
  AUDIT_UNIT_ORDER,
)}`;
}

/**
 * Step 4, ProFTPD: its config and PAM service; the unit runs it in the foreground, in its own
 * namespace, listening on that namespace's address (without DefaultAddress ProFTPD resolves the
 * host name and refuses to start when it cannot: found by the booted sandbox).
 */
function proftpdConfigStep(p: BootScriptParams): string {
  return `log "4/7 ProFTPD configuration"
install -d -m 0755 /etc/proftpd /var/log/proftpd
cat >/etc/proftpd/proftpd.conf <<'NLBFTP_EOF'
${renderProftpdConf({ ...p.ftp, paths: EC2_PROFTPD_PATHS, listenAddress: EC2_FTP_NAMESPACE.nsAddr }).trimEnd()}
NLBFTP_EOF
cat >/etc/pam.d/${EC2_PROFTPD_PATHS.pamServiceName} <<'NLBFTP_EOF'
${renderPamService(ALLOW_FILE).trimEnd()}
NLBFTP_EOF
${serverUnitDropIn(
  'proftpd',
  `ExecStartPre=\nExecStartPre=/usr/sbin/proftpd --configtest -c /etc/proftpd/proftpd.conf\nExecStart=\nExecStart=/usr/sbin/proftpd -n -c /etc/proftpd/proftpd.conf\nPIDFile=\nNetworkNamespacePath=/run/netns/${EC2_FTP_NAMESPACE.name}`,
  // The namespace's unit makes it first; restarting that unit restarts ProFTPD inside the new one.
  `Requires=nlb-ftp-namespace.service\nAfter=nlb-ftp-namespace.service\n${AUDIT_UNIT_ORDER}`,
)}`;
}

/**
 * The complete EC2 user data for one slot, on Debian 13 for either server (Debian's archive carries
 * both, so CI boots the same packages in the sandbox). The steps, and what differs by server:
 * 1 sysctls (ProFTPD: also its own network namespace), 2 packages, 3 EFS over TLS, 4 the server's
 * config and the audit trail, 5 users and certificate, 6 start, 7 a local login, then CONTINUE.
 * Any failure stops the script (set -e) before the server starts and reports ABANDON, so the
 * backend never passes the NLB's port-21 check or the checker's login.
 */
export function renderBootScript(p: BootScriptParams, server: FtpServerName = 'vsftpd'): string {
  const slot = p.ftp.slot;
  const ftpsOn = ftpsEnabled(p);
  const proftpd = server === 'proftpd';
  const name = proftpd ? 'ProFTPD' : 'vsftpd';
  const units = proftpd ? 'nlb-ftp-namespace.service proftpd.service' : 'vsftpd.service';
  return `#!/bin/bash
# nlb-ftp backend slot ${slot} (${name}, Debian 13): boot script (generated by nlb-ftp).
# Secrets pass through this shell: never enable xtrace here.
set -euo pipefail
exec > >(tee -a /var/log/nlb-ftp-boot.log) 2>&1
log() { echo "nlb-ftp slot ${slot} boot (+\${SECONDS}s): $*"; }
${IMDS_FUNCTION}${readinessPrelude(p)}export DEBIAN_FRONTEND=noninteractive

${keepaliveStep(p, server)}${proftpd ? ftpNamespaceStep(p) : ''}
${packagesStep(p, server)}
${efsStep(p, server)}
${proftpd ? proftpdConfigStep(p) : vsftpdConfigStep(p, ftpsOn)}
${auditStep(p, server)}
${usersStep(p, server, ftpsOn)}
log "6/7 start ${name}"
${proftpd ? '/usr/sbin/proftpd --configtest -c /etc/proftpd/proftpd.conf\n' : ''}systemctl daemon-reload
systemctl enable --now ${units} nlb-ftp-sync.timer
${readinessStep(p, ftpsOn, proftpd ? EC2_FTP_NAMESPACE.nsAddr : '127.0.0.1')}log "ready: passive ports ${p.ftp.pasvMinPort}-${p.ftp.pasvMaxPort}, ${proftpd ? 'MasqueradeAddress' : 'pasv_address'} ${p.ftp.pasvAddress}"
`;
}
