/**
 * `npm run roll` against a fake deployed stack behind mocked SDK clients (test/helpers/fake-fleet.ts):
 * one slot at a time, never two out of rotation, and a failed new instance leaves the old one serving.
 */
import * as os from 'node:os';
import { ResumeProcessesCommand } from '@aws-sdk/client-auto-scaling';
import { afterEach, describe, expect, it } from 'vitest';
import { runRoll } from '../../lib/cli/roll';
import { OUT_OF_ROTATION_TAG } from '../../lib/shared/contract';
import { CONTROL, FakeFleet, SFTP } from '../helpers/fake-fleet';

let fleet: FakeFleet | undefined;
afterEach(() => fleet?.restore());

/** Run the roll with a clock that moves only when the roll sleeps. */
async function roll(f: FakeFleet, args: string[]) {
  let now = 0;
  const lines: string[] = [];
  const r = await runRoll(
    ['--stack', 'NlbFtp', ...args],
    {
      log: (l) => lines.push(l),
      sleep: async (ms) => {
        now += ms;
      },
      now: () => now,
    },
    f.clients,
    os.tmpdir(),
  );
  return { ...r, lines, elapsedMs: now };
}

describe('npm run roll', () => {
  it('--dry-run prints the plan for every slot and changes nothing', async () => {
    fleet = new FakeFleet(3, 2, '4', '5');
    fleet.group(1).instances[0].version = '5';
    const r = await roll(fleet, ['--dry-run']);
    expect(r.code, r.output).toBe(0);
    expect(r.lines).toEqual([
      'slot 0: i-0old runs launch template v4; roll to v5',
      'slot 1: i-1old is up to date (v5)',
      'slot 2: i-2old runs launch template v4; roll to v5',
      'dry run: 2 slot(s) would be rolled, one at a time; nothing changed',
    ]);
    expect(fleet.events).toEqual([]);
  });

  it('rolls every stale slot one at a time onto the new version, never with two slots out of rotation', async () => {
    fleet = new FakeFleet(3, 2, '4', '5');
    const r = await roll(fleet, ['--drain-seconds', '45']);
    expect(r.code, r.output).toBe(0);
    expect(fleet.maxOutOfRotation).toBe(1);
    for (const slot of [0, 1, 2]) {
      const g = fleet.group(slot);
      expect(g.instances.map((i) => [i.lifecycle, i.version])).toEqual([['InService', '5']]);
      const id = g.instances[0].id;
      expect(id).toMatch(new RegExp(`^i-${slot}new`));
      // In the port-21 group and in exactly its own passive groups; the old instance is in none.
      expect(fleet.members(CONTROL)).toContain(id);
      for (const arn of fleet.passiveOf(slot)) expect(fleet.members(arn)).toEqual([id]);
      expect([...fleet.targets.values()].some((m) => m.has(`i-${slot}old`))).toBe(false);
      expect({ min: g.min, max: g.max, desired: g.desired, suspended: [...g.suspended] }).toEqual({
        min: 1,
        max: 1,
        desired: 1,
        suspended: [],
      });
    }
    // Slot k+1 starts only after slot k's old instance is gone.
    const order = fleet.events.filter((e) => /^(terminate i-\dold|suspend)/.test(e));
    expect(order).toEqual([
      'suspend NlbFtp-slot0',
      'terminate i-0old',
      'suspend NlbFtp-slot1',
      'terminate i-1old',
      'suspend NlbFtp-slot2',
      'terminate i-2old',
    ]);
    // Progress: which slot, what the new instance does, and the drain.
    expect(r.lines).toContain('[2/3] slot 1 (NlbFtp-slot1)');
    expect(r.lines).toContain('  slot 1: i-1new1 passed its boot check (local FTP login) after 20 s');
    expect(r.lines).toContain('  slot 1: i-1old takes no new sessions; draining for 45 s');
    expect(r.lines.at(-1)).toBe('done: rolled slot(s) 0, 1, 2');
  });

  it('stops when a new instance fails its boot check, and leaves the old instance serving untouched', async () => {
    fleet = new FakeFleet(3, 2, '4', '5');
    fleet.boot = (slot) => (slot === 1 ? 'fail' : 'pass');
    const r = await roll(fleet, []);
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toMatch(
      /^roll stopped: slot 1: the new instance i-1new1 failed its boot check \(Terminating: its local FTP login did not pass\); roll stopped, i-1old still serving\./,
    );
    expect(fleet.maxOutOfRotation).toBe(1); // slot 0's own swap, never more
    const g = fleet.group(1);
    // The abandoned instance is on its way out (Terminating); the group wants one instance, the old one.
    expect(g.instances.filter((i) => i.lifecycle !== 'Terminating').map((i) => i.id)).toEqual(['i-1old']);
    expect(fleet.members(CONTROL)).toContain('i-1old');
    for (const arn of fleet.passiveOf(1)) expect(fleet.members(arn)).toEqual(['i-1old']);
    expect({ max: g.max, desired: g.desired, suspended: [...g.suspended], protectedOld: g.instances[0].protectedFromScaleIn }).toEqual({
      max: 1,
      desired: 1,
      suspended: [],
      protectedOld: false,
    });
    expect(fleet.events.some((e) => /deregister i-1old/.test(e))).toBe(false);
    // Slot 0 was rolled before; slot 2 was never touched.
    expect(fleet.group(0).instances[0].version).toBe('5');
    expect(fleet.group(2).instances.map((i) => i.id)).toEqual(['i-2old']);
    expect(fleet.events.some((e) => e.includes('slot2'))).toBe(false);
  });

  it('stops when no new instance passes within the boot timeout, old instance serving', async () => {
    fleet = new FakeFleet(2, 1, '4', '5');
    fleet.boot = () => 'hang';
    const r = await roll(fleet, ['--boot-timeout-minutes', '3']);
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toMatch(
      /no new instance passed its boot check within 3 min \(i-0new1 was Pending:Wait\); roll stopped, i-0old still serving/,
    );
    expect(fleet.group(0).instances.map((i) => i.id)).toEqual(['i-0old']);
    expect(fleet.members(CONTROL).sort()).toEqual(['i-0old', 'i-1old']);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(3 * 60_000);
  });

  it('refuses to start a slot while another slot is out of rotation, and changes nothing', async () => {
    fleet = new FakeFleet(3, 1, '4', '5');
    fleet.targets.get(CONTROL)?.set('i-2old', 'unhealthy');
    const r = await roll(fleet, []);
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toBe(
      'roll stopped: slot 2 is not serving (i-2old: unhealthy); rolling slot 0 now would take a second slot out of rotation. Nothing changed.',
    );
    expect(fleet.events).toEqual([]);
  });

  it('swaps back when the NLB never reports the new instance healthy', async () => {
    fleet = new FakeFleet(2, 2, '4', '5');
    fleet.newTargetHealth = (id) => (id.startsWith('i-0new') ? 'unhealthy' : 'healthy');
    const r = await roll(fleet, ['--healthy-timeout-minutes', '2']);
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toMatch(
      /NLB never reported it healthy on port 21 \(unhealthy\) within 2 min; swapped back, roll stopped, i-0old serving again\.$/,
    );
    expect(fleet.maxOutOfRotation).toBe(1);
    expect(fleet.group(0).instances.map((i) => i.id)).toEqual(['i-0old']);
    for (const arn of fleet.passiveOf(0)) expect(fleet.members(arn)).toEqual(['i-0old']);
    expect(fleet.members(CONTROL)).toContain('i-0old');
    expect(fleet.tagsOf('i-0old')?.[OUT_OF_ROTATION_TAG]).toBeUndefined();
  });

  it('tags the instance it drains out of rotation, so the health checker does not put it back', async () => {
    fleet = new FakeFleet(1, 1, '4', '5');
    const r = await roll(fleet, []);
    expect(r.code, r.output).toBe(0);
    const tagAt = fleet.events.indexOf('tag i-0old');
    const drainAt = fleet.events.indexOf('deregister i-0old control');
    expect(tagAt).toBeGreaterThanOrEqual(0);
    expect(tagAt).toBeLessThan(drainAt);
  });

  it('with SFTP: the old instance leaves the SFTP group with port 21 (before the drain), the new one joins it with port 21', async () => {
    const f = new FakeFleet(2, 1, '4', '5', { sftp: true });
    fleet = f;
    const r = await roll(f, ['--slot', '0']);
    expect(r.code, r.output).toBe(0);
    const at = (e: string) => {
      const i = f.events.indexOf(e);
      expect(i, `${e} in ${f.events.join(' | ')}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    // Leaving: port 21 and SFTP one after the other, both before the passive groups move (the drain).
    expect(at('deregister i-0old sftp')).toBe(at('deregister i-0old control') + 1);
    expect(at('deregister i-0old sftp')).toBeLessThan(at('deregister i-0old passive'));
    // Joining: SFTP right after port 21, both after the passive groups.
    expect(at('register i-0new1 sftp')).toBe(at('register i-0new1 control') + 1);
    expect(at('register i-0new1 passive')).toBeLessThan(at('register i-0new1 control'));
    expect(fleet.members(SFTP).sort()).toEqual(['i-0new1', 'i-1old']);
    expect(r.output).toContain('registered on port 21, SFTP and 1 passive port(s)');
  });

  it('with SFTP: swaps back when the new instance never turns healthy on SFTP, and names SFTP', async () => {
    fleet = new FakeFleet(2, 1, '4', '5', { sftp: true });
    const health = new Map<string, string>();
    fleet.newTargetHealth = (id) => health.get(id) ?? 'healthy';
    // Healthy on port 21 but not on SFTP: the SFTP group's own health check fails.
    const sftpGroup = fleet.targets.get(SFTP) as Map<string, string>;
    const set = sftpGroup.set.bind(sftpGroup);
    sftpGroup.set = (id: string, state: string) => set(id, id.startsWith('i-0new') && state === 'healthy' ? 'unhealthy' : state);
    const r = await roll(fleet, ['--healthy-timeout-minutes', '2', '--slot', '0']);
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toMatch(
      /never reported it healthy on SFTP \(unhealthy\) within 2 min; swapped back, roll stopped, i-0old serving again\.$/,
    );
    expect(fleet.members(SFTP).sort()).toEqual(['i-0old', 'i-1old']);
    expect(fleet.members(CONTROL)).toContain('i-0old');
  });

  it('says so when every slot is up to date, and names a bad flag or slot', async () => {
    fleet = new FakeFleet(2, 1, '5', '5');
    expect((await roll(fleet, [])).lines.at(-1)).toBe('nothing to roll');
    const bad = await roll(fleet, ['--drain-seconds', 'soon']);
    // A usage error exits 2, like every command's, and shows the help.
    expect([bad.code, bad.output]).toEqual([2, expect.stringContaining('--drain-seconds needs a whole number of at least 0, got soon')]);
    expect(bad.output).toContain('usage: npm run roll -- [options]');
    const slot = await roll(fleet, ['--slot', '7']);
    expect(slot.lines.at(-1)).toBe('roll stopped: --slot 7: stack NlbFtp has slots 0, 1.');
  });
});

describe('npm run roll on any error', () => {
  /** The slot serves on exactly one instance, registered where it belongs, and its group is as deployed. */
  function expectSlotIntact(f: FakeFleet, slot: number, context: string) {
    const g = f.group(slot);
    expect(
      g.instances.map((i) => i.lifecycle),
      context,
    ).toEqual(['InService']);
    const id = g.instances[0].id;
    expect(f.members(CONTROL), context).toContain(id);
    for (const arn of f.passiveOf(slot)) expect(f.members(arn), context).toEqual([id]);
    expect({ min: g.min, max: g.max, desired: g.desired, suspended: [...g.suspended] }, context).toEqual({
      min: 1,
      max: 1,
      desired: 1,
      suspended: [],
    });
    expect(g.instances[0].protectedFromScaleIn, context).toBe(false);
    expect(f.tagsOf(id)?.[OUT_OF_ROTATION_TAG], context).toBeUndefined();
  }

  it('an SDK error at any step of a slot leaves it serving and its group as deployed (every step, one at a time)', async () => {
    const clean = new FakeFleet(2, 2, '4', '5');
    const ok = await roll(clean, ['--slot', '0', '--drain-seconds', '0']);
    clean.restore();
    expect(ok.code, ok.output).toBe(0);
    const steps = clean.mutatingCalls;
    expect(steps).toBeGreaterThanOrEqual(12);
    for (let k = 1; k <= steps; k++) {
      fleet = new FakeFleet(2, 2, '4', '5');
      fleet.failOnCall = k;
      const r = await roll(fleet, ['--slot', '0', '--drain-seconds', '0']);
      const context = `SDK error at mutating call ${k} of ${steps}:\n${r.output}`;
      // Before the old instance is terminated the error stops the roll; after it, the undo's retry
      // finishes the group's restoration and the slot is rolled.
      if (r.code === 0) expect(fleet.group(0).instances[0].version, context).toBe('5');
      else {
        // One sentence that says what to do; never the SDK's class name.
        expect(r.output, context).toContain('AWS is throttling these calls: wait a minute and try again.');
        expect(r.output, context).not.toContain('ThrottlingException');
      }
      expect(fleet.maxOutOfRotation, context).toBeLessThanOrEqual(1);
      expectSlotIntact(fleet, 0, context);
      expectSlotIntact(fleet, 1, context);
      expect(r.output, context).not.toContain('could not undo');
      fleet.restore();
      fleet = undefined;
    }
  });

  it('names what it could not undo when an error persists', async () => {
    fleet = new FakeFleet(2, 2, '4', '5');
    fleet.boot = () => 'hang';
    // Every ResumeProcesses fails: the roll stops on the boot timeout and says what is left to do.
    fleet.asg.on(ResumeProcessesCommand).rejects(Object.assign(new Error('Access denied'), { name: 'AccessDenied' }));
    const stopped = await roll(fleet, ['--slot', '0', '--drain-seconds', '0', '--boot-timeout-minutes', '1']);
    expect(stopped.code).toBe(1);
    expect(stopped.output).toContain('could not undo: resume AddToLoadBalancer on NlbFtp-slot0 (AccessDenied: Access denied)');
    expect(stopped.output).toContain('no new instance passed its boot check');
  });
});
