/**
 * One checker round with fakes for everything outside: how the FTPS certificate secret reaches
 * the probe, and what happens when it cannot be read.
 */
import { describe, expect, it } from 'vitest';
import { type CheckerDeps, runRound } from '../../lambda/health-checker/checker';
import type { ProbeOptions, ProbeResult } from '../../lambda/health-checker/probe';
import { fixedLocator, slotsOf } from '../../lambda/health-checker/slot-locator';

const inventory = [
  { slot: 0, instanceId: 'i-0', privateIp: '10.0.0.10' },
  { slot: 1, instanceId: 'i-1', privateIp: '10.0.1.10' },
];

function fakes(tlsGet: () => Promise<{ ca?: string; fingerprint256?: string }>) {
  const seen: ProbeOptions[] = [];
  const logs: string[] = [];
  let invalidated = 0;
  const mutations: string[] = [];
  const deps: CheckerDeps = {
    registry: {
      describe: async () => new Map(inventory.map((b) => [b.instanceId, 'healthy'])),
      register: async (ids: readonly string[]) => void mutations.push(...ids.map((i) => `+${i}`)),
      deregister: async (ids: readonly string[]) => void mutations.push(...ids.map((i) => `-${i}`)),
    },
    locator: fixedLocator(inventory),
    store: { load: async () => ({ version: 0, counters: {} }), save: async () => true } as unknown as CheckerDeps['store'],
    credentials: { get: async () => ({ username: 'u', password: 'p' }), invalidate() {} },
    tls: {
      get: tlsGet,
      invalidate() {
        invalidated++;
      },
    },
    probe: async (t, _c, opts): Promise<ProbeResult> => {
      seen.push(opts);
      return { slot: t.slot, ok: true, step: 'quit', latencyMs: 1 };
    },
    log: {
      info: (m, a) => void logs.push(`${m} ${JSON.stringify(a)}`),
      warn: (m, a) => void logs.push(`${m} ${JSON.stringify(a)}`),
      error: (m, a) => void logs.push(`${m} ${JSON.stringify(a)}`),
    },
    metrics: { probe() {}, round() {}, heartbeat() {}, flush() {} },
  };
  return { deps, seen, logs, mutations, invalidatedCount: () => invalidated };
}

const settings = { slots: slotsOf(inventory), thresholds: { fall: 1, rise: 1 }, intervalMs: 10_000, stepTimeoutMs: 5_000 };

describe('checker round with FTPS', () => {
  it('passes the certificate to verify against to every probe', async () => {
    const f = fakes(async () => ({ ca: 'PEM', fingerprint256: 'AB:CD' }));
    const out = await runRound(f.deps, settings);
    expect(out.results.every((r) => r.ok)).toBe(true);
    expect(f.seen.map((o) => o.tls)).toEqual([
      { ca: 'PEM', fingerprint256: 'AB:CD' },
      { ca: 'PEM', fingerprint256: 'AB:CD' },
    ]);
  });

  it('an unreadable or invalid certificate secret fails every probe as tls, logs why without the secret, and deregisters nothing', async () => {
    const f = fakes(async () => {
      throw new Error('FTPS certificate secret: privateKey: must be an unencrypted PEM private key');
    });
    const out = await runRound(f.deps, settings);
    expect(f.seen).toHaveLength(0); // no probe without something to verify against
    expect(out.results.map((r) => [r.slot, r.ok, r.errorClass])).toEqual([
      [0, false, 'tls'],
      [1, false, 'tls'],
    ]);
    expect(out.decision.deregister).toEqual([]); // fail-open: nothing passed
    expect(f.mutations).toEqual([]);
    expect(f.logs.join('\n')).toMatch(/cannot read the FTPS certificate secret[^\n]*privateKey: must be/);
    expect(f.invalidatedCount()).toBe(1); // read again next round
  });
});
