/**
 * Names that the stack writes and operators' tools read: the backends' banner, alarm names and
 * stack outputs. Kept apart from contract.ts so the checker Lambda's bundle does not carry them.
 */

/**
 * The 220 banner every backend sends: it names the slot, so the tests, the sandbox and operators
 * can tell which backend answered. Written by the server renderers, read by `slotFromBanner`.
 */
export function bannerFor(slot: number): string {
  return `nlb-ftp backend slot ${slot} ready`;
}

/** The slot named in a 220 banner anywhere in `text` (a client's protocol log), if any. */
export function slotFromBanner(text: string): number | undefined {
  const m = /220 nlb-ftp backend slot (\d+) ready/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * Alarm names, after the stack name, so `describe-alarms --alarm-name-prefix <stack>` finds
 * them all; the monitoring constructs create them and `npm run status` reads them.
 */
export const AlarmNames = {
  slotPrefix: (stack: string, slot: number) => `${stack}-slot${slot}-`,
  slotLoginFailing: (stack: string, slot: number) => `${stack}-slot${slot}-ftp-login-failing`,
  slotTargetUnhealthy: (stack: string, slot: number) => `${stack}-slot${slot}-nlb-target-unhealthy`,
  serviceDegraded: (stack: string) => `${stack}-ftp-service-degraded`,
  tooFewHealthy: (stack: string) => `${stack}-too-few-healthy-backends`,
  checkerBroken: (stack: string) => `${stack}-checker-broken`,
  checkerFailOpen: (stack: string) => `${stack}-checker-fail-open`,
  checkerHeartbeat: (stack: string) => `${stack}-checker-heartbeat-missing`,
  checkerErrors: (stack: string) => `${stack}-checker-errors`,
  bruteForce: (stack: string) => `${stack}-ftp-failed-logins`,
  usersSkipped: (stack: string) => `${stack}-ftp-users-skipped`,
} as const;

/** Where each alarm's runbook entry is: docs/alarms.md in the nlb-ftp repository. */
export const ALARM_RUNBOOK = 'docs/alarms.md';

/**
 * The runbook entry (a `## heading` of docs/alarms.md) of an alarm, from its name: the part after
 * the stack name, with a slot's number taken out (`NlbFtp-slot3-ftp-login-failing` ->
 * `slot-ftp-login-failing`).
 */
export function runbookAnchor(stack: string, alarmName: string): string {
  if (!alarmName.startsWith(`${stack}-`)) throw new Error(`alarm ${alarmName} does not start with the stack name ${stack}`);
  return alarmName.slice(stack.length + 1).replace(/^slot\d+-/, 'slot-');
}

/** The cluster-wide alarms `npm run status` summarises, most important first. */
export const CLUSTER_ALARMS = [
  AlarmNames.serviceDegraded,
  AlarmNames.tooFewHealthy,
  AlarmNames.checkerBroken,
  AlarmNames.checkerFailOpen,
  AlarmNames.bruteForce,
  AlarmNames.usersSkipped,
];

/** Stack output keys the stack writes and `npm run status` reads. */
export const OutputNames = {
  nlbDnsName: 'NlbDnsName',
  elasticIps: 'ElasticIps',
  controlTargetGroupArn: 'ControlTargetGroupArn',
  /** The SFTP target group (absent when SFTP is off): `status` shows its health, `roll` moves it with port 21. */
  sftpTargetGroupArn: 'SftpTargetGroupArn',
  /** The bans table (absent when bans are off): `status` lists it, `unban` lifts from it. */
  banTableName: 'BanTableName',
  slotPassiveRange: (slot: number) => `Slot${slot}PassiveRange`,
  slotGroup: (slot: number) => `Slot${slot}Group`,
  slotAz: (slot: number) => `Slot${slot}Az`,
} as const;

/** What an FTP client needs for nlb-ftp's FTPS: curl's flags, given the CA (or self-signed certificate) file. */
export function curlFtpsArgs(caFile: string): string[] {
  return ['--ssl-reqd', '--cacert', caFile];
}

/** What an FTP client needs for nlb-ftp's FTPS: lftp's `set` commands (TLS on control and data). */
export function lftpFtpsSettings(caFile: string): string[] {
  return ['set ftp:ssl-force true', 'set ftp:ssl-protect-data true', `set ssl:ca-file ${caFile}`];
}
