/**
 * Types and names shared by the CDK app and the health-checker Lambda. Defined once here so the
 * stack and the handler cannot drift apart. Pure: no aws-cdk-lib import.
 */
import type { FtpsMode } from './ftps';

/** One backend as the checker sees it. */
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
 * The inventory travels in one environment variable as compact tuples `[slot, instanceId, ip]`.
 * N is at most 49 (the NLB listener limit), so it stays under ~2.5 KB, inside Lambda's 4 KB
 * environment limit; `test/unit/health-checker-stack.test.ts` checks the worst case.
 */
export type InventoryTuple = readonly [number, string, string] | readonly [number, string, string, number, number];

export function encodeInventory(backends: readonly BackendRef[]): string {
  return JSON.stringify(
    backends.map(
      (b): InventoryTuple =>
        b.passivePorts ? [b.slot, b.instanceId, b.privateIp, b.passivePorts.min, b.passivePorts.max] : [b.slot, b.instanceId, b.privateIp],
    ),
  );
}

export function decodeInventory(text: string): BackendRef[] {
  const raw: unknown = JSON.parse(text);
  if (!Array.isArray(raw)) throw new Error('inventory must be a JSON array');
  return raw.map((t, i) => {
    const ok =
      Array.isArray(t) &&
      typeof t[0] === 'number' &&
      typeof t[1] === 'string' &&
      typeof t[2] === 'string' &&
      (t.length === 3 || (t.length === 5 && typeof t[3] === 'number' && typeof t[4] === 'number'));
    if (!ok)
      throw new Error(`inventory entry ${i} must be [slot, instanceId, privateIp] or [slot, instanceId, privateIp, minPort, maxPort]`);
    return { slot: t[0], instanceId: t[1], privateIp: t[2], ...(t.length === 5 ? { passivePorts: { min: t[3], max: t[4] } } : {}) };
  });
}

/** The FTP control port: the port-21 listener, target group and health checks. */
export const CONTROL_PORT = 21;

/** Environment variables of the checker Lambda. */
export const CheckerEnv = {
  inventory: 'NLBFTP_INVENTORY',
  controlTargetGroupArn: 'NLBFTP_CONTROL_TG_ARN',
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
  readonly backends: readonly BackendRef[];
  readonly controlTargetGroupArn: string;
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
    [CheckerEnv.inventory]: encodeInventory(s.backends),
    [CheckerEnv.controlTargetGroupArn]: s.controlTargetGroupArn,
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
