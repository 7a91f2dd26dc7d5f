/**
 * The audit trail: one JSON event per login, failed login, transfer, file operation and session
 * end, the same schema for both servers; and the users sync's own events (users-synced, and
 * user-skipped with its reason), which the backends' apply script writes to the same file. Pure; no aws-cdk-lib import. The backends' converter
 * (lib/backend/scripts/nlb-ftp-audit.py) writes these events, the CloudWatch agent ships them, and
 * the stack's metric filters and saved query read them: all three take their names from here.
 *
 * How events come to be: each server writes its own log lines into a FIFO that only the converter
 * reads (ProFTPD through `LogFormat`/`ExtendedLog`, vsftpd through `vsftpd_log_file`), so no raw
 * server line ever lands on disk. The converter writes the user name only when it is an FTP user
 * on the allow-list: a password typed into the user name field never reaches a file.
 */

/** The event kinds, as the `event` field spells them. */
export const AUDIT_EVENTS = [
  'login',
  'login-failed',
  'upload',
  'download',
  'delete',
  'rename',
  'mkdir',
  'rmdir',
  'session-end',
  'users-synced',
  'user-skipped',
  'ban',
  'unban',
] as const;
export type AuditEventKind = (typeof AUDIT_EVENTS)[number];

/** One event, as a JSON line. Fields a server does not report are null, never left out. */
export interface AuditEvent {
  /** ISO 8601, UTC, with milliseconds (vsftpd logs whole seconds). */
  readonly time: string;
  readonly event: AuditEventKind;
  readonly stack: string;
  readonly slot: number;
  readonly instance: string;
  readonly server: 'vsftpd' | 'proftpd';
  /** The FTP user; null when the name given is not an FTP user (it may be a mistyped password). */
  readonly user: string | null;
  /** null for the users sync's events, which no client causes. */
  readonly clientIp: string | null;
  /** The client's source port of the control connection; null on vsftpd, which does not log it. */
  readonly clientPort: number | null;
  /** The FTP command: USER/PASS for logins, STOR, RETR, DELE, RNTO, MKD, RMD; null for session-end. */
  readonly command: string | null;
  /** The path as the client sees it inside its jail (`/files/...`); for rename, the new name. */
  readonly path: string | null;
  /** rename only: the old name. */
  readonly fromPath: string | null;
  /** Bytes moved: transfers, and the session total at session-end. */
  readonly bytes: number | null;
  /** Transfer time, or the session's length at session-end. vsftpd's is derived from its rate. */
  readonly durationMs: number | null;
  /** ok or fail: what the metric filters count. */
  readonly result: 'ok' | 'fail';
  /** The FTP reply code; ProFTPD logs it, vsftpd does not (null). */
  readonly code: number | null;
  /** 'ftp' or 'ftps' where the server says (ProFTPD); null otherwise. */
  readonly protocol: 'ftp' | 'ftps' | 'sftp' | null;
  /** user-skipped: why the users sync skipped that entry; ban and unban: why. */
  readonly reason: string | null;
  /** users-synced: how many FTP users the sync applied; ban: the failed logins that caused it. */
  readonly count: number | null;
}

/** Every field, in the order the converter writes them, with its meaning: docs/audit.md's table. */
export const AUDIT_FIELDS: ReadonlyArray<readonly [keyof AuditEvent, string]> = [
  ['time', 'ISO 8601 UTC with milliseconds (vsftpd: whole seconds)'],
  ['event', AUDIT_EVENTS.join(', ')],
  ['stack', 'the stack name'],
  ['slot', 'the backend slot (1..N)'],
  ['instance', 'the EC2 instance ID'],
  ['server', 'vsftpd or proftpd'],
  ['user', 'the FTP user; null when the name given is not an FTP user (it may be a mistyped password)'],
  ['clientIp', "the client's IP (the NLB preserves it); null for the users sync's events"],
  ['clientPort', "the client's control-connection port; null on vsftpd"],
  ['command', 'USER/PASS, STOR, RETR, DELE, RNTO, MKD, RMD; null at session-end'],
  ['path', 'the path inside the jail, as the client sees it; for rename the new name'],
  ['fromPath', 'rename only: the old name'],
  ['bytes', 'bytes transferred; at session-end, the session total'],
  ['durationMs', "the transfer's time (vsftpd: from its logged rate); at session-end, the session's length"],
  ['result', 'ok or fail'],
  ['code', 'the FTP reply code; null on vsftpd'],
  ['protocol', 'ftp, ftps or sftp; null on vsftpd'],
  ['reason', 'user-skipped: why the users sync skipped that entry of the users secret; ban and unban: why; null otherwise'],
  ['count', 'users-synced: the FTP users that sync applied; ban: the failed logins over all backends that caused it; null otherwise'],
];

/** The stack's audit log group: the stack creates it, `npm run status` names it. */
export const auditLogGroupName = (stackName: string) => `/nlb-ftp/${stackName}/audit`;

/** On the backends: the FIFO the server writes into, and the JSON lines file the agent ships. */
export const AUDIT_FIFO = '/run/nlb-ftp/audit.fifo';
export const AUDIT_LOG_FILE = '/var/log/nlb-ftp/audit.log';

/**
 * ProFTPD's `LogFormat` for the FIFO: tab-separated, in the converter's order. `%U` (the name as
 * typed) goes only to the converter; `%J`/`%r` (command arguments, PASS among them) are never used.
 */
export const PROFTPD_AUDIT_FORMAT = [
  '%{epoch}.%{millisecs}', // time
  '%P', // session process
  '%a', // client IP
  '%{remote-port}',
  '%u', // the user once logged in, else -
  '%U', // the name given with USER (the converter keeps it only if it is an FTP user)
  '%m', // command (EXIT: the session ended)
  '%s', // reply code
  '%F', // path as the client sees it
  '%w', // RNTO: the old name
  '%b', // bytes
  '%{transfer-millisecs}',
  '%{protocol}',
].join('\t');

/** The ExtendedLog command classes written: logins, reads, writes and the end of each session. */
export const PROFTPD_AUDIT_CLASSES = 'AUTH,READ,WRITE,EXIT';

/**
 * CloudWatch Logs metric filter patterns over the events (JSON pattern syntax:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
 * test/integration/sandbox-one-backend.test.ts matches each against the real servers' events.
 */
export const AUDIT_FILTERS = {
  /** Failed logins, one per failed PASS (or USER refused at once). */
  failedLogins: { pattern: '{ $.event = "login-failed" }', metric: 'FailedLogins', value: '1' },
  /** Completed uploads and downloads. */
  transfers: { pattern: '{ ($.event = "upload" || $.event = "download") && $.result = "ok" }', metric: 'Transfers', value: '1' },
  /** Bytes of those transfers. */
  bytes: { pattern: '{ ($.event = "upload" || $.event = "download") && $.result = "ok" }', metric: 'TransferBytes', value: '$.bytes' },
  /** Entries of the users secret that a backend's users sync skipped (each sync, every 5 minutes). */
  skippedUsers: { pattern: '{ $.event = "user-skipped" }', metric: 'SkippedUsers', value: '1' },
  /**
   * Bans and their ends, by the dimension Event (ban, unban): one filter for both, as each filter is
   * a CloudFormation resource and the stack's 500 are counted (lib/config/resource-budget.ts).
   * Written once per ban, by the backend that decided it.
   */
  bans: { pattern: '{ $.event = "ban" || $.event = "unban" }', metric: 'BanEvents', value: '1', dimensions: { Event: '$.event' } },
} as const;

export type AuditFilterName = keyof typeof AUDIT_FILTERS;

/** The metric namespace of the filters (the checker's metrics are in the same one). */
export const AUDIT_METRIC_NAMESPACE = 'NlbFtp/Audit';

/** The saved Logs Insights query: who touched this path (edit the path in the console). */
export const WHO_TOUCHED_QUERY = {
  fields: ['@timestamp', 'event', 'user', 'clientIp', 'command', 'path', 'fromPath', 'bytes', 'result', 'slot'],
  filter: 'path like "/files/CHANGE-ME" or fromPath like "/files/CHANGE-ME"',
  sort: '@timestamp desc',
  limit: 200,
} as const;
