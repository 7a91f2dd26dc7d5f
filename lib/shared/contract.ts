/**
 * Types and names shared by the CDK app and the health-checker Lambda. Defined once here so the
 * stack and the handler cannot drift apart. Pure: no aws-cdk-lib import.
 */
import type { FtpsMode } from './ftps';

/** One backend as the checker probes it: a slot's current instance, found at run time. */
export interface BackendRef {
  readonly slot: number;
  readonly instanceId: string;
  readonly privateIp: string;
  /**
   * The slot's passive range. A data port outside it has no NLB listener, so the probe treats an
   * offer outside it as a failed data step (ProFTPD falls back to any port when its range is busy).
   */
  readonly passivePorts?: { readonly min: number; readonly max: number };
}

/**
 * One slot as the stack describes it to the checker. Its instance is not known at synth time (its
 * Auto Scaling group replaces it when it fails, `npm run roll` when it is updated), but the slot's
 * passive target groups hold only that slot's current instance, so one of them names it.
 */
export interface SlotRef {
  readonly slot: number;
  /** The full name (`targetgroup/<name>/<id>`) of one of the slot's passive target groups. */
  readonly passiveTargetGroup: string;
  readonly passivePorts: { readonly min: number; readonly max: number };
}

/**
 * The inventory travels in one environment variable as compact tuples
 * `[slot, passiveTargetGroupFullName, minPort, maxPort]`; the target group's ARN is rebuilt from
 * the port-21 group's ARN (same account and region). A full name is at most 63 characters, so 24
 * slots (the most one stack can hold) stay near 2.3 KB, inside Lambda's 4 KB environment limit;
 * `test/unit/health-checker-stack.test.ts` checks the worst case.
 */
export type InventoryTuple = readonly [number, string, number, number];

export function encodeInventory(slots: readonly SlotRef[]): string {
  return JSON.stringify(slots.map((s): InventoryTuple => [s.slot, s.passiveTargetGroup, s.passivePorts.min, s.passivePorts.max]));
}

export function decodeInventory(text: string): SlotRef[] {
  const raw: unknown = JSON.parse(text);
  if (!Array.isArray(raw)) throw new Error('inventory must be a JSON array');
  return raw.map((t, i) => {
    const ok =
      Array.isArray(t) &&
      t.length === 4 &&
      typeof t[0] === 'number' &&
      typeof t[1] === 'string' &&
      t[1].startsWith('targetgroup/') &&
      typeof t[2] === 'number' &&
      typeof t[3] === 'number';
    if (!ok) throw new Error(`inventory entry ${i} must be [slot, "targetgroup/<name>/<id>", minPort, maxPort]`);
    return { slot: t[0], passiveTargetGroup: t[1], passivePorts: { min: t[2], max: t[3] } };
  });
}

/** The ARN of a target group of the same account and region as `sibling`, from its full name. */
export function targetGroupArn(sibling: string, fullName: string): string {
  const at = sibling.indexOf(':targetgroup/');
  if (at < 0) throw new Error(`not a target group ARN: ${sibling}`);
  return `${sibling.slice(0, at + 1)}${fullName}`;
}

/**
 * The EC2 tag that takes an instance out of the checker's hands: it never registers an instance
 * that carries it (it may still deregister it). `npm run roll` sets it on the instance it drains;
 * operators can set it for maintenance. Its value says who set it and why.
 */
export const OUT_OF_ROTATION_TAG = 'nlbftp:out-of-rotation';

/** The FTP control port: the port-21 listener, target group and health checks. */
export const CONTROL_PORT = 21;

/** Environment variables of the checker Lambda. */
export const CheckerEnv = {
  inventory: 'NLBFTP_INVENTORY',
  controlTargetGroupArn: 'NLBFTP_CONTROL_TG_ARN',
  /** With SFTP: its target group, which the checker decides from its own SFTP login probes; and the backends' SFTP port. */
  sftpTargetGroupArn: 'NLBFTP_SFTP_TG_ARN',
  sftpPort: 'NLBFTP_SFTP_PORT',
  /** With generated host keys: their fingerprints (`SHA256:... SHA256:...`), which the SFTP probe pins. */
  sftpHostKeys: 'NLBFTP_SFTP_HOST_KEYS',
  healthSecretArn: 'NLBFTP_HEALTH_SECRET_ARN',
  stateTable: 'NLBFTP_STATE_TABLE',
  intervalSeconds: 'NLBFTP_INTERVAL_SECONDS',
  timeoutSeconds: 'NLBFTP_TIMEOUT_SECONDS',
  fallThreshold: 'NLBFTP_FALL_THRESHOLD',
  riseThreshold: 'NLBFTP_RISE_THRESHOLD',
  /** Seconds of each invocation to spend on rounds; the schedule fires once a minute. */
  budgetSeconds: 'NLBFTP_BUDGET_SECONDS',
  /** `off`, `optional` or `required`: anything but `off` makes the probe speak FTPS. */
  ftps: 'NLBFTP_FTPS',
  /** The FTPS certificate secret the probe verifies backends against; set unless FTPS is off. */
  certificateSecretArn: 'NLBFTP_CERT_SECRET_ARN',
} as const;

/** What the checker needs to know; `checkerEnvironment` encodes it, the handler's `readEnv` decodes it. */
export interface CheckerEnvSettings {
  readonly slots: readonly SlotRef[];
  readonly controlTargetGroupArn: string;
  /**
   * The SFTP target group, the backends' SFTP port and, with generated keys, the host keys'
   * fingerprints separated by spaces (unset: keys the user brought, not pinned). @default no SFTP
   */
  readonly sftp?: { readonly targetGroupArn: string; readonly port: number; readonly hostKeys?: string };
  readonly healthSecretArn: string;
  readonly stateTable: string;
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly fallThreshold: number;
  readonly riseThreshold: number;
  readonly budgetSeconds: number;
  /** Unset or mode `off`: plain FTP probes. */
  readonly ftps?: { readonly mode: FtpsMode; readonly certificateSecretArn: string };
}

/** The checker's environment variables, for the stack, the sandbox, the benchmarks and the tests alike. */
export function checkerEnvironment(s: CheckerEnvSettings): Record<string, string> {
  return {
    [CheckerEnv.inventory]: encodeInventory(s.slots),
    [CheckerEnv.controlTargetGroupArn]: s.controlTargetGroupArn,
    ...(s.sftp ? { [CheckerEnv.sftpTargetGroupArn]: s.sftp.targetGroupArn, [CheckerEnv.sftpPort]: String(s.sftp.port) } : {}),
    ...(s.sftp?.hostKeys ? { [CheckerEnv.sftpHostKeys]: s.sftp.hostKeys } : {}),
    [CheckerEnv.healthSecretArn]: s.healthSecretArn,
    [CheckerEnv.stateTable]: s.stateTable,
    [CheckerEnv.intervalSeconds]: String(s.intervalSeconds),
    [CheckerEnv.timeoutSeconds]: String(s.timeoutSeconds),
    [CheckerEnv.fallThreshold]: String(s.fallThreshold),
    [CheckerEnv.riseThreshold]: String(s.riseThreshold),
    [CheckerEnv.budgetSeconds]: String(s.budgetSeconds),
    [CheckerEnv.ftps]: s.ftps?.mode ?? 'off',
    ...(s.ftps && s.ftps.mode !== 'off' ? { [CheckerEnv.certificateSecretArn]: s.ftps.certificateSecretArn } : {}),
  };
}

/** CloudWatch namespace and metric names the checker emits and the alarms read. */
export const MetricNames = {
  namespace: 'NlbFtp',
  probeSuccess: 'ProbeSuccess',
  probeLatency: 'ProbeLatencyMs',
  /** With SFTP: each slot's SFTP login probe (1 passed, 0 failed). */
  sftpProbeSuccess: 'SftpProbeSuccess',
  registeredBackends: 'RegisteredBackends',
  healthyBackends: 'HealthyBackends',
  heartbeat: 'CheckerHeartbeat',
  failOpen: 'FailOpenHold',
} as const;

/** Shape of the health-check account's secret: `{"username": "...", "password": "..."}`. */
export interface HealthCheckCredentials {
  readonly username: string;
  readonly password: string;
}

export const HEALTH_CHECK_USER = 'nlbftp-health';
