/**
 * A deployed nlb-ftp stack as `npm run roll` sees it: the AWS model (sandbox/aws/model.ts) behind
 * mocked SDK clients, holding CloudFormation outputs, one Auto Scaling group per slot (launch
 * template versions, lifecycle states, scale-in protection, suspended processes, the launch hook),
 * the port-21 and passive target groups, and EC2 tags. What this file adds is time: every describe
 * is one poll, and a new instance's boot passes its hook (CONTINUE), fails it (ABANDON) or never
 * ends on its third. It records after every change how many slots were out of rotation (no
 * healthy instance in the port-21 group).
 */

import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { type AutoScalingGroup, AwsError, AwsModel, type GroupInstance } from '../../sandbox/aws/model';
import { mockAwsClients } from '../../sandbox/aws/sdk-mock';

export const CONTROL = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/ctl/0000000000000000';
/** The SFTP target group of a fleet made with `{ sftp: true }` (every slot's instance, one port). */
export const SFTP = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/sftp/0000000000000000';
const passiveArn = (slot: number, k: number) =>
  `arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/p${slot}-${k}/000000000000000${k}`;
const HOOK = 'nlbftp-ready';

/** What a new instance's boot does: passes its FTP login, fails it (ABANDON), or never finishes. */
export type BootOutcome = 'pass' | 'fail' | 'hang';

export const FAKE_BAN_TABLE = 'NlbFtp-BanTableAA2440F5-1Q2W3E4R5T6Y';

export class FakeFleet {
  readonly model = new AwsModel();
  /** Every mutating call, in order. */
  readonly events: string[] = [];
  /** The most slots out of rotation at once, seen after any change. */
  maxOutOfRotation = 0;
  boot: (slot: number) => BootOutcome = () => 'pass';
  /** What the NLB reports for a newly registered target after its first check. */
  newTargetHealth: (id: string) => string = () => 'healthy';
  /** Fail the Nth mutating call (1-based) with a ThrottlingException, before it changes anything. */
  failOnCall?: number;
  /** Mutating calls made so far, failed ones included. */
  mutatingCalls = 0;

  private readonly mocks = mockAwsClients(this.model);
  readonly asg = this.mocks.asg;
  readonly clients = {
    cfn: new CloudFormationClient({ region: 'eu-west-1' }),
    asg: new AutoScalingClient({ region: 'eu-west-1' }),
    elb: new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }),
    ec2: new EC2Client({ region: 'eu-west-1' }),
    ddb: new DynamoDBClient({ region: 'eu-west-1' }),
  };
  private readonly slotOf = new Map<string, number>();
  private readonly launched = new Map<number, number>();
  /** Polls each booting instance has seen. */
  private readonly polls = new Map<string, number>();

  /** `n` slots with `r` passive ports each, every slot serving on launch template version `running`; the groups are at `target`. */
  constructor(n: number, r: number, running: string, target: string, o: { sftp?: boolean } = {}) {
    const m = this.model;
    m.targetGroups.set(CONTROL, new Map());
    const outputs: Record<string, string> = { ControlTargetGroupArn: CONTROL };
    if (o.sftp) {
      m.targetGroups.set(SFTP, new Map());
      outputs.SftpTargetGroupArn = SFTP;
    }
    for (let slot = 0; slot < n; slot++) {
      // Each group registers its instance in the SFTP group too, as the stack's groups do.
      const tgs = [...Array.from({ length: r }, (_, k) => passiveArn(slot, k)), ...(o.sftp ? [SFTP] : [])];
      for (const arn of tgs) m.targetGroups.set(arn, new Map());
      const id = `i-${slot}old`;
      const name = `NlbFtp-slot${slot}`;
      this.slotOf.set(name, slot);
      m.addGroup({
        name,
        launchTemplateId: `lt-${slot}`,
        version: target,
        instances: [{ id, lifecycle: 'InService', version: running, protectedFromScaleIn: false }],
        targetGroups: [CONTROL, ...tgs],
        launchHook: HOOK,
      });
      m.instances.set(id, { privateIp: `10.0.${slot}.10`, state: 'running', tags: {} });
      for (const arn of [CONTROL, ...tgs]) m.targetGroups.get(arn)?.set(id, 'healthy');
      outputs[`Slot${slot}Group`] = name;
    }
    // The bans table, as the stack's output names it (CloudFormation's generated name).
    outputs.BanTableName = FAKE_BAN_TABLE;
    m.createTable(FAKE_BAN_TABLE, ['pk', 'sk']);
    m.stacks.set('NlbFtp', outputs);
    m.newInstanceId = (g) => {
      const slot = this.slotOf.get(g.name) as number;
      const k = (this.launched.get(slot) ?? 0) + 1;
      this.launched.set(slot, k);
      return `i-${slot}new${k}`;
    };
    m.beforeRead = () => this.advance();
    m.beforeWrite = () => {
      this.mutatingCalls++;
      if (this.mutatingCalls === this.failOnCall) throw new AwsError('ThrottlingException', 'Rate exceeded');
    };
    m.afterWrite = (event) => {
      this.events.push(
        event.replace(/ (arn:\S+)$/, (_, arn: string) => (arn === CONTROL ? ' control' : arn === SFTP ? ' sftp' : ' passive')),
      );
      this.maxOutOfRotation = Math.max(this.maxOutOfRotation, this.outOfRotation().length);
    };
  }

  group(slot: number): AutoScalingGroup {
    return this.model.group(`NlbFtp-slot${slot}`);
  }

  /** Target group ARN -> instance ID -> state. */
  get targets(): Map<string, Map<string, string>> {
    return this.model.targetGroups;
  }

  /** Instance ID -> its tags. */
  tagsOf(id: string): Record<string, string> | undefined {
    return this.model.instances.get(id)?.tags;
  }

  /** Slots whose port-21 membership has no healthy instance. */
  outOfRotation(): number[] {
    const control = this.targets.get(CONTROL) as Map<string, string>;
    return [...this.model.groups.values()]
      .filter((g) => !g.instances.some((i) => control.get(i.id) === 'healthy'))
      .map((g) => this.slotOf.get(g.name) as number);
  }

  /** One poll's worth of time for booting instances. */
  private advance(): void {
    const booting: Array<[AutoScalingGroup, GroupInstance]> = [];
    for (const g of this.model.groups.values()) for (const i of g.instances) if (/^Pending/.test(i.lifecycle)) booting.push([g, i]);
    // Instances that finished terminating go; their groups launch replacements (booting from the next poll).
    this.model.settle();
    for (const [g, i] of booting) {
      const polls = (this.polls.get(i.id) ?? 0) + 1;
      this.polls.set(i.id, polls);
      if (polls === 1) i.lifecycle = 'Pending:Wait';
      else if (polls >= 3 && i.lifecycle === 'Pending:Wait') {
        const outcome = this.boot(this.slotOf.get(g.name) as number);
        if (outcome !== 'hang') {
          this.model.completeLifecycleAction({
            group: g.name,
            hook: HOOK,
            instanceId: i.id,
            result: outcome === 'pass' ? 'CONTINUE' : 'ABANDON',
          });
        }
      }
    }
    for (const m of this.targets.values()) {
      for (const [id, state] of m) if (state === 'initial') m.set(id, this.newTargetHealth(id));
    }
  }

  /** Instance IDs in a target group. */
  members(arn: string): string[] {
    return [...(this.targets.get(arn)?.keys() ?? [])];
  }

  passiveOf(slot: number): string[] {
    return this.group(slot).targetGroups.filter((a) => a !== CONTROL && a !== SFTP);
  }

  restore(): void {
    this.mocks.restore();
  }
}
