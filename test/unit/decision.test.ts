import { describe, expect, it } from 'vitest';
import { type CounterState, decide } from '../../lambda/health-checker/decision';
import type { BackendRef } from '../../lib/shared/contract';

const inv = (n: number): BackendRef[] =>
  Array.from({ length: n }, (_, i) => ({ slot: i, instanceId: `i-${i}`, privateIp: `10.0.0.${i + 10}` }));
const T = { fall: 2, rise: 2 };

/**
 * Feed a sequence of rounds (one string per round, one character per slot: '+' pass, '-' fail)
 * through decide(), applying its actions to a simulated target group, and record what happened.
 */
function simulate(n: number, rounds: string[], thresholds = T) {
  const inventory = inv(n);
  let state: CounterState = {};
  const registered = new Set(inventory.map((b) => b.instanceId));
  const log: string[] = [];
  for (const round of rounds) {
    const d = decide({
      inventory,
      previous: state,
      registered,
      results: [...round].map((c, slot) => ({ slot, ok: c === '+' })),
      thresholds,
    });
    for (const b of d.deregister) registered.delete(b.instanceId);
    for (const b of d.register) registered.add(b.instanceId);
    log.push(
      [
        ...d.deregister.map((b) => `-${b.slot}`),
        ...d.register.map((b) => `+${b.slot}`),
        ...d.heldByFailOpen.map((b) => `hold${b.slot}`),
      ].join(' ') || '.',
    );
    state = d.next;
  }
  return { log, registered: [...registered].sort() };
}

describe('health decision', () => {
  it.each([
    // [name, backends, rounds, expected action per round, registered at the end]
    ['one failure is a blip', 2, ['++', '+-', '++'], ['.', '.', '.'], ['i-0', 'i-1']],
    ['fall threshold deregisters on the 2nd failure in a row', 2, ['+-', '+-'], ['.', '-1'], ['i-0']],
    ['rise threshold registers on the 2nd success in a row', 2, ['+-', '+-', '++', '++'], ['.', '-1', '.', '+1'], ['i-0', 'i-1']],
    ['flapping never reaches either threshold', 2, ['+-', '++', '+-', '++', '+-'], ['.', '.', '.', '.', '.'], ['i-0', 'i-1']],
    ['flapping while out stays out', 2, ['+-', '+-', '++', '+-', '++', '+-'], ['.', '-1', '.', '.', '.', '.'], ['i-0']],
    ['fail-open: the only backend is never deregistered', 1, ['-', '-', '-'], ['.', 'hold0', 'hold0'], ['i-0']],
    [
      'fail-open: all failing means the checker is blind; nothing is removed',
      3,
      ['---', '---', '---'],
      ['.', 'hold0 hold1 hold2', 'hold0 hold1 hold2'],
      ['i-0', 'i-1', 'i-2'],
    ],
    ['one healthy backend lets the failing ones go', 3, ['+--', '+--'], ['.', '-1 -2'], ['i-0']],
    ['idempotent: a steady healthy cluster makes no calls', 3, ['+++', '+++', '+++', '+++'], ['.', '.', '.', '.'], ['i-0', 'i-1', 'i-2']],
    ['idempotent: a backend that stays broken is deregistered once', 2, ['+-', '+-', '+-', '+-'], ['.', '-1', '.', '.'], ['i-0']],
  ] as const)('%s', (_name, n, rounds, actions, end) => {
    const r = simulate(n, [...rounds]);
    expect(r.log).toEqual(actions);
    expect(r.registered).toEqual(end);
  });

  it('keeps one backend when the only passing one is still rising', () => {
    // Slot 0 was out and is rising; slots 1 and 2 are registered and failing.
    const inventory = inv(3);
    const d = decide({
      inventory,
      previous: { 0: { failures: 0, successes: 0 }, 1: { failures: 1, successes: 0 }, 2: { failures: 1, successes: 0 } },
      registered: new Set(['i-1', 'i-2']),
      results: [
        { slot: 0, ok: true },
        { slot: 1, ok: false },
        { slot: 2, ok: false },
      ],
      thresholds: T,
    });
    expect(d.register).toEqual([]);
    expect(d.deregister.map((b) => b.slot)).toEqual([2]);
    expect(d.heldByFailOpen.map((b) => b.slot)).toEqual([1]);
    expect(d.registeredAfter).toBe(1);
  });

  it('reports no state change for a steady cluster, so nothing is written', () => {
    const inventory = inv(2);
    const steady = { 0: { failures: 0, successes: 2, instanceId: 'i-0' }, 1: { failures: 0, successes: 2, instanceId: 'i-1' } };
    const d = decide({
      inventory,
      previous: steady,
      registered: new Set(['i-0', 'i-1']),
      results: [
        { slot: 0, ok: true },
        { slot: 1, ok: true },
      ],
      thresholds: T,
    });
    expect(d).toMatchObject({ stateChanged: false, register: [], deregister: [], healthyCount: 2, registeredAfter: 2 });
  });

  it('caps counters at their thresholds', () => {
    const r = decide({
      inventory: inv(2),
      previous: { 0: { failures: 0, successes: 3 }, 1: { failures: 5, successes: 0 } },
      registered: new Set(['i-0']),
      results: [
        { slot: 0, ok: true },
        { slot: 1, ok: false },
      ],
      thresholds: { fall: 3, rise: 3 },
    });
    expect(r.next).toEqual({ 0: { failures: 0, successes: 3, instanceId: 'i-0' }, 1: { failures: 3, successes: 0, instanceId: 'i-1' } });
  });

  it("starts a replaced instance from zero: the old instance's failures do not count against it", () => {
    const d = decide({
      inventory: [
        { slot: 0, instanceId: 'i-0', privateIp: '10.0.0.1' },
        { slot: 1, instanceId: 'i-new', privateIp: '10.0.0.9' },
      ],
      previous: { 0: { failures: 0, successes: 2, instanceId: 'i-0' }, 1: { failures: 1, successes: 0, instanceId: 'i-old' } },
      registered: new Set(['i-0', 'i-new']),
      results: [
        { slot: 0, ok: true },
        { slot: 1, ok: false },
      ],
      thresholds: T,
    });
    // One failure of the new instance, not the old one's second: nothing is deregistered yet.
    expect(d.next[1]).toEqual({ failures: 1, successes: 0, instanceId: 'i-new' });
    expect(d.deregister).toEqual([]);
    expect(d.stateChanged).toBe(true);
  });

  it('keeps the counters of a slot that has no instance this round, and never counts it', () => {
    const d = decide({
      inventory: [{ slot: 0, instanceId: 'i-0', privateIp: '10.0.0.1' }],
      previous: { 0: { failures: 0, successes: 2, instanceId: 'i-0' }, 1: { failures: 2, successes: 0, instanceId: 'i-1' } },
      registered: new Set(['i-0']),
      results: [{ slot: 0, ok: false }],
      thresholds: T,
    });
    expect(d.next[1]).toEqual({ failures: 2, successes: 0, instanceId: 'i-1' });
    // Slot 0 is the only probed backend and it failed: fail-open holds it, the missing slot plays no part.
    expect(d).toMatchObject({ healthyCount: 0, registeredAfter: 1 });
  });

  it('never registers an instance tagged out of rotation, and may still deregister one', () => {
    const base = {
      inventory: inv(2),
      previous: { 0: { failures: 0, successes: 2, instanceId: 'i-0' }, 1: { failures: 1, successes: 0, instanceId: 'i-1' } },
      thresholds: T,
    };
    const held = decide({
      ...base,
      registered: new Set(['i-1']),
      results: [
        { slot: 0, ok: true },
        { slot: 1, ok: false },
      ],
      heldOut: new Set(['i-0']),
    });
    expect(held.register).toEqual([]);
    const free = decide({
      ...base,
      registered: new Set(['i-1']),
      results: [
        { slot: 0, ok: true },
        { slot: 1, ok: false },
      ],
    });
    expect(free.register.map((b) => b.instanceId)).toEqual(['i-0']);
    const out = decide({
      ...base,
      registered: new Set(['i-0', 'i-1']),
      results: [
        { slot: 0, ok: true },
        { slot: 1, ok: false },
      ],
      heldOut: new Set(['i-1']),
    });
    expect(out.deregister.map((b) => b.instanceId)).toEqual(['i-1']);
  });

  it('never touches a target the inventory does not know', () => {
    const d = decide({
      inventory: inv(1),
      previous: {},
      registered: new Set(['i-0', 'i-stranger']),
      results: [{ slot: 0, ok: true }],
      thresholds: T,
    });
    expect([...d.register, ...d.deregister]).toEqual([]);
    expect(d.registeredAfter).toBe(1);
  });

  it('honours other thresholds (fall 3, rise 1)', () => {
    const r = simulate(2, ['+-', '+-', '+-', '++'], { fall: 3, rise: 1 });
    expect(r.log).toEqual(['.', '.', '-1', '+1']);
  });
});
