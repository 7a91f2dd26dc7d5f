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

describe('checker round with SFTP: the SFTP target group is decided from its own probes', () => {
  /** FTP and SFTP probe results per slot; the registries record their changes as `port:±instance`. */
  function withSftp(ftpOk: (slot: number) => boolean, sftpOk: (slot: number) => boolean) {
    const f = fakes(async () => ({}));
    const saved: unknown[] = [];
    const sftpOpts: unknown[] = [];
    const registry = (port: string) => ({
      describe: async () => new Map(inventory.map((b) => [b.instanceId, 'healthy'])),
      register: async (ids: readonly string[]) => void f.mutations.push(...ids.map((i) => `${port}:+${i}`)),
      deregister: async (ids: readonly string[]) => void f.mutations.push(...ids.map((i) => `${port}:-${i}`)),
    });
    const deps: CheckerDeps = {
      ...f.deps,
      tls: undefined,
      registry: registry('21'),
      store: {
        load: async () => ({ version: 3, counters: {} }),
        save: async (...args: unknown[]) => {
          saved.push(args);
          return true;
        },
      },
      probe: async (t) => ({ slot: t.slot, ok: ftpOk(t.slot), step: ftpOk(t.slot) ? 'quit' : 'auth', latencyMs: 1 }),
      sftp: {
        registry: registry('sftp'),
        port: 2222,
        hostKeys: ['SHA256:a', 'SHA256:b'],
        probe: async (t, _c, o) => {
          sftpOpts.push([t.host, t.port, o.hostKeys]);
          return { slot: t.slot, ok: sftpOk(t.slot), step: sftpOk(t.slot) ? 'data' : 'hostkey', latencyMs: 1 };
        },
      },
    };
    return { ...f, deps, saved, sftpOpts };
  }

  it('a backend whose SFTP alone fails leaves the SFTP group only; the probe pins the host keys on the SFTP port', async () => {
    const f = withSftp(
      () => true,
      (slot) => slot !== 0,
    );
    const out = await runRound(f.deps, settings);
    expect(f.mutations).toEqual(['sftp:-i-0']);
    expect(out.sftp?.decision.deregister.map((b) => b.slot)).toEqual([0]);
    expect(out.decision.deregister).toEqual([]);
    expect(f.sftpOpts).toEqual([
      ['10.0.0.10', 2222, ['SHA256:a', 'SHA256:b']],
      ['10.0.1.10', 2222, ['SHA256:a', 'SHA256:b']],
    ]);
    // Both groups' counters are stored together, in one conditional write.
    expect(f.saved).toHaveLength(1);
    expect((f.saved[0] as unknown[])[0]).toBe(3);
    expect((f.saved[0] as unknown[])[2]).toMatchObject({ 0: { failures: 1, successes: 0 }, 1: { failures: 0, successes: 1 } });
    expect(f.logs.join('\n')).toMatch(/deregistered from the SFTP target group \{"slot":0/);
  });

  it('a backend whose FTP alone fails leaves port 21 only and keeps serving SFTP', async () => {
    const f = withSftp(
      (slot) => slot !== 1,
      () => true,
    );
    await runRound(f.deps, settings);
    expect(f.mutations).toEqual(['21:-i-1']);
  });

  it('SFTP failing on every backend: fail-open keeps the SFTP group as it is, port 21 untouched', async () => {
    const f = withSftp(
      () => true,
      () => false,
    );
    const out = await runRound(f.deps, settings);
    expect(f.mutations).toEqual([]);
    expect(out.sftp?.decision.heldByFailOpen.map((b) => b.slot)).toEqual([0, 1]);
    expect(f.logs.join('\n')).toMatch(/fail-open: backend keeps failing SFTP/);
  });
});
