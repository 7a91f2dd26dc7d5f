/**
 * A deployed nlb-ftp stack as `npm run roll` sees it, behind mocked SDK clients: CloudFormation
 * outputs, one Auto Scaling group per slot (launch template versions, lifecycle states, scale-in
 * protection, suspended processes), the port-21 and passive target groups, and EC2 tags. It
 * behaves like the real services in what the roll relies on, and records after every target
 * group change how many slots were out of rotation (no healthy instance in the port-21 group).
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  ResumeProcessesCommand,
  SetInstanceProtectionCommand,
  SuspendProcessesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CreateTagsCommand, DeleteTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';

export const CONTROL = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/ctl/0000000000000000';
const passiveArn = (slot: number, k: number) =>
  `arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/p${slot}-${k}/000000000000000${k}`;

interface Inst {
  id: string;
  lifecycle: string;
  version: string;
  protectedFromScaleIn: boolean;
  polls: number;
}

interface Group {
  slot: number;
  name: string;
  version: string;
  min: number;
  max: number;
  desired: number;
  suspended: Set<string>;
  instances: Inst[];
  targetGroups: string[];
  launched: number;
}

/** What a new instance's boot does: passes its FTP login, fails it (ABANDON), or never finishes. */
export type BootOutcome = 'pass' | 'fail' | 'hang';

export class FakeFleet {
  readonly groups: Group[] = [];
  /** Target group ARN -> instance ID -> state. */
  readonly targets = new Map<string, Map<string, string>>();
  readonly tags = new Map<string, Record<string, string>>();
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

  readonly cfn = mockClient(CloudFormationClient);
  readonly asg = mockClient(AutoScalingClient);
  readonly elb = mockClient(ElasticLoadBalancingV2Client);
  readonly ec2 = mockClient(EC2Client);
  readonly clients = {
    cfn: new CloudFormationClient({ region: 'eu-west-1' }),
    asg: new AutoScalingClient({ region: 'eu-west-1' }),
    elb: new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }),
    ec2: new EC2Client({ region: 'eu-west-1' }),
  };

  /** `n` slots with `r` passive ports each, every slot serving on launch template version `running`; the groups are at `target`. */
  constructor(n: number, r: number, running: string, target: string) {
    this.targets.set(CONTROL, new Map());
    for (let slot = 0; slot < n; slot++) {
      const tgs = Array.from({ length: r }, (_, k) => passiveArn(slot, k));
      for (const arn of tgs) this.targets.set(arn, new Map());
      const id = `i-${slot}old`;
      this.groups.push({
        slot,
        name: `NlbFtp-slot${slot}`,
        version: target,
        min: 1,
        max: 1,
        desired: 1,
        suspended: new Set(),
        instances: [{ id, lifecycle: 'InService', version: running, protectedFromScaleIn: false, polls: 0 }],
        targetGroups: [CONTROL, ...tgs],
        launched: 0,
      });
      for (const arn of [CONTROL, ...tgs]) this.targets.get(arn)?.set(id, 'healthy');
    }
    this.install();
  }

  group(slot: number): Group {
    return this.groups[slot];
  }

  /** Slots whose port-21 membership has no healthy instance. */
  outOfRotation(): number[] {
    const control = this.targets.get(CONTROL) as Map<string, string>;
    return this.groups.filter((g) => !g.instances.some((i) => control.get(i.id) === 'healthy')).map((g) => g.slot);
  }

  /** Every mutating call passes here first: the injected SDK error, if this is the call to fail. */
  private gate(): void {
    this.mutatingCalls++;
    if (this.mutatingCalls === this.failOnCall) {
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
    }
  }

  private note(event: string): void {
    this.events.push(event);
    this.maxOutOfRotation = Math.max(this.maxOutOfRotation, this.outOfRotation().length);
  }

  private groupByName(name: string): Group {
    const g = this.groups.find((x) => x.name === name);
    if (!g) throw Object.assign(new Error(`no group ${name}`), { name: 'ValidationError' });
    return g;
  }

  private register(g: Group, id: string): void {
    for (const arn of g.targetGroups) this.targets.get(arn)?.set(id, 'initial');
  }

  private removeFromTargets(id: string): void {
    for (const m of this.targets.values()) m.delete(id);
  }

  /** The group's reconciliation: launch up to desired, or terminate unprotected instances down to it. */
  private reconcile(g: Group): void {
    const live = () => g.instances.filter((i) => !/^Terminat/.test(i.lifecycle));
    while (live().length < g.desired && live().length < g.max) {
      g.launched++;
      g.instances.push({
        id: `i-${g.slot}new${g.launched}`,
        lifecycle: 'Pending',
        version: g.version,
        protectedFromScaleIn: false,
        polls: 0,
      });
    }
    while (live().length > g.desired) {
      const victim = [...live()].reverse().find((i) => !i.protectedFromScaleIn);
      if (!victim) break;
      this.terminate(g, victim.id);
    }
  }

  private terminate(g: Group, id: string): void {
    g.instances = g.instances.filter((i) => i.id !== id);
    this.removeFromTargets(id);
    this.note(`terminate ${id}`);
  }

  /** One poll's worth of time for booting instances. */
  private advance(): void {
    for (const g of this.groups) {
      for (const i of [...g.instances]) {
        if (i.lifecycle === 'Terminating') {
          g.instances = g.instances.filter((x) => x !== i);
          this.reconcile(g);
          continue;
        }
        if (!/^Pending/.test(i.lifecycle)) continue;
        i.polls++;
        if (i.polls === 1) i.lifecycle = 'Pending:Wait';
        else if (i.polls >= 3) {
          const outcome = this.boot(g.slot);
          if (outcome === 'pass') {
            i.lifecycle = 'InService';
            if (!g.suspended.has('AddToLoadBalancer')) this.register(g, i.id);
          } else if (outcome === 'fail') {
            i.lifecycle = 'Terminating';
          }
        }
      }
    }
    for (const m of this.targets.values()) {
      for (const [id, state] of m) if (state === 'initial') m.set(id, this.newTargetHealth(id));
    }
  }

  private install(): void {
    this.cfn.on(DescribeStacksCommand).callsFake(() => ({
      Stacks: [
        {
          StackName: 'NlbFtp',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(0),
          Outputs: [
            { OutputKey: 'ControlTargetGroupArn', OutputValue: CONTROL },
            ...this.groups.map((g) => ({ OutputKey: `Slot${g.slot}Group`, OutputValue: g.name })),
          ],
        },
      ],
    }));
    this.asg.on(DescribeAutoScalingGroupsCommand).callsFake((input) => {
      this.advance();
      return {
        AutoScalingGroups: this.groups
          .filter((g) => (input.AutoScalingGroupNames ?? []).includes(g.name))
          .map((g) => ({
            AutoScalingGroupName: g.name,
            LaunchTemplate: { LaunchTemplateId: `lt-${g.slot}`, Version: g.version },
            MinSize: g.min,
            MaxSize: g.max,
            DesiredCapacity: g.desired,
            TargetGroupARNs: g.targetGroups,
            Instances: g.instances.map((i) => ({
              InstanceId: i.id,
              LifecycleState: i.lifecycle,
              HealthStatus: 'Healthy',
              ProtectedFromScaleIn: i.protectedFromScaleIn,
              LaunchTemplate: { LaunchTemplateId: `lt-${g.slot}`, Version: i.version },
            })),
          })),
      };
    });
    this.asg.on(UpdateAutoScalingGroupCommand).callsFake((input) => {
      this.gate();
      const g = this.groupByName(input.AutoScalingGroupName);
      if (input.MinSize !== undefined) g.min = input.MinSize;
      if (input.MaxSize !== undefined) g.max = input.MaxSize;
      if (input.DesiredCapacity !== undefined) g.desired = input.DesiredCapacity;
      this.note(`size ${g.name} min ${g.min} max ${g.max} desired ${g.desired}`);
      this.reconcile(g);
      return {};
    });
    this.asg.on(SetInstanceProtectionCommand).callsFake((input) => {
      this.gate();
      const g = this.groupByName(input.AutoScalingGroupName);
      for (const i of g.instances) if (input.InstanceIds.includes(i.id)) i.protectedFromScaleIn = input.ProtectedFromScaleIn;
      this.note(`protect ${input.InstanceIds.join(',')} ${input.ProtectedFromScaleIn}`);
      return {};
    });
    this.asg.on(SuspendProcessesCommand).callsFake((input) => {
      this.gate();
      for (const p of input.ScalingProcesses ?? []) this.groupByName(input.AutoScalingGroupName).suspended.add(p);
      this.note(`suspend ${input.AutoScalingGroupName}`);
      return {};
    });
    this.asg.on(ResumeProcessesCommand).callsFake((input) => {
      this.gate();
      for (const p of input.ScalingProcesses ?? []) this.groupByName(input.AutoScalingGroupName).suspended.delete(p);
      this.note(`resume ${input.AutoScalingGroupName}`);
      return {};
    });
    this.asg.on(TerminateInstanceInAutoScalingGroupCommand).callsFake((input) => {
      this.gate();
      const g = this.groups.find((x) => x.instances.some((i) => i.id === input.InstanceId));
      if (!g) throw Object.assign(new Error(`no instance ${input.InstanceId}`), { name: 'ValidationError' });
      if (input.ShouldDecrementDesiredCapacity) g.desired--;
      this.terminate(g, input.InstanceId);
      this.reconcile(g);
      return {};
    });
    this.elb.on(DescribeTargetHealthCommand).callsFake((input) => {
      this.advance();
      const m = this.targets.get(input.TargetGroupArn) ?? new Map();
      return { TargetHealthDescriptions: [...m].map(([Id, State]) => ({ Target: { Id, Port: 21 }, TargetHealth: { State } })) };
    });
    this.elb.on(RegisterTargetsCommand).callsFake((input) => {
      this.gate();
      for (const t of input.Targets) this.targets.get(input.TargetGroupArn)?.set(t.Id, 'initial');
      this.note(
        `register ${input.Targets.map((t: { Id: string }) => t.Id).join(',')} ${input.TargetGroupArn === CONTROL ? 'control' : 'passive'}`,
      );
      return {};
    });
    this.elb.on(DeregisterTargetsCommand).callsFake((input) => {
      this.gate();
      for (const t of input.Targets) this.targets.get(input.TargetGroupArn)?.delete(t.Id);
      this.note(
        `deregister ${input.Targets.map((t: { Id: string }) => t.Id).join(',')} ${input.TargetGroupArn === CONTROL ? 'control' : 'passive'}`,
      );
      return {};
    });
    this.ec2.on(CreateTagsCommand).callsFake((input) => {
      this.gate();
      for (const id of input.Resources) {
        const t = this.tags.get(id) ?? {};
        for (const tag of input.Tags) t[tag.Key] = tag.Value;
        this.tags.set(id, t);
      }
      this.note(`tag ${input.Resources.join(',')}`);
      return {};
    });
    this.ec2.on(DeleteTagsCommand).callsFake((input) => {
      this.gate();
      for (const id of input.Resources) for (const tag of input.Tags ?? []) delete this.tags.get(id)?.[tag.Key];
      this.note(`untag ${input.Resources.join(',')}`);
      return {};
    });
  }

  /** Instance IDs in a target group. */
  members(arn: string): string[] {
    return [...(this.targets.get(arn)?.keys() ?? [])];
  }

  passiveOf(slot: number): string[] {
    return this.group(slot).targetGroups.filter((a) => a !== CONTROL);
  }

  restore(): void {
    this.cfn.restore();
    this.asg.restore();
    this.elb.restore();
    this.ec2.restore();
  }
}
