/**
 * What the checker-handler tests share: the AWS side mocked at the SDK boundary (a port-21 target
 * group and a state table that behave like the real ones, and Secrets Manager answering per ARN),
 * and a way to run the handler while capturing everything it prints.
 */
import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { slotsOf } from '../../lambda/health-checker/slot-locator';
import { type BackendRef, type CheckerEnvSettings, checkerEnvironment, targetGroupArn } from '../../lib/shared/contract';
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

/**
 * @param backends each slot's instance at the start: in its passive target group (the first of
 *   `slotsOf`), running at its IP in EC2, and registered in the port-21 target group
 * @param secrets secret ARN -> its current SecretString (read on every GetSecretValue call)
 * @param controlArn the port-21 target group's ARN (the passive groups' ARNs are built from it)
 */
export function awsFakes(backends: readonly BackendRef[], secrets: Record<string, () => string>, controlArn: string) {
  const elb = mockClient(ElasticLoadBalancingV2Client);
  const ec2 = mockClient(EC2Client);
  const ddb = mockClient(DynamoDBClient);
  const sm = mockClient(SecretsManagerClient);
  const registered = new Set(backends.map((b) => b.instanceId));
  const state: { item?: Record<string, { S?: string; N?: string }>; lease?: Record<string, { S?: string; N?: string }> } = {};
  /** Passive target group ARN -> the slot whose group it is. */
  const passiveSlot = new Map(slotsOf(backends).map((s) => [targetGroupArn(controlArn, s.passiveTargetGroup), s.slot]));
  /** What each slot's passive target group holds now (undefined: nothing, e.g. booting). */
  const slotInstance = new Map<number, string | undefined>(backends.map((b) => [b.slot, b.instanceId]));
  const instances = new Map(backends.map((b) => [b.instanceId, { ip: b.privateIp, tags: {} as Record<string, string> }]));

  /** Forget recorded calls and re-install the fakes; the target group and state keep their contents. */
  function reset(): void {
    elb.reset();
    ec2.reset();
    ddb.reset();
    sm.reset();
    elb.on(DescribeTargetHealthCommand).callsFake((input) => {
      if (input.TargetGroupArn === controlArn) {
        return {
          TargetHealthDescriptions: [...registered].map((Id) => ({ Target: { Id, Port: 21 }, TargetHealth: { State: 'healthy' } })),
        };
      }
      const slot = passiveSlot.get(input.TargetGroupArn);
      if (slot === undefined)
        throw Object.assign(new Error('One or more target groups not found'), { name: 'TargetGroupNotFoundException' });
      const id = slotInstance.get(slot);
      return { TargetHealthDescriptions: id ? [{ Target: { Id: id }, TargetHealth: { State: 'healthy' } }] : [] };
    });
    ec2.on(DescribeInstancesCommand).callsFake((input) => {
      const ids = input.Filters?.find((f: { Name?: string }) => f.Name === 'instance-id')?.Values ?? [];
      return {
        Reservations: ids
          .filter((id: string) => instances.has(id))
          .map((id: string) => {
            const i = instances.get(id) as { ip: string; tags: Record<string, string> };
            return {
              Instances: [
                {
                  InstanceId: id,
                  PrivateIpAddress: i.ip,
                  State: { Name: 'running' },
                  Tags: Object.entries(i.tags).map(([Key, Value]) => ({ Key, Value })),
                },
              ],
            };
          }),
      };
    });
    elb.on(DeregisterTargetsCommand).callsFake((input) => {
      for (const t of input.Targets) registered.delete(t.Id);
      return {};
    });
    elb.on(RegisterTargetsCommand).callsFake((input) => {
      for (const t of input.Targets) registered.add(t.Id);
      return {};
    });
    ddb.on(GetItemCommand).callsFake(() => ({ Item: state.item }));
    ddb.on(PutItemCommand).callsFake((input) => {
      const refused = () => new ConditionalCheckFailedException({ message: 'conditional check failed', $metadata: {} });
      const values = input.ExpressionAttributeValues ?? {};
      if (input.Item.pk.S === 'checker-lease') {
        // The round lease's two conditions, as DynamoDB evaluates them.
        const held = state.lease;
        if (input.ConditionExpression === 'holder = :me') {
          if (held?.holder?.S !== values[':me'].S) throw refused();
        } else if (held && Number(held.expiresAt?.N) >= Number(values[':now'].N)) {
          throw refused();
        }
        state.lease = input.Item;
        return {};
      }
      const current = state.item?.version?.N;
      if (current !== undefined && current !== values[':v'].N) throw refused();
      state.item = input.Item;
      return {};
    });
    for (const [arn, value] of Object.entries(secrets)) {
      sm.on(GetSecretValueCommand, { SecretId: arn }).callsFake(() => ({ SecretString: value() }));
    }
  }
  reset();

  return {
    elb,
    ec2,
    ddb,
    sm,
    registered,
    state,
    reset,
    /**
     * What the slot's Auto Scaling group does: the old instance leaves every target group; the new
     * one (if given) enters the slot's passive group and the port-21 group, running at its IP.
     */
    replace(slot: number, next?: BackendRef): void {
      const old = slotInstance.get(slot);
      if (old) {
        registered.delete(old);
        instances.delete(old);
      }
      slotInstance.set(slot, next?.instanceId);
      if (next) {
        instances.set(next.instanceId, { ip: next.privateIp, tags: {} });
        registered.add(next.instanceId);
      }
    },
    /** Tag an instance (e.g. the out-of-rotation tag). */
    tag(instanceId: string, key: string, value: string): void {
      const i = instances.get(instanceId);
      if (i) i.tags[key] = value;
    },
    untag(instanceId: string, key: string): void {
      delete instances.get(instanceId)?.tags[key];
    },
    /** RegisterTargets and DeregisterTargets calls since the last reset. */
    mutatingCalls: () => [...elb.commandCalls(RegisterTargetsCommand), ...elb.commandCalls(DeregisterTargetsCommand)],
    /** GetSecretValue calls for one ARN since the last reset. */
    secretReads: (arn: string) => sm.commandCalls(GetSecretValueCommand).filter((c) => c.args[0].input.SecretId === arn).length,
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
