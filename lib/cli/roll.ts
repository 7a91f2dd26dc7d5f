/**
 * `npm run roll`: move every slot onto its launch template's current version (a new AMI, a new
 * boot script), one slot at a time, with the service up throughout.
 *
 * For each slot whose instance runs an older version than its group's:
 *  1. Refuse unless every other slot is serving (healthy in the port-21 target group): never two
 *     slots out of rotation at once.
 *  2. Launch the new instance beside the old one, outside the load balancer: the group's
 *     AddToLoadBalancer process is suspended and its size raised to 2, the old instance protected
 *     from scale-in. The new instance's boot script logs in over FTP (FTPS) locally and completes
 *     the group's launch lifecycle hook; a failed boot is abandoned by the group.
 *  3. If the new instance fails its boot check or does not come up in time: terminate it, restore
 *     the group, stop, and say why. The old instance never left service.
 *  4. Swap: tag the old instance out of rotation (so the health checker does not put it back),
 *     deregister it from port 21 (and SFTP, where new sessions also start), let its sessions
 *     drain, move the slot's passive target groups from the old instance to the new one, register
 *     the new one on port 21 (and SFTP), and wait until the NLB reports it healthy in both. If it
 *     never does, swap back and stop.
 *  5. Terminate the old instance, restore the group's size and processes, and go on to the next slot.
 *
 * All AWS access goes through the clients passed in, so the tests drive it with mocked clients.
 * No aws-cdk-lib import.
 */
import {
  type AutoScalingClient,
  ResumeProcessesCommand,
  SetInstanceProtectionCommand,
  SuspendProcessesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CreateTagsCommand, DeleteTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ConfigError, loadConfig } from '../config';
import { CONTROL_PORT, OUT_OF_ROTATION_TAG } from '../shared/contract';
import { OutputNames } from '../shared/names';
import { type CommandSpec, EXIT, explainAwsError, helpText, parseCommand, UsageError, wholeNumber } from './command';
import { defaultClients, describeSlotGroups, FleetError, readStackOutputs, type SlotGroup, type StackOutputs } from './fleet';

export interface RollClients {
  readonly cfn: CloudFormationClient;
  readonly asg: AutoScalingClient;
  readonly elb: ElasticLoadBalancingV2Client;
  readonly ec2: EC2Client;
}

export interface RollOptions {
  readonly stackName: string;
  /** Print the plan and change nothing. */
  readonly dryRun: boolean;
  /** Only these slots (default: every slot that needs it). */
  readonly slots?: readonly number[];
  /** How long sessions on the old instance may finish after it stops taking new ones. @default 60 */
  readonly drainSeconds: number;
  /** How long a new instance may take to pass its boot check. @default 20 (the group's boot timeout is 15) */
  readonly bootTimeoutMinutes: number;
  /** How long the NLB may take to report the new instance healthy on port 21. @default 5 */
  readonly healthyTimeoutMinutes: number;
  /** Seconds between polls. @default 10 */
  readonly pollSeconds: number;
}

export const ROLL_DEFAULTS = { drainSeconds: 60, bootTimeoutMinutes: 20, healthyTimeoutMinutes: 5, pollSeconds: 10 } as const;

export interface RollIo {
  readonly log: (line: string) => void;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}

/** A roll that stopped on purpose: its message says what happened and what still serves. */
export class RollStopped extends Error {}

export interface SlotPlan {
  readonly slot: number;
  readonly group: string;
  readonly instance: string;
  readonly from?: string;
  readonly to?: string;
  readonly action: 'roll' | 'up to date';
}

export function planRoll(groups: readonly SlotGroup[], only?: readonly number[]): SlotPlan[] {
  return groups
    .filter((g) => !only || only.includes(g.slot))
    .map((g) => {
      const inService = g.instances.filter((i) => i.lifecycle === 'InService');
      const current = inService[0];
      const stale = inService.length !== 1 || g.instances.length !== 1 || current.version !== g.version;
      return {
        slot: g.slot,
        group: g.name,
        instance: g.instances.map((i) => i.id).join(', ') || 'none',
        from: current?.version,
        to: g.version,
        action: stale ? 'roll' : 'up to date',
      };
    });
}

export async function roll(c: RollClients, o: RollOptions, io: RollIo): Promise<{ rolled: number[]; upToDate: number[] }> {
  const stack = await readStackOutputs(c.cfn, o.stackName);
  if (o.slots) {
    const unknown = o.slots.filter((s) => !stack.slots.includes(s));
    if (unknown.length > 0) throw new FleetError(`--slot ${unknown.join(', ')}: stack ${o.stackName} has slots ${stack.slots.join(', ')}.`);
  }
  const controlArn = stack.outputs[OutputNames.controlTargetGroupArn];
  const plan = planRoll(await describeSlotGroups(c.asg, stack), o.slots);
  for (const p of plan) {
    io.log(
      p.action === 'roll'
        ? `slot ${p.slot}: ${p.instance} runs launch template v${p.from ?? '?'}; roll to v${p.to ?? '?'}`
        : `slot ${p.slot}: ${p.instance} is up to date (v${p.to ?? '?'})`,
    );
  }
  const todo = plan.filter((p) => p.action === 'roll');
  const upToDate = plan.filter((p) => p.action === 'up to date').map((p) => p.slot);
  if (o.dryRun || todo.length === 0) {
    io.log(o.dryRun ? `dry run: ${todo.length} slot(s) would be rolled, one at a time; nothing changed` : 'nothing to roll');
    return { rolled: [], upToDate };
  }
  const rolled: number[] = [];
  for (const [k, p] of todo.entries()) {
    io.log(`[${k + 1}/${todo.length}] slot ${p.slot} (${p.group})`);
    await rollSlot(c, o, io, stack, controlArn, p.slot);
    rolled.push(p.slot);
  }
  io.log(`done: rolled slot(s) ${rolled.join(', ')}`);
  return { rolled, upToDate };
}

async function controlHealth(c: RollClients, controlArn: string): Promise<Map<string, string>> {
  const out = await c.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: controlArn }));
  const m = new Map<string, string>();
  for (const d of out.TargetHealthDescriptions ?? []) {
    if (d.Target?.Id && (d.Target.Port ?? CONTROL_PORT) === CONTROL_PORT) m.set(d.Target.Id, d.TargetHealth?.State ?? 'unknown');
  }
  return m;
}

/** Instance ID -> health in a one-port target group (SFTP's). */
async function targetHealth(c: RollClients, arn: string): Promise<Map<string, string>> {
  const out = await c.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
  return new Map(
    (out.TargetHealthDescriptions ?? []).flatMap((d) => (d.Target?.Id ? [[d.Target.Id, d.TargetHealth?.State ?? 'unknown']] : [])),
  );
}

async function rollSlot(c: RollClients, o: RollOptions, io: RollIo, stack: StackOutputs, controlArn: string, slot: number): Promise<void> {
  const say = (m: string) => io.log(`  slot ${slot}: ${m}`);
  const groups = await describeSlotGroups(c.asg, stack);
  const g = groups.find((x) => x.slot === slot) as SlotGroup;
  const old = g.instances.find((i) => i.lifecycle === 'InService');
  if (!old || g.instances.length !== 1) {
    throw new RollStopped(
      `slot ${slot}: expected one in-service instance, found ${g.instances.map((i) => `${i.id} ${i.lifecycle}`).join(', ') || 'none'}; ` +
        'wait for the group to settle (npm run status) and run roll again.',
    );
  }

  // 1. Never two slots out of rotation: every other slot must be serving before this one leaves.
  const health = await controlHealth(c, controlArn);
  for (const other of groups) {
    if (other.slot === slot) continue;
    const serving = other.instances.find((i) => i.lifecycle === 'InService');
    const state = serving ? (health.get(serving.id) ?? 'not registered') : 'no instance';
    if (state !== 'healthy') {
      throw new RollStopped(
        `slot ${other.slot} is not serving (${serving?.id ?? 'no instance'}: ${state}); rolling slot ${slot} now would take a second slot out of rotation. Nothing changed.`,
      );
    }
  }
  if (health.get(old.id) !== 'healthy') say(`note: ${old.id} is ${health.get(old.id) ?? 'not registered'} on port 21 already`);
  // The SFTP group (when the stack has SFTP) is where sessions start, as port 21 is: it leaves
  // and joins with port 21, not after the drain as the passive groups do.
  const sftpArn = stack.outputs[OutputNames.sftpTargetGroupArn];
  const passiveArns = g.targetGroupArns.filter((a) => a !== controlArn && a !== sftpArn);

  // Every change below is undone, newest first, if anything after it fails: a planned stop, an
  // SDK error (throttling, a lost connection) or a bug. Undo steps are idempotent, retried, and run
  // each on its own, so one failing undo does not stop the rest; what could not be undone is named.
  const undo: Array<{ readonly what: string; readonly run: () => Promise<unknown> }> = [];
  const done = async (what: string, act: () => Promise<unknown>, revert: () => Promise<unknown>) => {
    await act();
    undo.push({ what, run: revert });
  };
  const unwind = async (): Promise<string[]> => {
    const failed: string[] = [];
    for (const u of undo.splice(0).reverse()) {
      // Throttling and dropped connections pass: try each undo 3 times, 2 and 4 s apart.
      for (let attempt = 1; ; attempt++) {
        try {
          await u.run();
          break;
        } catch (err) {
          if (attempt === 3) {
            failed.push(`${u.what} (${(err as Error).name}: ${(err as Error).message})`);
            break;
          }
          await io.sleep(2000 * attempt);
        }
      }
    }
    return failed;
  };
  const resumeGroup = () =>
    c.asg.send(new ResumeProcessesCommand({ AutoScalingGroupName: g.name, ScalingProcesses: ['AddToLoadBalancer'] }));
  // Back to one instance: the unprotected new one goes, the protected old one stays.
  const groupToOne = () =>
    c.asg.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: g.name, MinSize: 1, MaxSize: 1, DesiredCapacity: 1 }));

  try {
    await rollSlotSteps();
  } catch (err) {
    const failed = await unwind();
    if (failed.length > 0) {
      say(`could not undo: ${failed.join('; ')}. Check the group with npm run status and fix these by hand.`);
    } else {
      say('every change made for this slot was undone');
    }
    throw err;
  }
  // Success: only the group's own restoration is left (the swap is kept).
  const failed = await unwind();
  if (failed.length > 0) {
    throw new RollStopped(
      `slot ${slot}: rolled, but could not restore the group: ${failed.join('; ')}. Fix these by hand (npm run status).`,
    );
  }

  async function rollSlotSteps(): Promise<void> {
    const o2 = old as NonNullable<typeof old>;
    // 2. The new instance, beside the old one and outside the load balancer.
    say(`launching a v${g.version ?? '?'} instance beside ${o2.id} (outside the load balancer)`);
    await done(
      `remove scale-in protection from ${o2.id}`,
      () =>
        c.asg.send(new SetInstanceProtectionCommand({ AutoScalingGroupName: g.name, InstanceIds: [o2.id], ProtectedFromScaleIn: true })),
      () =>
        c.asg.send(new SetInstanceProtectionCommand({ AutoScalingGroupName: g.name, InstanceIds: [o2.id], ProtectedFromScaleIn: false })),
    );
    await done(
      `resume AddToLoadBalancer on ${g.name}`,
      () => c.asg.send(new SuspendProcessesCommand({ AutoScalingGroupName: g.name, ScalingProcesses: ['AddToLoadBalancer'] })),
      resumeGroup,
    );
    await done(
      `set ${g.name} back to one instance`,
      () => c.asg.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: g.name, MaxSize: 2, DesiredCapacity: 2 })),
      groupToOne,
    );

    const started = io.now();
    const deadline = started + o.bootTimeoutMinutes * 60_000;
    let fresh: string | undefined;
    let lastState = '';
    for (;;) {
      const now = (await describeSlotGroups(c.asg, stack)).find((x) => x.slot === slot) as SlotGroup;
      const candidate = now.instances.find((i) => i.id !== o2.id);
      if (candidate) {
        if (fresh && candidate.id !== fresh) {
          throw new RollStopped(
            `slot ${slot}: the new instance ${fresh} failed its boot check (abandoned: its FTP login did not pass) and the group launched another; ` +
              `roll stopped, ${o2.id} still serving. See ${fresh}'s console output or /var/log/nlb-ftp-boot.log.`,
          );
        }
        fresh = candidate.id;
        if (candidate.lifecycle !== lastState) {
          lastState = candidate.lifecycle;
          say(`${candidate.id} ${candidate.lifecycle} (${Math.round((io.now() - started) / 1000)} s)`);
        }
        if (candidate.lifecycle === 'InService') break;
        if (/^Terminat/.test(candidate.lifecycle)) {
          throw new RollStopped(
            `slot ${slot}: the new instance ${candidate.id} failed its boot check (${candidate.lifecycle}: its local FTP login did not pass); ` +
              `roll stopped, ${o2.id} still serving. See ${candidate.id}'s console output or /var/log/nlb-ftp-boot.log.`,
          );
        }
      } else if (fresh) {
        throw new RollStopped(
          `slot ${slot}: the new instance ${fresh} was terminated before passing its boot check; roll stopped, ${o2.id} still serving.`,
        );
      }
      if (io.now() >= deadline) {
        throw new RollStopped(
          `slot ${slot}: no new instance passed its boot check within ${o.bootTimeoutMinutes} min${fresh ? ` (${fresh} was ${lastState})` : ''}; ` +
            `roll stopped, ${o2.id} still serving.`,
        );
      }
      await io.sleep(o.pollSeconds * 1000);
    }
    const neu = fresh as string;
    say(`${neu} passed its boot check (local FTP login) after ${Math.round((io.now() - started) / 1000)} s`);

    // 4. Swap. From here until the new instance is healthy, this slot is the one out of rotation.
    await done(
      `remove the ${OUT_OF_ROTATION_TAG} tag from ${o2.id}`,
      () =>
        c.ec2.send(new CreateTagsCommand({ Resources: [o2.id], Tags: [{ Key: OUT_OF_ROTATION_TAG, Value: 'npm run roll: draining' }] })),
      () => c.ec2.send(new DeleteTagsCommand({ Resources: [o2.id], Tags: [{ Key: OUT_OF_ROTATION_TAG }] })),
    );
    await done(
      `register ${o2.id} on port 21 again`,
      () => c.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: controlArn, Targets: [{ Id: o2.id, Port: CONTROL_PORT }] })),
      () => c.elb.send(new RegisterTargetsCommand({ TargetGroupArn: controlArn, Targets: [{ Id: o2.id, Port: CONTROL_PORT }] })),
    );
    if (sftpArn) {
      await done(
        `register ${o2.id} on SFTP again`,
        () => c.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: sftpArn, Targets: [{ Id: o2.id }] })),
        () => c.elb.send(new RegisterTargetsCommand({ TargetGroupArn: sftpArn, Targets: [{ Id: o2.id }] })),
      );
    }
    say(`${o2.id} takes no new sessions; draining for ${o.drainSeconds} s`);
    for (let left = o.drainSeconds; left > 0; left -= Math.min(left, 30)) {
      await io.sleep(Math.min(left, 30) * 1000);
      if (left - 30 > 0) say(`draining, ${left - 30} s left`);
    }
    for (const arn of passiveArns) {
      await done(
        `put ${o2.id} back in passive target group ${arn}`,
        () => c.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: o2.id }] })),
        () => c.elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: o2.id }] })),
      );
      await done(
        `take ${neu} out of passive target group ${arn}`,
        () => c.elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: neu }] })),
        () => c.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: neu }] })),
      );
    }
    await done(
      `take ${neu} off port 21`,
      () => c.elb.send(new RegisterTargetsCommand({ TargetGroupArn: controlArn, Targets: [{ Id: neu, Port: CONTROL_PORT }] })),
      () => c.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: controlArn, Targets: [{ Id: neu, Port: CONTROL_PORT }] })),
    );
    if (sftpArn) {
      await done(
        `take ${neu} off SFTP`,
        () => c.elb.send(new RegisterTargetsCommand({ TargetGroupArn: sftpArn, Targets: [{ Id: neu }] })),
        () => c.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: sftpArn, Targets: [{ Id: neu }] })),
      );
    }
    say(
      `${neu} registered on port 21${sftpArn ? ', SFTP' : ''} and ${passiveArns.length} passive port(s); waiting for the NLB to report it healthy`,
    );
    const healthyBy = io.now() + o.healthyTimeoutMinutes * 60_000;
    for (;;) {
      const state = (await controlHealth(c, controlArn)).get(neu);
      const sftpState = sftpArn ? (await targetHealth(c, sftpArn)).get(neu) : 'healthy';
      if (state === 'healthy' && sftpState === 'healthy') break;
      if (io.now() >= healthyBy) {
        const where = state !== 'healthy' ? `port 21 (${state ?? 'not registered'})` : `SFTP (${sftpState ?? 'not registered'})`;
        say(`${neu} is still not healthy on ${where}; swapping back to ${o2.id}`);
        throw new RollStopped(
          `slot ${slot}: ${neu} passed its boot check but the NLB never reported it healthy on ${where} within ${o.healthyTimeoutMinutes} min; ` +
            `swapped back, roll stopped, ${o2.id} serving again.`,
        );
      }
      await io.sleep(o.pollSeconds * 1000);
    }

    // 5. The point of no return: the old instance goes. From here a failure keeps the swap and only
    // the group's own settings are restored (one instance, AddToLoadBalancer running again).
    await c.asg.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: o2.id, ShouldDecrementDesiredCapacity: true }));
    undo.splice(
      0,
      undo.length,
      { what: `resume AddToLoadBalancer on ${g.name}`, run: resumeGroup },
      { what: `set ${g.name} back to one instance`, run: groupToOne },
    );
    say(`serving on ${neu} (v${g.version ?? '?'}); ${o2.id} terminated`);
  }
}

export interface RollRun {
  readonly code: number;
  readonly output: string;
}

export const ROLL_COMMAND: CommandSpec = {
  permissionsOf: 'roll',
  usage: 'npm run roll --',
  summary:
    "Move each slot onto its launch template's current version (a new AMI or boot script), one slot at a time, the service up throughout.",
  options: {
    stack: { type: 'string', value: 'NAME', help: 'the stack to roll', default: 'stackName from nlb-ftp.config.json, else NlbFtp' },
    'dry-run': { type: 'boolean', help: 'print the plan and change nothing' },
    slot: { type: 'string', multiple: true, value: 'N', help: 'roll only this slot', default: 'every slot that needs it' },
    'drain-seconds': {
      type: 'string',
      value: 'S',
      help: 'how long sessions on the old instance may finish',
      default: String(ROLL_DEFAULTS.drainSeconds),
    },
    'boot-timeout-minutes': {
      type: 'string',
      value: 'M',
      help: 'how long a new instance may take to pass its boot check',
      default: String(ROLL_DEFAULTS.bootTimeoutMinutes),
    },
    'healthy-timeout-minutes': {
      type: 'string',
      value: 'M',
      help: 'how long the NLB may take to report it healthy',
      default: String(ROLL_DEFAULTS.healthyTimeoutMinutes),
    },
    'poll-seconds': { type: 'string', value: 'S', help: 'seconds between polls', default: String(ROLL_DEFAULTS.pollSeconds) },
  },
  examples: ['npm run roll -- --dry-run', 'npm run roll -- --slot 0 --drain-seconds 120'],
};

/** Parse the command line; a bad flag or value names itself (UsageError). */
export function parseRollArgs(argv: readonly string[], cwd: string): RollOptions | { help: true } {
  const parsed = parseCommand(ROLL_COMMAND, argv);
  if (parsed.help) return { help: true };
  const v = parsed.values;
  const num = (flag: keyof typeof ROLL_COMMAND.options, min: number, fallback: number) =>
    wholeNumber(flag, v[flag] as string | undefined, min, fallback);
  const slots = ((v.slot as string[] | undefined) ?? []).map((s) => wholeNumber('slot', s, 0, 0));
  return {
    stackName: (v.stack as string | undefined) ?? loadConfig({ context: {}, cwd }).stackName,
    dryRun: v['dry-run'] === true,
    slots: slots.length > 0 ? slots : undefined,
    drainSeconds: num('drain-seconds', 0, ROLL_DEFAULTS.drainSeconds),
    bootTimeoutMinutes: num('boot-timeout-minutes', 1, ROLL_DEFAULTS.bootTimeoutMinutes),
    healthyTimeoutMinutes: num('healthy-timeout-minutes', 1, ROLL_DEFAULTS.healthyTimeoutMinutes),
    pollSeconds: num('poll-seconds', 1, ROLL_DEFAULTS.pollSeconds),
  };
}

/** The whole command, without touching process: testable with mocked SDK clients. */
export async function runRoll(
  argv: readonly string[],
  io: Partial<RollIo> = {},
  clients?: RollClients,
  cwd = process.cwd(),
): Promise<RollRun> {
  const lines: string[] = [];
  const log = (l: string) => {
    lines.push(l);
    io.log?.(l);
  };
  let opts: RollOptions | { help: true };
  try {
    opts = parseRollArgs(argv, cwd);
  } catch (err) {
    if (!(err instanceof UsageError)) {
      log(explainAwsError(err));
      return { code: EXIT.failed, output: lines.join('\n') };
    }
    log(`${err.message}\n${helpText(ROLL_COMMAND)}`);
    return { code: EXIT.usage, output: lines.join('\n') };
  }
  if ('help' in opts) {
    log(helpText(ROLL_COMMAND));
    return { code: EXIT.ok, output: lines.join('\n') };
  }
  try {
    const c = clients ?? { ...defaultClients(), elb: new ElasticLoadBalancingV2Client({}), ec2: new EC2Client({}) };
    await roll(c, opts, {
      log,
      sleep: io.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
      now: io.now ?? Date.now,
    });
    return { code: EXIT.ok, output: lines.join('\n') };
  } catch (err) {
    // A planned stop, or a stack or setting that is not what roll needs: said as is. Anything
    // else (an AWS error): one sentence that says what to do.
    const planned = err instanceof RollStopped || err instanceof FleetError || err instanceof ConfigError;
    log(planned ? `roll stopped: ${(err as Error).message}` : `roll failed: ${explainAwsError(err)}`);
    return { code: EXIT.failed, output: lines.join('\n') };
  }
}
