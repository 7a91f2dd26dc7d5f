/**
 * What the operator commands read from a deployed stack: its outputs, each slot's Auto Scaling
 * group (its instances, and the launch template version they run and should run), and the bans in
 * its bans table (`status` lists them, `unban` lifts one).
 * No aws-cdk-lib import.
 */
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { BAN_PARTITION, type Ban, banOfItem } from '../shared/bans';
import { OutputNames } from '../shared/names';

/** An expected failure: printed as one sentence, never with a stack trace. */
export class FleetError extends Error {}

export interface StackOutputs {
  readonly outputs: Readonly<Record<string, string>>;
  /** Slot numbers, ascending. */
  readonly slots: readonly number[];
}

export async function readStackOutputs(cfn: CloudFormationClient, stackName: string): Promise<StackOutputs> {
  let outputs: Record<string, string>;
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = out.Stacks?.[0];
    if (!stack) throw new FleetError(`Stack ${stackName} does not exist in this account and region.`);
    outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } catch (err) {
    const e = err as Error;
    if (e.name === 'ValidationError' && /does not exist/.test(e.message)) {
      throw new FleetError(`Stack ${stackName} does not exist in this account and region; deploy it or pass --stack NAME.`);
    }
    throw err;
  }
  const pattern = new RegExp(`^${OutputNames.slotGroup(0).replace('0', '(\\d+)')}$`);
  const slots = Object.keys(outputs)
    .map((k) => pattern.exec(k))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (slots.length === 0 || !outputs[OutputNames.controlTargetGroupArn]) {
    const old = Object.keys(outputs).some((k) => /^Slot\d+InstanceId$/.test(k));
    throw new FleetError(
      old
        ? `Stack ${stackName} still has instance-based backends (before Auto Scaling groups); deploy this version first (docs/operations.md, "Upgrades and repairs").`
        : `Stack ${stackName} has no nlb-ftp outputs; is it an nlb-ftp stack?`,
    );
  }
  return { outputs, slots };
}

export interface SlotInstance {
  readonly id: string;
  /** Auto Scaling lifecycle state: Pending, Pending:Wait, InService, Terminating, ... */
  readonly lifecycle: string;
  /** Auto Scaling's health view: Healthy or Unhealthy. */
  readonly health: string;
  /** The launch template version it was launched from. */
  readonly version?: string;
}

export interface SlotGroup {
  readonly slot: number;
  readonly name: string;
  /** The launch template version new instances get (what a roll moves the slot to). */
  readonly version?: string;
  readonly instances: readonly SlotInstance[];
  /** Every target group the group registers its instance in: port 21 and the slot's passive ports. */
  readonly targetGroupArns: readonly string[];
  readonly desired: number;
  readonly max: number;
}

/** Each slot's group, from the `SlotNGroup` outputs; a group that is gone is an error naming it. */
export async function describeSlotGroups(asg: AutoScalingClient, stack: StackOutputs): Promise<SlotGroup[]> {
  const names = new Map(stack.slots.map((slot) => [stack.outputs[OutputNames.slotGroup(slot)], slot]));
  const found = new Map<string, SlotGroup>();
  const all = [...names.keys()];
  for (let i = 0; i < all.length; i += 50) {
    let token: string | undefined;
    do {
      const out = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: all.slice(i, i + 50), NextToken: token }));
      for (const g of out.AutoScalingGroups ?? []) {
        const name = g.AutoScalingGroupName ?? '';
        const slot = names.get(name);
        if (slot === undefined) continue;
        found.set(name, {
          slot,
          name,
          version: g.LaunchTemplate?.Version,
          instances: (g.Instances ?? []).map((x) => ({
            id: x.InstanceId ?? '?',
            lifecycle: x.LifecycleState ?? 'unknown',
            health: x.HealthStatus ?? 'unknown',
            version: x.LaunchTemplate?.Version,
          })),
          targetGroupArns: g.TargetGroupARNs ?? [],
          desired: g.DesiredCapacity ?? 0,
          max: g.MaxSize ?? 0,
        });
      }
      token = out.NextToken;
    } while (token);
  }
  return all.map((name) => {
    const g = found.get(name);
    if (!g) throw new FleetError(`Auto Scaling group ${name} (slot ${names.get(name)}) does not exist; is the stack being deleted?`);
    return g;
  });
}

/** The instance that serves a slot: the in-service one (during a roll, the one launched first). */
export function servingInstance(g: SlotGroup): SlotInstance | undefined {
  return g.instances.find((i) => i.lifecycle === 'InService');
}

export function defaultClients(): { cfn: CloudFormationClient; asg: AutoScalingClient } {
  return { cfn: new CloudFormationClient({}), asg: new AutoScalingClient({}) };
}

type Item = Record<string, { S?: string; N?: string }>;

/** Every item of one partition (all pages). */
export async function partitionItems(ddb: DynamoDBClient, table: string, pk: string): Promise<Item[]> {
  const items: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await ddb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: pk } },
        ExclusiveStartKey: start as never,
      }),
    );
    items.push(...((out.Items ?? []) as Item[]));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** The bans in force, soonest end first. */
export async function activeBans(ddb: DynamoDBClient, table: string, now = new Date()): Promise<Ban[]> {
  const seconds = Math.floor(now.getTime() / 1000);
  return (await partitionItems(ddb, table, BAN_PARTITION))
    .map((i) => banOfItem(i, seconds))
    .filter((b): b is Ban => b !== undefined)
    .sort((a, b) => a.endsAt - b.endsAt);
}
