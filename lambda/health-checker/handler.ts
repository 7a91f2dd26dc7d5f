/**
 * The health-checker Lambda: a thin shell that wires the real AWS SDK clients, Powertools logging
 * and metrics to the round runner. The SDK clients honour the standard endpoint settings
 * (AWS_ENDPOINT_URL_*), which is how the local sandbox points them at its emulated APIs; there is
 * no test-only branch here.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CheckerEnv, decodeInventory, MetricNames } from '../../lib/shared/contract';
import { type CheckerDeps, type CheckerMetrics, type CheckerSettings, runRoundsUnderLease } from './checker';
import { cachedCertificate, cachedCredentials } from './credentials';
import { probeBackend } from './probe';
import { probeSftp } from './sftp-probe';
import { AwsSlotLocator } from './slot-locator';
import { DynamoRoundLease, DynamoStateStore } from './state-store';
import { ElbTargetRegistry } from './target-registry';

export interface CheckerConfig extends CheckerSettings {
  readonly targetGroupArn: string;
  /**
   * With SFTP: its target group (decided from SFTP login probes), the backends' SFTP port, and the
   * host keys the probe pins (unset: keys the user brought).
   */
  readonly sftp?: { readonly targetGroupArn: string; readonly port: number; readonly hostKeys?: readonly string[] };
  readonly secretArn: string;
  readonly tableName: string;
  readonly budgetMs: number;
  /** Set when backends speak FTPS: the certificate secret the probe verifies against. */
  readonly certificateSecretArn?: string;
}

/** Read and check the environment; a missing or malformed variable names itself. */
export function readEnv(env: NodeJS.ProcessEnv): CheckerConfig {
  const str = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`environment variable ${name} is not set`);
    return v;
  };
  const int = (name: string, min: number, max: number): number => {
    const v = Number(str(name));
    if (!Number.isInteger(v) || v < min || v > max)
      throw new Error(`environment variable ${name} must be an integer from ${min} to ${max}`);
    return v;
  };
  const ftps = env[CheckerEnv.ftps] ?? 'off';
  if (!['off', 'optional', 'required'].includes(ftps)) {
    throw new Error(`environment variable ${CheckerEnv.ftps} must be off, optional or required`);
  }
  return {
    certificateSecretArn: ftps === 'off' ? undefined : str(CheckerEnv.certificateSecretArn),
    slots: decodeInventory(str(CheckerEnv.inventory)),
    targetGroupArn: str(CheckerEnv.controlTargetGroupArn),
    sftp: env[CheckerEnv.sftpTargetGroupArn]
      ? {
          targetGroupArn: str(CheckerEnv.sftpTargetGroupArn),
          port: int(CheckerEnv.sftpPort, 1, 65535),
          hostKeys: env[CheckerEnv.sftpHostKeys] ? hostKeysOf(str(CheckerEnv.sftpHostKeys)) : undefined,
        }
      : undefined,
    secretArn: str(CheckerEnv.healthSecretArn),
    tableName: str(CheckerEnv.stateTable),
    intervalMs: int(CheckerEnv.intervalSeconds, 1, 300) * 1000,
    stepTimeoutMs: int(CheckerEnv.timeoutSeconds, 1, 60) * 1000,
    thresholds: { fall: int(CheckerEnv.fallThreshold, 1, 10), rise: int(CheckerEnv.riseThreshold, 1, 10) },
    budgetMs: int(CheckerEnv.budgetSeconds, 1, 900) * 1000,
  };
}

/** `SHA256:... SHA256:...` (the host keys resource's physical ID): each must look like OpenSSH's fingerprint. */
function hostKeysOf(value: string): string[] {
  const keys = value.split(/\s+/).filter(Boolean);
  const bad = keys.find((k) => !/^SHA256:[A-Za-z0-9+/]{43}$/.test(k));
  if (keys.length === 0 || bad !== undefined) {
    throw new Error(
      `environment variable ${CheckerEnv.sftpHostKeys} must be SHA256 fingerprints separated by spaces, got ${bad ?? 'none'}`,
    );
  }
  return keys;
}

/** Powertools metrics as embedded metric format on stdout: no PutMetricData call per probe. */
export function powertoolsMetrics(metrics: Metrics): CheckerMetrics {
  return {
    probe(slot, ok, latencyMs) {
      const single = metrics.singleMetric();
      single.addDimension('Slot', String(slot));
      single.addMetric(MetricNames.probeSuccess, MetricUnit.Count, ok ? 1 : 0);
      const latency = metrics.singleMetric();
      latency.addDimension('Slot', String(slot));
      latency.addMetric(MetricNames.probeLatency, MetricUnit.Milliseconds, latencyMs);
    },
    sftpProbe(slot, ok) {
      const single = metrics.singleMetric();
      single.addDimension('Slot', String(slot));
      single.addMetric(MetricNames.sftpProbeSuccess, MetricUnit.Count, ok ? 1 : 0);
    },
    round({ registered, healthy, heldByFailOpen }) {
      metrics.addMetric(MetricNames.registeredBackends, MetricUnit.Count, registered);
      metrics.addMetric(MetricNames.healthyBackends, MetricUnit.Count, healthy);
      metrics.addMetric(MetricNames.failOpen, MetricUnit.Count, heldByFailOpen);
    },
    heartbeat() {
      metrics.addMetric(MetricNames.heartbeat, MetricUnit.Count, 1);
    },
    flush() {
      metrics.publishStoredMetrics();
    },
  };
}

// Created once per execution environment and reused by warm invocations (the secret cache too).
const config = readEnv(process.env);
const logger = new Logger();
const metrics = new Metrics({ namespace: MetricNames.namespace });
const secrets = new SecretsManagerClient({});
const elb = new ElasticLoadBalancingV2Client({});
const dynamo = new DynamoDBClient({});
const deps: CheckerDeps & { lease: DynamoRoundLease } = {
  lease: new DynamoRoundLease(dynamo, config.tableName),
  registry: new ElbTargetRegistry(elb, config.targetGroupArn),
  locator: new AwsSlotLocator(elb, new EC2Client({}), config.targetGroupArn),
  store: new DynamoStateStore(dynamo, config.tableName),
  credentials: cachedCredentials(secrets, config.secretArn),
  tls: config.certificateSecretArn ? cachedCertificate(secrets, config.certificateSecretArn) : undefined,
  probe: probeBackend,
  sftp: config.sftp && {
    registry: new ElbTargetRegistry(elb, config.sftp.targetGroupArn, config.sftp.port),
    port: config.sftp.port,
    hostKeys: config.sftp.hostKeys,
    probe: probeSftp,
  },
  log: logger,
  metrics: powertoolsMetrics(metrics),
};

export async function handler(
  _event: unknown,
  context?: { getRemainingTimeInMillis(): number; awsRequestId?: string },
): Promise<{ rounds: number; skipped: boolean }> {
  // Leave a few seconds for the last round's API calls and the metric flush.
  const remaining = context ? context.getRemainingTimeInMillis() - 5000 : Number.POSITIVE_INFINITY;
  const holder = context?.awsRequestId ?? `pid-${process.pid}-${Date.now()}`;
  const { outcomes, skipped } = await runRoundsUnderLease(deps, config, Math.min(config.budgetMs, remaining), holder);
  return { rounds: outcomes.length, skipped };
}
