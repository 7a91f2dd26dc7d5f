/**
 * Renders proftpd.conf for one backend slot: the same contract as vsftpd.conf (passive range,
 * public address, client-IP check, jail, no anonymous login, limits, banner, FTPS), in ProFTPD's
 * words. Pure; no aws-cdk-lib import.
 *
 * Why ProFTPD at all: it closes a passive port's listening socket as soon as it accepts the data
 * connection (src/data.c), so one port serves many transfers at once; vsftpd keeps it until the
 * transfer ends, so a port carries one transfer at a time (measured; see bench/RESULTS.md).
 *
 * The same output runs on Debian 13's ProFTPD (EC2, booted sandbox) and on this machine's (tests); only
 * paths and the listen address differ, through `paths` and `listenAddress`.
 */

import { AUDIT_FIFO, PROFTPD_AUDIT_CLASSES, PROFTPD_AUDIT_FORMAT } from '../shared/audit';
import { CONTROL_PORT } from '../shared/contract';
import type { FtpsSettings } from '../shared/ftps';
import { bannerFor } from '../shared/names';
import { SSH_HOST_KEY_TYPES } from '../shared/ssh-host-keys';
import { FTPS_CIPHERS, type VsftpdSlotSettings } from './vsftpd-conf';

/** Filesystem locations; the defaults are those of the EC2 backends (Debian 13). */

/**
 * ProFTPD's own caps sit this far above the configured ones: the instance's kernel refuses the
 * connection over a cap first, with a 421 that clients retry, where ProFTPD would answer 530
 * (lib/backend/user-data.ts, REFUSALS). Its own count is only a backstop.
 */
export const PROFTPD_CAP_MARGIN = 2;
export interface ProftpdPaths {
  /** PAM service name, i.e. the file under /etc/pam.d (the allow-list of FTP users). */
  readonly pamServiceName: string;
  /** Where each user's jail is: `<usersRoot>/<user>` (root-owned), with the writable `files/` inside. */
  readonly usersRoot: string;
  /** Transfer log (never contains passwords). */
  readonly transferLog: string;
  /** Server log (start-up, errors; never passwords). */
  readonly systemLog: string;
  /** The audit lines (lib/shared/audit.ts): on EC2 the FIFO only the audit converter reads. */
  readonly auditLog: string;
  readonly pidFile: string;
  readonly scoreboardFile: string;
  /** Where the DSO modules are (mod_tls); unset: the build's own directory. */
  readonly modulePath?: string;
  /** The unprivileged account the server runs as between sessions. */
  readonly user: string;
  readonly group: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** The SFTP host keys (PEM, 0600), one per algorithm; needed with `sftp`. */
  readonly hostKeyFiles?: readonly string[];
  /** The users' public keys, one file per user name; unset: SFTP takes passwords only. */
  readonly userKeysDir?: string;
}

/** Modules the config needs that a build may ship as loadable (DSO) modules instead of built in. */
const DSO_MODULES = ['mod_xfer.c', 'mod_ls.c', 'mod_delay.c'] as const;
/** nlb-ftp's ProFTPD module (lib/backend/scripts/mod_nlbftp_uploads.c), built on the backend at boot. */
export const UPLOADS_MODULE = 'mod_nlbftp_uploads.c';

/**
 * Where the users sync writes each user's public keys from the users secret (one RFC 4716 file per
 * user, the format mod_sftp reads), on EC2. nlb-ftp-apply-users.py's KEYS_DIR default is the same
 * (test/unit/sftp.test.ts holds them equal).
 */
export const SFTP_USER_KEYS_DIR = '/etc/nlb-ftp/ssh-keys';

export const EC2_PROFTPD_PATHS: ProftpdPaths = {
  pamServiceName: 'nlb-ftp',
  usersRoot: '/srv/ftp/users',
  transferLog: '/var/log/proftpd/xferlog',
  systemLog: '/var/log/proftpd/proftpd.log',
  auditLog: AUDIT_FIFO,
  pidFile: '/run/proftpd.pid',
  scoreboardFile: '/run/proftpd.scoreboard',
  user: 'proftpd',
  group: 'nogroup',
  certFile: '/etc/proftpd/nlb-ftp.crt',
  keyFile: '/etc/proftpd/nlb-ftp.key',
  hostKeyFiles: SSH_HOST_KEY_TYPES.map((t) => `/etc/proftpd/nlb-ftp-ssh-${t}.key`),
  userKeysDir: SFTP_USER_KEYS_DIR,
};

/**
 * The port the backends' SFTP service listens on; the NLB's SFTP listener (sftpPort, 22 unless
 * set) forwards to it. Not 22: the instance's own sshd (Debian's image has one) keeps that port,
 * and nothing on the NLB reaches it.
 */
export const SFTP_BACKEND_PORT = 2222;

/** The same slot settings as vsftpd's, with ProFTPD's own paths. */
export interface ProftpdSlotSettings extends Omit<VsftpdSlotSettings, 'paths'> {
  readonly paths?: ProftpdPaths;
  /** Serve SFTP (mod_sftp) on this port too, with the same users, jail, limits and audit trail. @default no SFTP */
  readonly sftp?: { readonly port: number };
}

function quote(v: string): string {
  if (/["\n\\]/.test(v)) throw new Error(`cannot quote ${JSON.stringify(v)} for proftpd.conf`);
  return `"${v}"`;
}

function ftpsBlock(ftps: FtpsSettings | undefined, paths: ProftpdPaths): string[] {
  if (!ftps || ftps.mode === 'off') return ['# plain FTP only: passwords travel in clear text', 'TLSEngine off'];
  if (!paths.certFile || !paths.keyFile) throw new Error('FTPS needs certFile and keyFile paths');
  return [
    `# FTPS ${ftps.mode}: explicit AUTH TLS on port 21`,
    'TLSEngine on',
    // on = control and data connections must be protected (vsftpd's force_local_logins_ssl and force_local_data_ssl).
    `TLSRequired ${ftps.mode === 'required' ? 'on' : 'off'}`,
    `TLSProtocol TLSv1.2${ftps.maxTlsVersion === '1.3' ? ' TLSv1.3' : ''}`,
    '# TLS 1.2+ only: ECDHE with AEAD ciphers',
    `TLSCipherSuite ${FTPS_CIPHERS}`,
    `TLSRSACertificateFile ${paths.certFile}`,
    `TLSRSACertificateKeyFile ${paths.keyFile}`,
    'TLSVerifyClient off',
    'TLSRenegotiate none',
    // mod_tls requires data connections to resume the control connection's TLS session unless told
    // otherwise: vsftpd's require_ssl_reuse, the same safety and the same 522 for clients without it.
    ...(ftps.requireSslReuse ? [] : ['TLSOptions NoSessionReuseRequired']),
  ];
}

/**
 * SFTP (mod_sftp) on its own port: a virtual host on the same address, so the users, jail, limits,
 * hidden uploads and audit lines of <Global> apply as they do to FTP. Every backend loads the same
 * host keys. A user's public keys (the users secret's `publicKeys`) or password; no compression,
 * no TLS here.
 */
function sftpBlock(port: number, address: string, paths: ProftpdPaths): string[] {
  return [
    `# SFTP on ${port}: the NLB's SFTP listener forwards here; the instance's own sshd is never reachable`,
    `<VirtualHost ${address}>`,
    `  Port ${port}`,
    '  SFTPEngine on',
    ...(paths.hostKeyFiles ?? []).map((f) => `  SFTPHostKey ${f}`),
    ...(paths.userKeysDir
      ? ['  SFTPAuthMethods publickey password', `  SFTPAuthorizedUserKeys file:${paths.userKeysDir}/%u`]
      : ['  SFTPAuthMethods password']),
    '  SFTPCompression off',
    '  SocketOptions keepalive on',
    '</VirtualHost>',
  ];
}

export function renderProftpdConf(s: ProftpdSlotSettings): string {
  const paths = s.paths ?? EC2_PROFTPD_PATHS;
  if (!/^[a-z0-9._-]+$/.test(paths.pamServiceName)) {
    // PAM lower-cases service names when it looks for /etc/pam.d/NAME; anything else silently
    // falls back to /etc/pam.d/other, bypassing the FTP user allow-list.
    throw new Error(`pamServiceName ${JSON.stringify(paths.pamServiceName)} must be lower-case letters, digits, '.', '_' or '-'`);
  }
  if (s.pasvMinPort >= s.pasvMaxPort) {
    // ProFTPD refuses PassivePorts with min = max; a 1-port range is given as two ports, and the
    // second belongs to the next slot, so r = 1 cannot be expressed. Config validation says so.
    throw new Error(`ProFTPD needs at least 2 passive ports per backend (PassivePorts ${s.pasvMinPort} ${s.pasvMaxPort})`);
  }
  const ftpsOn = s.ftps !== undefined && s.ftps.mode !== 'off';
  if (s.sftp && !paths.hostKeyFiles?.length) throw new Error('SFTP needs hostKeyFiles paths');
  const address = s.listenAddress ?? '0.0.0.0';
  const lines = [
    `# proftpd.conf for nlb-ftp backend slot ${s.slot}. Generated by nlb-ftp; edits are lost on redeploy.`,
    '<IfModule mod_dso.c>',
    ...(paths.modulePath ? [`  ModulePath ${paths.modulePath}`] : []),
    // Transfers, listings and the failed-login timing delay: compiled in by Debian 12, loadable
    // modules in Debian 13 (the booted sandbox found it: "unknown configuration directive
    // 'AllowOverwrite'"). Loaded only where they are not built in.
    ...DSO_MODULES.flatMap((m) => [`  <IfModule !${m}>`, `    LoadModule ${m}`, '  </IfModule>']),
    ...(ftpsOn ? ['  LoadModule mod_tls.c'] : []),
    ...(s.sftp ? ['  LoadModule mod_sftp.c'] : []),
    // nlb-ftp's own (scripts/mod_nlbftp_uploads.c, built at boot): a cut-off FTP or FTPS upload is
    // never renamed into place (below, HiddenStores).
    `  LoadModule ${UPLOADS_MODULE}`,
    '</IfModule>',
    // Standalone and IPv4; systemd (EC2) or the sandbox supervises the process.
    'ServerType standalone',
    `ServerName ${quote(`nlb-ftp backend slot ${s.slot}`)}`,
    `ServerIdent on ${quote(bannerFor(s.slot))}`,
    'DefaultServer on',
    `Port ${CONTROL_PORT}`,
    ...(s.listenAddress ? [`DefaultAddress ${s.listenAddress}`, 'SocketBindTight on'] : []),
    'UseIPv6 off',
    `PidFile ${paths.pidFile}`,
    `ScoreboardFile ${paths.scoreboardFile}`,
    'WtmpLog off',
    // The kernel enforces both caps with a 421 (user-data.ts, REFUSALS); these are backstops just above.
    `MaxInstances ${s.maxClients + PROFTPD_CAP_MARGIN}`,
    // ProFTPD's default listen backlog is small; a burst of logins must queue, not be refused (255 is its maximum).
    'TCPBackLog 255',
    // Keepalive probes keep an idle control connection open through the NLB (sysctls set the timing).
    'SocketOptions keepalive on',
    `SystemLog ${paths.systemLog}`,
    // Warnings and errors only: at notice level ProFTPD logs every failed login as "USER <name>: no
    // such user found", and a password typed as a user name would land in the system log and, as
    // the unit runs ProFTPD with -n (logs to stderr), in the journal. The audit trail records logins
    // instead, with names that are not FTP users redacted. Found by booting: the sandbox's journal
    // stand-in held the typed name.
    'SyslogLevel warn',
    // The audit trail: logins, transfers, file operations and session ends, tab-separated, into the
    // audit FIFO (nlb-ftp-audit turns each line into a JSON event). Never %J or %r: no arguments of PASS.
    `LogFormat nlbftp-audit "${PROFTPD_AUDIT_FORMAT}"`,
    // What FTP, FTPS and SFTP share (<Global>: the main server and the SFTP virtual host).
    // No DNS lookups: a slow resolver must never delay a login.
    'UseReverseDNS off',
    '<Global>',
    // Nor ident lookups.
    '<IfModule mod_ident.c>',
    'IdentLookups off',
    '</IfModule>',
    `User ${paths.user}`,
    `Group ${paths.group}`,
    // Users: only named local accounts (from Secrets Manager) on the PAM allow-list; no anonymous
    // login (there is no <Anonymous> section), each user jailed in its own directory.
    'AuthPAM on',
    `AuthPAMConfig ${paths.pamServiceName}`,
    'AuthOrder mod_auth_pam.c* mod_auth_unix.c',
    'RequireValidShell off',
    'UseFtpUsers off',
    '# every user is jailed: the root-owned <usersRoot>/<user>; the session starts in its writable files/',
    `DefaultRoot ${paths.usersRoot}/%u`,
    'Umask 027',
    'AllowOverwrite on',
    // An upload is written under a hidden name (.in.NAME.) and renamed when complete; one cut off
    // is deleted. ProFTPD alone takes an FTP or FTPS client killed mid-upload for a finished one
    // (the data connection ends the same way); mod_nlbftp_uploads refuses that rename (no TLS
    // close_notify, or the control connection gone too). Resuming (REST/APPE) is refused, by
    // ProFTPD's own rule. docs/users.md has what each case does, measured.
    'HiddenStores on',
    'DeleteAbortedStores on',
    '<Directory />',
    '  HideFiles "^\\.in\\..+\\.$"',
    '</Directory>',
    'ListOptions "" maxdepth 1',
    // Listings show no local user or group names (vsftpd's hide_ids).
    'DirFakeUser on ftp',
    'DirFakeGroup on ftp',
    // Password guessing: ProFTPD's mod_delay evens out login timing; drop the session after 3 failures.
    'MaxLoginAttempts 3',
    `MaxClientsPerHost ${s.maxPerIp + PROFTPD_CAP_MARGIN}`,
    'TimeoutLogin 60',
    'TimeoutIdle 300',
    'TimeoutNoTransfer 300',
    'TimeoutStalled 300',
    // Logging: transfers and server events only; never commands (they could hold sensitive paths).
    `TransferLog ${paths.transferLog}`,
    `ExtendedLog ${paths.auditLog} ${PROFTPD_AUDIT_CLASSES} nlbftp-audit`,
    '</Global>',
    // Active mode cannot pass an NLB (the backend would connect out to the client); refuse PORT/EPRT.
    '# active mode cannot work through an NLB',
    '<Limit PORT EPRT>',
    '  DenyAll',
    '</Limit>',
    // Passive mode: this slot's own range, advertised at the NLB's public address. ProFTPD frees a
    // passive port once the data connection is accepted, so the range is shared by all transfers.
    `PassivePorts ${s.pasvMinPort} ${s.pasvMaxPort}`,
    "# the NLB's static IP in this backend's AZ",
    `MasqueradeAddress ${s.pasvAddress}`,
    // The data connection must come from the control connection's IP. The NLB preserves client IPs
    // for instance targets, so this check holds and stops data-connection theft.
    '# data connections must come from the client of the control connection',
    'AllowForeignAddress off',
    '<IfModule mod_tls.c>',
    ...ftpsBlock(s.ftps, paths).map((l) => `  ${l}`),
    '</IfModule>',
    ...(s.sftp ? sftpBlock(s.sftp.port, address, paths) : []),
  ];
  return `${lines.join('\n')}\n`;
}
