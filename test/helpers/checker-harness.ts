/**
 * What the checker-handler tests share: the AWS side mocked at the SDK boundary (the AWS model's
 * SDK face: target groups, instances, the state table and Secrets Manager),
 * and a way to run the handler while capturing everything it prints.
 */
import { DeregisterTargetsCommand, RegisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { slotsOf } from '../../lambda/health-checker/slot-locator';
import { type BackendRef, type CheckerEnvSettings, checkerEnvironment, targetGroupArn } from '../../lib/shared/contract';
import { AwsModel, type DynamoItem } from '../../sandbox/aws/model';
import { mockAwsClients } from '../../sandbox/aws/sdk-mock';
import { type LocalVsftpd, startVsftpdBackends } from '../../sandbox/local-vsftpd';

/** The checker tests' backends: 4 passive ports a slot, 20 sessions per client address. */
export function startBackends(
  backends: readonly BackendRef[],
  opts: { allowFile: string; passivePortStart: number; tlsFiles?: (slot: number) => { certFile: string; keyFile: string } },
): Promise<LocalVsftpd[]> {
  return startVsftpdBackends(backends, { passivePortsPerBackend: 4, maxPerIp: 20, ...opts });
}

export type Handler = (event: unknown) => Promise<{ rounds: number }>;

/**
 * Set the checker's environment as the stack would, with one round per invocation (interval and
 * budget 1 s, step timeout 4 s, fall and rise 2), then import the real handler, which reads its
 * environment at import time. Call once per test file (vitest gives each file its own modules).
 */
export async function importHandler(
  settings: Pick<CheckerEnvSettings, 'controlTargetGroupArn' | 'healthSecretArn' | 'ftps'> & { readonly backends: readonly BackendRef[] },
  serviceName: string,
): Promise<Handler> {
  const { backends, ...rest } = settings;
  Object.assign(process.env, {
    ...checkerEnvironment({
      ...rest,
      slots: slotsOf(backends),
      stateTable: 'state-table',
      intervalSeconds: 1,
      timeoutSeconds: 4,
      fallThreshold: 2,
      riseThreshold: 2,
      budgetSeconds: 1,
    }),
    AWS_REGION: 'eu-west-1',
    POWERTOOLS_SERVICE_NAME: serviceName,
    POWERTOOLS_METRICS_NAMESPACE: 'NlbFtp',
  });
  return (await import('../../lambda/health-checker/handler')).handler as Handler;
}

export type AwsFakes = ReturnType<typeof awsFakes>;

const STATE_TABLE = 'state-table';
const STATE_KEY = { pk: { S: 'checker-state' } };
const LEASE_KEY = { pk: { S: 'checker-lease' } };

/**
 * The checker's AWS, as the AWS model (sandbox/aws/model.ts) behind mocked SDK clients: a port-21
 * target group whose members the NLB calls healthy, each slot's passive target group, EC2's
 * instances, the state table (with DynamoDB's condition rules) and Secrets Manager.
 * @param backends each slot's instance at the start: in its passive target group (the first of
 *   `slotsOf`), running at its IP in EC2, and registered in the port-21 target group
 * @param secrets secret ARN -> its current SecretString (read on every GetSecretValue call)
 * @param controlArn the port-21 target group's ARN (the passive groups' ARNs are built from it)
 */
export function awsFakes(backends: readonly BackendRef[], secrets: Record<string, () => string>, controlArn: string) {
  const model = new AwsModel();
  model.targetGroups.set(controlArn, new Map(backends.map((b) => [b.instanceId, 'healthy'])));
  // The NLB's TCP check passes for every target here: the checker's own login probe is what fails.
  model.targetHealth = () => 'healthy';
  const passiveOf = new Map(slotsOf(backends).map((s) => [s.slot, targetGroupArn(controlArn, s.passiveTargetGroup)]));
  for (const b of backends) {
    model.targetGroups.set(passiveOf.get(b.slot) as string, new Map([[b.instanceId, 'healthy']]));
    model.instances.set(b.instanceId, { privateIp: b.privateIp, state: 'running', tags: {} });
  }
  model.createTable(STATE_TABLE);
  const mocks = mockAwsClients(model);
  /** Read on every call, as the real secret is: a test may change what a thunk returns. */
  const installSecrets = () => {
    for (const [arn, value] of Object.entries(secrets)) {
      mocks.sm.on(GetSecretValueCommand, { SecretId: arn }).callsFake(() => ({ ARN: arn, SecretString: value() }));
    }
  };
  installSecrets();
  const item = (key: DynamoItem) => ({
    get: () => model.getItem(STATE_TABLE, key),
    set: (v: DynamoItem | undefined) => (v ? model.putItem(STATE_TABLE, v) : model.deleteItem(STATE_TABLE, key)),
  });
  const stateItem = item(STATE_KEY);
  const leaseItem = item(LEASE_KEY);

  return {
    model,
    elb: mocks.elb,
    ec2: mocks.ec2,
    ddb: mocks.ddb,
    sm: mocks.sm,
    /** The port-21 target group's members (instance ID -> state given). */
    registered: model.targetGroups.get(controlArn) as Map<string, string>,
    /** The state table's two items: the checker's counters and its round lease. */
    state: {
      get item() {
        return stateItem.get();
      },
      set item(v: DynamoItem | undefined) {
        stateItem.set(v);
      },
      get lease() {
        return leaseItem.get();
      },
      set lease(v: DynamoItem | undefined) {
        leaseItem.set(v);
      },
    },
    /** Forget recorded calls and re-install the stubs; the model keeps its contents. */
    reset(): void {
      mocks.reset();
      installSecrets();
    },
    restore(): void {
      mocks.restore();
    },
    /**
     * What the slot's Auto Scaling group does: the old instance leaves every target group; the new
     * one (if given) enters the slot's passive group and the port-21 group, running at its IP.
     */
    replace(slot: number, next?: BackendRef): void {
      const passive = passiveOf.get(slot) as string;
      const old = [...(model.targetGroups.get(passive)?.keys() ?? [])][0];
      if (old) {
        model.terminate(old);
        model.instances.delete(old);
      }
      if (next) {
        model.instances.set(next.instanceId, { privateIp: next.privateIp, state: 'running', tags: {} });
        model.targetGroups.get(passive)?.set(next.instanceId, 'healthy');
        model.targetGroups.get(controlArn)?.set(next.instanceId, 'healthy');
      }
    },
    /** Tag an instance (e.g. the out-of-rotation tag). */
    tag(instanceId: string, key: string, value: string): void {
      const i = model.instances.get(instanceId);
      if (i) i.tags[key] = value;
    },
    untag(instanceId: string, key: string): void {
      delete model.instances.get(instanceId)?.tags[key];
    },
    /** RegisterTargets and DeregisterTargets calls since the last reset. */
    mutatingCalls: () => [...mocks.elb.commandCalls(RegisterTargetsCommand), ...mocks.elb.commandCalls(DeregisterTargetsCommand)],
    /** GetSecretValue calls for one ARN since the last reset. */
    secretReads: (arn: string) => mocks.sm.commandCalls(GetSecretValueCommand).filter((c) => c.args[0].input.SecretId === arn).length,
  };
}

/** Run `fn` and return everything written to stdout and stderr meanwhile (logs and EMF metrics). */
export async function captureOutput(fn: () => Promise<unknown>): Promise<string> {
  const realWrite = process.stdout.write.bind(process.stdout);
  const realErrWrite = process.stderr.write.bind(process.stderr);
  let output = '';
  const capture = ((chunk: string | Uint8Array) => {
    output += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  try {
    await fn();
  } finally {
    process.stdout.write = realWrite;
    process.stderr.write = realErrWrite;
  }
  return output;
}

/** The structured `probe` log lines in captured output. */
export function probeLines(out: string): Array<Record<string, unknown>> {
  return out
    .split('\n')
    .filter((l) => l.includes('"message":"probe"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
