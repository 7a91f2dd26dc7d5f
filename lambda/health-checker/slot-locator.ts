/**
 * Which instance serves each slot right now. A slot's Auto Scaling group replaces its instance when
 * it fails and `npm run roll` replaces it on update, so the checker cannot know instance IDs at
 * synth time. It reads them where the NLB does: a slot's passive target groups hold only the
 * instance that answers for that slot's passive ports. Then one DescribeInstances call gives the
 * private IPs to probe and the out-of-rotation tag.
 */
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { DescribeTargetHealthCommand, type ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { type BackendRef, OUT_OF_ROTATION_TAG, type SlotRef, targetGroupArn } from '../../lib/shared/contract';

export interface Located {
  /** Slots with exactly one running instance in their passive target group. */
  readonly backends: readonly BackendRef[];
  /** Instance IDs tagged out of rotation: never registered by the checker. */
  readonly heldOut: ReadonlySet<string>;
  /** Slots with no instance to probe, and why (booting, being replaced, or two instances at once). */
  readonly missing: ReadonlyArray<{ readonly slot: number; readonly reason: string }>;
}

export interface SlotLocator {
  locate(slots: readonly SlotRef[]): Promise<Located>;
}

/** At most this many DescribeTargetHealth calls at once, well inside ELBv2's API rate limits. */
const CONCURRENCY = 4;

export class AwsSlotLocator implements SlotLocator {
  constructor(
    private readonly elb: ElasticLoadBalancingV2Client,
    private readonly ec2: EC2Client,
    /** The port-21 target group's ARN: the passive groups' ARNs are built from it. */
    private readonly controlTargetGroupArn: string,
  ) {}

  async locate(slots: readonly SlotRef[]): Promise<Located> {
    const members = new Map<number, string[]>();
    const queue = [...slots];
    const worker = async () => {
      for (let s = queue.shift(); s; s = queue.shift()) {
        const arn = targetGroupArn(this.controlTargetGroupArn, s.passiveTargetGroup);
        const out = await this.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
        // A draining target is leaving (terminated, or rolled off): new flows no longer reach it.
        const ids = (out.TargetHealthDescriptions ?? [])
          .filter((d) => d.TargetHealth?.State !== 'draining')
          .map((d) => d.Target?.Id)
          .filter((id): id is string => Boolean(id));
        members.set(s.slot, [...new Set(ids)]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, slots.length) }, worker));

    const ids = [...new Set([...members.values()].flat())];
    const instances = new Map<string, { ip?: string; state?: string; heldOut: boolean }>();
    if (ids.length > 0) {
      // A filter, not InstanceIds: an instance that is already gone is simply absent, not an error.
      let token: string | undefined;
      do {
        const out = await this.ec2.send(
          new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }], NextToken: token }),
        );
        for (const r of out.Reservations ?? []) {
          for (const i of r.Instances ?? []) {
            if (!i.InstanceId) continue;
            instances.set(i.InstanceId, {
              ip: i.PrivateIpAddress,
              state: i.State?.Name,
              heldOut: (i.Tags ?? []).some((t) => t.Key === OUT_OF_ROTATION_TAG),
            });
          }
        }
        token = out.NextToken;
      } while (token);
    }
    return assemble(slots, members, instances);
  }
}

/** Pure: from the slots, their passive target groups' members and the instances, what to probe. */
export function assemble(
  slots: readonly SlotRef[],
  members: ReadonlyMap<number, readonly string[]>,
  instances: ReadonlyMap<string, { readonly ip?: string; readonly state?: string; readonly heldOut: boolean }>,
): Located {
  const backends: BackendRef[] = [];
  const missing: Array<{ slot: number; reason: string }> = [];
  const heldOut = new Set<string>();
  for (const s of slots) {
    const ids = members.get(s.slot) ?? [];
    if (ids.length === 0) {
      missing.push({ slot: s.slot, reason: 'no instance in its passive target group (booting, or being replaced)' });
      continue;
    }
    if (ids.length > 1) {
      // Two instances behind one passive port break PASV: say so loudly, and touch neither.
      missing.push({ slot: s.slot, reason: `${ids.length} instances in its passive target group (${ids.join(', ')}); expected one` });
      continue;
    }
    const id = ids[0];
    const i = instances.get(id);
    if (!i?.ip || i.state !== 'running') {
      missing.push({ slot: s.slot, reason: `instance ${id} is ${i?.state ?? 'gone'}` });
      continue;
    }
    if (i.heldOut) heldOut.add(id);
    backends.push({ slot: s.slot, instanceId: id, privateIp: i.ip, passivePorts: s.passivePorts });
  }
  return { backends, heldOut, missing };
}

/** A locator that always answers the same backends, for tests, benchmarks and fixed fleets. */
export function fixedLocator(backends: readonly BackendRef[], heldOut: ReadonlySet<string> = new Set()): SlotLocator {
  return {
    locate: async (slots) => {
      const wanted = new Set(slots.map((s) => s.slot));
      const found = backends.filter((b) => wanted.has(b.slot));
      const have = new Set(found.map((b) => b.slot));
      return {
        backends: found,
        heldOut,
        missing: slots.filter((s) => !have.has(s.slot)).map((s) => ({ slot: s.slot, reason: 'not in the fixed list' })),
      };
    },
  };
}

/** The inventory entries for a fixed list of backends (for tests and benchmarks). */
export function slotsOf(backends: readonly BackendRef[]): SlotRef[] {
  return backends.map((b) => ({
    slot: b.slot,
    passiveTargetGroup: `targetgroup/slot${b.slot}/${String(b.slot).padStart(16, '0')}`,
    passivePorts: b.passivePorts ?? { min: 0, max: 65535 },
  }));
}
