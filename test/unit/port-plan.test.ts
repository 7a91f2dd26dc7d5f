import { describe, expect, it } from 'vitest';
import { MAX_PORT, MIN_UNPRIVILEGED_PORT, NLB_MAX_LISTENERS } from '../../lib/config';
import { azIndexForSlot, CONTROL_PORT, planPorts } from '../../lib/shared/port-plan';

/** Every (N, r) the listener budget allows. */
function allValidShapes(): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let n = 1; n <= 49; n++) for (let r = 1; 1 + n * r <= NLB_MAX_LISTENERS; r++) out.push([n, r]);
  return out;
}

describe('port plan', () => {
  it('gives every slot a disjoint range, inside 1024-65535 and never 21, for every allowed (N, r)', () => {
    const shapes = allValidShapes();
    expect(shapes.length).toBeGreaterThan(150);
    for (const [n, r] of shapes) {
      for (const start of [MIN_UNPRIVILEGED_PORT, 40000, MAX_PORT - n * r + 1]) {
        const plan = planPorts({ backendCount: n, passivePortsPerBackend: r, passivePortStart: start });
        const seen = new Set<number>();
        for (const s of plan.slots) {
          expect(s.ports).toHaveLength(r);
          for (const p of s.ports) {
            expect(seen.has(p), `port ${p} owned twice (N=${n}, r=${r})`).toBe(false);
            seen.add(p);
            expect(p).toBeGreaterThanOrEqual(MIN_UNPRIVILEGED_PORT);
            expect(p).toBeLessThanOrEqual(MAX_PORT);
            expect(p).not.toBe(CONTROL_PORT);
          }
        }
        expect(plan.listenerCount).toBe(1 + n * r);
        expect(plan.listenerCount).toBeLessThanOrEqual(NLB_MAX_LISTENERS);
      }
    }
  });

  it('keeps every existing slot range unchanged when backends are added', () => {
    for (const r of [1, 2, 4, 8]) {
      const maxN = Math.floor(49 / r);
      let previous = planPorts({ backendCount: 1, passivePortsPerBackend: r, passivePortStart: 40000 });
      for (let n = 2; n <= maxN; n++) {
        const next = planPorts({ backendCount: n, passivePortsPerBackend: r, passivePortStart: 40000 });
        expect(next.slots.slice(0, n - 1)).toEqual(previous.slots);
        previous = next;
      }
    }
  });

  it('refuses a plan over the NLB listener limit even if validation was bypassed', () => {
    expect(() => planPorts({ backendCount: 7, passivePortsPerBackend: 8, passivePortStart: 40000 })).toThrow(/57 listeners/);
  });

  it('spreads slots round-robin over AZs', () => {
    expect([0, 1, 2, 3, 4].map((s) => azIndexForSlot(s, 2))).toEqual([0, 1, 0, 1, 0]);
    expect([0, 1, 2, 3].map((s) => azIndexForSlot(s, 3))).toEqual([0, 1, 2, 0]);
  });
});
