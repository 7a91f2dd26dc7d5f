/**
 * What a backend boots from: its settings (data only) and the boot scripts, which are real files
 * under ./scripts (shellchecked and compiled in the fast suite). Pure; no aws-cdk-lib import.
 *
 * The user data is `scripts/bootstrap.sh`, byte for byte, with the slot's settings (one line of
 * JSON) in its NLBFTP_SETTINGS block, which it writes to SETTINGS_FILE: scalar values (`env`,
 * which the boot reads as shell variables) and the files the existing renderers make (`files`:
 * server config, PAM service, sysctls, ...). The
 * bootstrap fetches the scripts folder (a CDK asset, zipped), checks it against the digest of
 * its files' SHA-256 sums that the settings carry (bootScriptsDigest), and runs `boot.sh` from it. Inputs may be CloudFormation
 * tokens: they only ever land inside JSON strings, in a quoted heredoc, never evaluated by a shell.
 *
 * Passwords never pass through the template or these files: the instance reads them from Secrets
 * Manager at boot and pipes them straight into chpasswd.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { AUDIT_LOG_FILE } from '../shared/audit';
import { CONTROL_PORT } from '../shared/contract';
import { RESERVED_USER_NAMES, RESERVED_USER_PREFIXES } from '../shared/users';
import { EC2_PROFTPD_PATHS, renderProftpdConf } from './proftpd-conf';
import { EC2_VSFTPD_PATHS, renderOpenSslConf, renderPamService, renderVsftpdConf, type VsftpdSlotSettings } from './vsftpd-conf';

export type FtpServerName = 'vsftpd' | 'proftpd';

/** EC2: user data is limited to 16 KB in raw form (before base64). */
export const USER_DATA_MAX_BYTES = 16_384;

/** The boot scripts, units and helpers: one folder, shipped whole as an asset. */
export const SCRIPTS_DIR = path.join(__dirname, 'scripts');
/** What the asset leaves out of SCRIPTS_DIR (Python's byte-code caches). */
export const SCRIPTS_EXCLUDE: readonly string[] = ['__pycache__', '*.pyc'];
/** The first stage, which the user data carries. */
export const BOOTSTRAP_SCRIPT = path.join(SCRIPTS_DIR, 'bootstrap.sh');
/** The audit converter, the users script and the sync, which the sandbox and tests also run. */
export const AUDIT_SCRIPT_PATH = path.join(SCRIPTS_DIR, 'nlb-ftp-audit.py');
export const APPLY_USERS_SCRIPT = path.join(SCRIPTS_DIR, 'nlb-ftp-apply-users.py');
export const SYNC_SCRIPT = path.join(SCRIPTS_DIR, 'nlb-ftp-sync.sh');
/** Where the bootstrap puts the checked scripts on the instance. */
export const BOOT_LIB_DIR = '/usr/local/lib/nlb-ftp';
/** Where the user data writes the slot's settings. */
export const SETTINGS_FILE = '/etc/nlb-ftp/settings.json';
/** The heredoc delimiter around the settings in the user data. */
const SETTINGS_DELIMITER = 'NLBFTP_SETTINGS';

/** Where the boot writes vsftpd's OpenSSL settings (with FTPS); the unit points OPENSSL_CONF at it. */
export const OPENSSL_CONF_FILE = '/etc/vsftpd/openssl.cnf';
export const FTP_ROOT = '/srv/ftp';
/** The PAM allow-list of FTP users: in nlb-ftp's own directory, which the users script creates. */
export const ALLOW_FILE = '/etc/nlb-ftp/ftp-users';
/** The instance's own sysctls (keepalive, reserved passive ports). */
export const HOST_SYSCTL_FILE = '/etc/sysctl.d/90-nlb-ftp.conf';
/** Where the CloudWatch agent's configuration goes (its own fetch-config reads it from there). */
export const CLOUDWATCH_AGENT_CONFIG = '/opt/aws/amazon-cloudwatch-agent/etc/nlb-ftp.json';
export const STUNNEL_CONF = '/etc/stunnel/nlb-ftp-efs.conf';

/** Each file of the scripts folder (relative, sorted) with its SHA-256: what the boot checks. */
export function bootScriptFiles(dir = SCRIPTS_DIR): Array<{ readonly name: string; readonly sha256: string }> {
  const out: Array<{ name: string; sha256: string }> = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const name = path.posix.join(rel, entry.name);
      if (entry.name === '__pycache__' || entry.name.endsWith('.pyc')) continue;
      if (entry.isDirectory()) walk(name);
      else
        out.push({
          name,
          sha256: crypto
            .createHash('sha256')
            .update(fs.readFileSync(path.join(dir, name)))
            .digest('hex'),
        });
    }
  };
  walk('');
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * The SHA-256 of the scripts folder's manifest: one `SHA256  NAME` line per file (sha256sum's
 * format), sorted by name. The bootstrap computes the same over what it extracted, so one digest
 * in the user data (16 KB at most) checks every file, and that no file is missing or added.
 */
export function bootScriptsDigest(dir = SCRIPTS_DIR): string {
  const manifest = bootScriptFiles(dir)
    .map((f) => `${f.sha256}  ${f.name}\n`)
    .join('');
  return crypto.createHash('sha256').update(manifest).digest('hex');
}

export interface BootScriptParams {
  /** The slot's FTP server settings (either server: the renderers share them). */
  readonly ftp: VsftpdSlotSettings;
  readonly region: string;
  /** The partition's domain (amazonaws.com; amazonaws.com.cn in China), for S3 and Auto Scaling. */
  readonly urlSuffix: string;
  readonly fileSystemId: string;
  readonly usersSecretArn: string;
  readonly healthSecretArn: string;
  /** The FTPS certificate secret ({certificate, privateKey, ca?}); required unless FTPS is off. */
  readonly certificateSecretArn?: string;
  /** SFTP (ProFTPD only): its port on the backend, and the host keys secret ({"ecdsa","rsa"} PEM). @default no SFTP */
  readonly sftp?: { readonly port: number; readonly hostKeysSecretArn: string };
  /** net.ipv4.tcp_keepalive_time: below the NLB idle timeout (both servers set SO_KEEPALIVE). */
  readonly keepaliveSeconds: number;
  /**
   * The slot's Auto Scaling group and its launch lifecycle hook: the boot reports CONTINUE after
   * a local FTP (FTPS) login, ABANDON on any failure. Unset: no report (the boot still fails loudly).
   */
  readonly readiness?: { readonly groupName: string; readonly hookName: string };
  /**
   * Ship the audit events (lib/shared/audit.ts) to this log group with the CloudWatch agent; the
   * events name `stackName`. Unset: the converter still writes them to the instance's own file.
   */
  readonly audit?: { readonly logGroupName: string; readonly stackName: string };
  /** Where the boot fetches the scripts folder (a CDK asset, zipped). */
  readonly bundle: { readonly bucket: string; readonly key: string };
  /**
   * Cluster-wide bans (scripts/nlb-ftp-bans.py): the table every backend shares, the rule, and the
   * ranges never banned (the VPC first). Unset: no ban agent.
   */
  readonly bans?: BanSettings;
}

export interface BanSettings {
  readonly tableName: string;
  /** M failed logins within `windowSeconds` (T), over all backends, ban an address for `banSeconds` (B). */
  readonly failedLogins: number;
  readonly windowSeconds: number;
  readonly banSeconds: number;
  /** S: how often each backend reports failures and loads the bans. */
  readonly syncSeconds: number;
  readonly exemptCidrs: readonly string[];
}

const fileSchema = z.object({ path: z.string().startsWith('/'), mode: z.string().regex(/^0[0-7]{3}$/), text: z.string() });
/** The settings document the user data writes (and the sandbox reads back). */
export const bootSettingsSchema = z.object({
  version: z.literal(1),
  env: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.union([z.string(), z.number()])),
  files: z.record(z.string(), fileSchema),
});
export type BootSettings = z.infer<typeof bootSettingsSchema>;

function ftpsEnabled(p: BootScriptParams): boolean {
  const on = p.ftp.ftps !== undefined && p.ftp.ftps.mode !== 'off';
  if (on && !p.certificateSecretArn) throw new Error('FTPS needs certificateSecretArn');
  return on;
}

/**
 * scripts/reserved-users.json: the names the users sync never applies (root, system accounts,
 * nlb-ftp's own), shipped with the scripts rather than in the user data (1 KB of EC2's 16 KB).
 * A test holds the file equal to this; `npm run docs:config` rewrites it.
 */
export const RESERVED_USERS_FILE = path.join(SCRIPTS_DIR, 'reserved-users.json');
export function reservedUsersText(): string {
  return `${JSON.stringify({ names: RESERVED_USER_NAMES, prefixes: RESERVED_USER_PREFIXES }, null, 2)}\n`;
}

/**
 * What ProFTPD's boot builds scripts/mod_nlbftp_uploads.c with (the module that keeps a cut-off
 * FTP or FTPS upload from being renamed into place), against the installed ProFTPD's own headers.
 * Installed with the other packages and purged right after the build: no compiler stays on a backend.
 */
export const PROFTPD_BUILD_PACKAGES = ['gcc', 'libc6-dev', 'proftpd-dev'] as const;
/** The module's source, beside the boot scripts (proftpd-conf.ts's UPLOADS_MODULE loads it). */
export const UPLOADS_MODULE_SOURCE = path.join(SCRIPTS_DIR, 'mod_nlbftp_uploads.c');

/** The Debian 13 packages each server's boot installs from Debian's archive (the sandbox's root build reads this list too). */
export function bootPackages(server: FtpServerName): string[] {
  // socat: ProFTPD's 421 at its caps (REFUSALS).
  const serverPackages = server === 'proftpd' ? ['proftpd-core', 'proftpd-mod-crypto', 'socat', ...PROFTPD_BUILD_PACKAGES] : ['vsftpd'];
  // iptables: the bans' firewall chain on both servers, and ProFTPD's own network namespace.
  return [...serverPackages, 'iptables', 'nfs-common', 'stunnel4', 'openssl', 'python3', 'ca-certificates', 'curl'];
}

/**
 * AWS's own packages that Debian does not carry, from AWS's public regional buckets (anonymous
 * requests: they are public): the SSM agent (Session Manager, no SSH), and with the audit trail
 * the CloudWatch agent. `$arch` is Debian's architecture name (amd64, arm64), filled in at boot.
 */
export function awsAgentPackages(region: string, withCloudWatchAgent: boolean): Array<{ readonly bucket: string; readonly key: string }> {
  const ssm = { bucket: `amazon-ssm-${region}`, key: 'latest/debian_$arch/amazon-ssm-agent.deb' };
  const cloudwatch = { bucket: `amazoncloudwatch-agent-${region}`, key: 'debian/$arch/latest/amazon-cloudwatch-agent.deb' };
  return withCloudWatchAgent ? [ssm, cloudwatch] : [ssm];
}

/** How many times the boot tries Debian's archive, and how long it waits between tries. */
export const APT_ATTEMPTS = 3;
export const APT_RETRY_SECONDS = 10;

/** NFS options of the EFS mount, through the local stunnel (efs-utils' own defaults). */
const EFS_MOUNT_OPTIONS =
  'nfsvers=4.1,port=20049,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,_netdev,nofail,x-systemd.requires=nlb-ftp-efs-tls.service';

/** stunnel's configuration: NFS to EFS over TLS, as amazon-efs-utils does it (the mount talks to 127.0.0.1:20049). */
export function renderStunnelConf(efsHost: string): string {
  return `# NFS to EFS over TLS, as amazon-efs-utils does it: the mount talks to 127.0.0.1:20049.
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
`;
}

/** TCP keepalive below the NLB idle timeout, as sysctl.d lines (per network namespace, so set in each). */
function keepaliveSysctlLines(keepaliveSeconds: number): string {
  return `net.ipv4.tcp_keepalive_time = ${keepaliveSeconds}
net.ipv4.tcp_keepalive_intvl = 10
net.ipv4.tcp_keepalive_probes = 6`;
}

/** The instance's sysctl.d file: keepalive below the NLB idle timeout; the passive range reserved. */
export function renderHostSysctls(keepaliveSeconds: number, range: { readonly min: number; readonly max: number }): string {
  return `# Both servers set SO_KEEPALIVE on control connections; probes keep them alive through the NLB
# while a long transfer leaves the control connection idle.
${keepaliveSysctlLines(keepaliveSeconds)}
# The passive range lies inside Linux's ephemeral range (32768-60999): keep outbound connections
# (curl to AWS, stunnel, SSM agent) from taking one of its ports as their source port.
net.ipv4.ip_local_reserved_ports = ${range.min}-${range.max}
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

/** Its name is also in scripts/units/proftpd.service.d/nlb-ftp.conf (NetworkNamespacePath). */
export const EC2_FTP_NAMESPACE: FtpNamespace = {
  name: 'nlb-ftp',
  hostIf: 'nlbftp-host',
  nsIf: 'nlbftp0',
  hostAddr: '169.254.21.1',
  nsAddr: '169.254.21.2',
};

export const FTP_NAMESPACE_ENV = '/etc/nlb-ftp/ftp-namespace.env';
export const FTP_NAMESPACE_SYSCTLS = '/etc/nlb-ftp/ftp-namespace.sysctl.conf';

/**
 * ProFTPD answers its own caps (MaxClientsPerHost, MaxInstances) with 530, the code of a failed
 * login, which tells a client not to retry (Debian 13's 1.3.8c; no setting changes it). So the
 * instance's kernel enforces both caps on port 21 (connlimit), ahead of ProFTPD, and sends each
 * connection over a cap to a local responder (scripts/units/nlb-ftp-refuse-*.service) that answers
 * one transient 421 naming the limit, as vsftpd does on its own; scripts/server-proftpd.sh writes
 * the replies at boot. ProFTPD's settings stay a little above, as a backstop.
 */
export const REFUSALS = {
  perAddress: { port: 2121, unit: 'nlb-ftp-refuse-per-address.service' },
  full: { port: 2122, unit: 'nlb-ftp-refuse-full.service' },
} as const;

/** The settings file the namespace script reads. */
export function renderFtpNamespaceEnv(
  ns: FtpNamespace,
  range: { readonly min: number; readonly max: number },
  sysctlFile: string,
  caps: { readonly maxPerIp: number; readonly maxClients: number },
  sftpPort?: number,
): string {
  return `NS=${ns.name}
HOST_IF=${ns.hostIf}
NS_IF=${ns.nsIf}
HOST_ADDR=${ns.hostAddr}
NS_ADDR=${ns.nsAddr}
PORTS=${CONTROL_PORT},${sftpPort ? `${sftpPort},` : ''}${range.min}:${range.max}
SYSCTL_FILE=${sysctlFile}
MAX_PER_ADDRESS=${caps.maxPerIp}
MAX_SESSIONS=${caps.maxClients}
REFUSE_PER_ADDRESS_PORT=${REFUSALS.perAddress.port}
REFUSE_FULL_PORT=${REFUSALS.full.port}
`;
}

/** The sysctls of ProFTPD's namespace: its ephemeral range is exactly the slot's PassivePorts. */
export function renderNamespaceSysctls(keepaliveSeconds: number, range: { readonly min: number; readonly max: number }): string {
  return `# ProFTPD's fallback bind (INPORT_ANY) draws from this range: exactly the slot's PassivePorts.
net.ipv4.ip_local_port_range = ${range.min} ${range.max}
${keepaliveSysctlLines(keepaliveSeconds)}
`;
}

/**
 * The CloudWatch agent's configuration: ship the audit events file to the log group, one stream
 * per instance, flushed every 5 s. The agent reads the file from its last recorded offset, so the
 * file on disk is the buffer: a restart loses nothing, and a terminated instance at most the last
 * flush interval. Checked against the agent's documented schema in test/unit/audit-shipping.test.ts.
 */
export function renderCloudWatchAgentConfig(logGroupName: string): string {
  return `${JSON.stringify({
    agent: { run_as_user: 'root', logfile: '/opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log' },
    logs: {
      force_flush_interval: 5,
      logs_collected: {
        files: {
          collect_list: [{ file_path: AUDIT_LOG_FILE, log_group_name: logGroupName, log_stream_name: '{instance_id}', timezone: 'UTC' }],
        },
      },
    },
  })}\n`;
}

/**
 * A file as the user data carries it: the renderer's text without its comment lines but the first
 * (a config's first line says where it comes from). EC2 allows 16,384 bytes of user data; the
 * comments explain the renderers' code, where they stay.
 */
export function withoutComments(conf: string): string {
  const [first, ...rest] = conf.split('\n');
  return [first, ...rest.filter((l) => !/^\s*#/.test(l))].join('\n');
}

/** The slot's settings: every value the boot scripts read, and every file the renderers make. */
export function renderBootSettings(p: BootScriptParams, server: FtpServerName): BootSettings {
  const ftpsOn = ftpsEnabled(p);
  const proftpd = server === 'proftpd';
  if (p.sftp && !proftpd) throw new Error('SFTP needs ProFTPD: vsftpd has no SFTP');
  const range = { min: p.ftp.pasvMinPort, max: p.ftp.pasvMaxPort };
  const paths = proftpd ? EC2_PROFTPD_PATHS : EC2_VSFTPD_PATHS;
  // Every file without its comment lines (EC2's 16 KB: withoutComments).
  const file = (filePath: string, text: string, mode = '0644') => ({ path: filePath, mode, text: withoutComments(text) });
  const files: BootSettings['files'] = {
    'host-sysctl': file(HOST_SYSCTL_FILE, renderHostSysctls(p.keepaliveSeconds, range)),
    stunnel: file(STUNNEL_CONF, renderStunnelConf(`${p.fileSystemId}.efs.${p.region}.${p.urlSuffix}`)),
    pam: file(`/etc/pam.d/${paths.pamServiceName}`, renderPamService(ALLOW_FILE)),
    'server-conf': proftpd
      ? file(
          '/etc/proftpd/proftpd.conf',
          renderProftpdConf({
            ...p.ftp,
            paths: EC2_PROFTPD_PATHS,
            listenAddress: EC2_FTP_NAMESPACE.nsAddr,
            sftp: p.sftp && { port: p.sftp.port },
          }),
        )
      : file('/etc/vsftpd/vsftpd.conf', renderVsftpdConf({ ...p.ftp, paths: EC2_VSFTPD_PATHS })),
  };
  if (proftpd) {
    files['namespace-sysctl'] = file(FTP_NAMESPACE_SYSCTLS, renderNamespaceSysctls(p.keepaliveSeconds, range));
    files['namespace-env'] = file(
      FTP_NAMESPACE_ENV,
      renderFtpNamespaceEnv(EC2_FTP_NAMESPACE, range, FTP_NAMESPACE_SYSCTLS, p.ftp, p.sftp?.port),
    );
  }
  if (!proftpd && ftpsOn && p.ftp.ftps) files['openssl-conf'] = file(OPENSSL_CONF_FILE, renderOpenSslConf(p.ftp.ftps));
  if (p.audit) files['cloudwatch-agent'] = file(CLOUDWATCH_AGENT_CONFIG, renderCloudWatchAgentConfig(p.audit.logGroupName));
  const env: BootSettings['env'] = {
    SLOT: p.ftp.slot,
    SERVER: server,
    SERVER_LABEL: proftpd ? 'ProFTPD' : 'vsftpd',
    REGION: p.region,
    URL_SUFFIX: p.urlSuffix,
    FILE_SYSTEM_ID: p.fileSystemId,
    FTP_ROOT,
    ALLOW_FILE,
    FSTAB_LINE: `127.0.0.1:/ ${FTP_ROOT} nfs4 ${EFS_MOUNT_OPTIONS} 0 0`,
    PASV_MIN: range.min,
    PASV_MAX: range.max,
    PASV_ADDRESS: p.ftp.pasvAddress,
    PACKAGES: bootPackages(server).join(' '),
    BUILD_PACKAGES: proftpd ? PROFTPD_BUILD_PACKAGES.join(' ') : '',
    AGENT_DEBS: awsAgentPackages(p.region, p.audit !== undefined)
      .map((a) => `${a.bucket}/${a.key}`)
      .join(' '),
    APT_ATTEMPTS,
    APT_RETRY_SECONDS,
    USERS_SECRET_ARN: p.usersSecretArn,
    HEALTH_SECRET_ARN: p.healthSecretArn,
    CERTIFICATE_SECRET_ARN: ftpsOn ? (p.certificateSecretArn as string) : '',
    HOST_KEYS_SECRET_ARN: p.sftp?.hostKeysSecretArn ?? '',
    CERT_FILE: paths.certFile ?? '',
    KEY_FILE: paths.keyFile ?? '',
    READY_GROUP: p.readiness?.groupName ?? '',
    READY_HOOK: p.readiness?.hookName ?? '',
    // ProFTPD listens in its own namespace, vsftpd on the instance's addresses.
    READINESS_HOST: proftpd ? EC2_FTP_NAMESPACE.nsAddr : '127.0.0.1',
    LOG_GROUP: p.audit?.logGroupName ?? '',
    STACK_NAME: p.audit?.stackName ?? 'nlb-ftp',
    BUNDLE_BUCKET: p.bundle.bucket,
    BUNDLE_KEY: p.bundle.key,
    BUNDLE_DIGEST: bootScriptsDigest(),
    BAN_TABLE: p.bans?.tableName ?? '',
  };
  if (p.bans) {
    env.BAN_FAILURES = p.bans.failedLogins;
    env.BAN_WINDOW_SECONDS = p.bans.windowSeconds;
    env.BAN_SECONDS = p.bans.banSeconds;
    env.BAN_SYNC_SECONDS = p.bans.syncSeconds;
    env.BAN_EXEMPT = p.bans.exemptCidrs.join(' ');
  }
  return { version: 1, env, files };
}

/**
 * The complete EC2 user data for one slot, on Debian 13 for either server: scripts/bootstrap.sh
 * byte for byte, with the slot's settings (one line of JSON) between its NLBFTP_SETTINGS markers.
 */
export function renderUserData(p: BootScriptParams, server: FtpServerName): string {
  const settings = JSON.stringify(renderBootSettings(p, server));
  const bootstrap = fs.readFileSync(BOOTSTRAP_SCRIPT, 'utf8');
  const slot = `<<'${SETTINGS_DELIMITER}'\n{}\n${SETTINGS_DELIMITER}\n`;
  if (bootstrap.split(slot).length !== 2) throw new Error(`${BOOTSTRAP_SCRIPT} must hold exactly one empty settings block`);
  return bootstrap.replace(slot, () => `<<'${SETTINGS_DELIMITER}'\n${settings}\n${SETTINGS_DELIMITER}\n`);
}

/** The settings a user data writes (as text: values filled in, or `${Ref:X}` from harness/template's flatten). */
export function readBootSettings(userData: string): BootSettings {
  const start = `<<'${SETTINGS_DELIMITER}'\n`;
  const a = userData.indexOf(start);
  const b = userData.indexOf(`\n${SETTINGS_DELIMITER}\n`, a);
  if (a < 0 || b < 0) throw new Error('the user data writes no nlb-ftp settings');
  return bootSettingsSchema.parse(JSON.parse(userData.slice(a + start.length, b)));
}

/** A file of the settings by name (server-conf, pam, host-sysctl, ...), or an error naming it. */
export function settingsFile(settings: BootSettings, name: string): BootSettings['files'][string] {
  const f = settings.files[name];
  if (!f) throw new Error(`the settings have no file ${name}`);
  return f;
}
