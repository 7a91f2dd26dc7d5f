/**
 * One probe round, and a run of rounds at a fixed cadence inside one invocation. Everything from
 * the outside world (probe, target group, state, secret, logs, metrics, clock) is passed in, so
 * the same code runs in Lambda, in the local sandbox and in tests.
 */
import type { BackendRef, HealthCheckCredentials, SlotRef } from '../../lib/shared/contract';
import { type Decision, decide, type Thresholds } from './decision';
import type { ProbeCredentials, ProbeOptions, ProbeResult, ProbeTarget, ProbeTls } from './probe';
import type { SftpProbeOptions, SftpProbeResult, SftpProbeTarget } from './sftp-probe';
import type { SlotLocator } from './slot-locator';
import type { RoundLease, StateStore } from './state-store';
import type { TargetRegistry } from './target-registry';

export interface CheckerSettings {
  /** The slots; each round finds their current instances through `CheckerDeps.locator`. */
  readonly slots: readonly SlotRef[];
  readonly thresholds: Thresholds;
  readonly intervalMs: number;
  readonly stepTimeoutMs: number;
}

export interface CheckerLog {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

export interface CheckerMetrics {
  probe(slot: number, ok: boolean, latencyMs: number): void;
  /** With SFTP: one slot's SFTP login probe. */
  sftpProbe?(slot: number, ok: boolean): void;
  round(summary: { registered: number; healthy: number; heldByFailOpen: number }): void;
  /** Emitted once per completed round; its absence means the checker is silent or broken. */
  heartbeat(): void;
  flush(): void;
}

export interface CheckerDeps {
  readonly registry: TargetRegistry;
  /** Each slot's current instance, read every round: a replaced instance is probed in the next one. */
  readonly locator: SlotLocator;
  readonly store: StateStore;
  readonly credentials: { get(): Promise<HealthCheckCredentials>; invalidate(): void };
  /** Set when backends speak FTPS: what the probe trusts and pins (from the certificate secret). */
  readonly tls?: { get(): Promise<ProbeTls>; invalidate(): void };
  readonly probe: (target: ProbeTarget, creds: ProbeCredentials, opts: ProbeOptions) => Promise<ProbeResult>;
  /**
   * With SFTP: its target group, decided like port 21's (fall, rise, fail-open) but from SFTP login
   * probes of the backends' SFTP port, so a backend whose SFTP alone fails leaves SFTP's rotation
   * only, and one whose FTP alone fails keeps serving SFTP.
   */
  readonly sftp?: {
    readonly registry: TargetRegistry;
    readonly port: number;
    /** The host keys every backend must present (`SHA256:...`); unset: not pinned. */
    readonly hostKeys?: readonly string[];
    readonly probe: (target: SftpProbeTarget, creds: ProbeCredentials, opts: SftpProbeOptions) => Promise<SftpProbeResult>;
  };
  readonly log: CheckerLog;
  readonly metrics: CheckerMetrics;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface RoundOutcome {
  readonly results: readonly ProbeResult[];
  readonly decision: Decision;
  /** With SFTP: its probes and the SFTP target group's decision. */
  readonly sftp?: { readonly results: readonly SftpProbeResult[]; readonly decision: Decision };
  /** False when another invocation stored a newer state first; this round then changed nothing. */
  readonly applied: boolean;
}

export async function runRound(deps: CheckerDeps, s: CheckerSettings): Promise<RoundOutcome> {
  const probeOpts: ProbeOptions = { stepTimeoutMs: s.stepTimeoutMs, totalTimeoutMs: Math.max(s.stepTimeoutMs, s.intervalMs - 500) };

  const [stored, registered, sftpRegistered, located] = await Promise.all([
    deps.store.load(),
    deps.registry.describe(),
    deps.sftp?.registry.describe(),
    deps.locator.locate(s.slots),
  ]);
  const inventory = located.backends;
  for (const m of located.missing) {
    // Booting or being replaced: no evidence either way, so neither a failure nor a reason to fail open.
    const log = /instances in its passive/.test(m.reason) ? deps.log.warn : deps.log.info;
    log.call(deps.log, 'slot not probed', { slot: m.slot, reason: m.reason });
  }
  const [results, sftpResults] = await Promise.all([probeAll(deps, inventory, probeOpts), probeAllSftp(deps, inventory, probeOpts)]);

  const decision = decide({
    inventory,
    previous: stored.counters,
    registered: new Set(registered.keys()),
    results,
    thresholds: s.thresholds,
    heldOut: located.heldOut,
  });

  // SFTP's group: the same rules, its own counters, its own probes.
  const sftpDecision =
    sftpResults && sftpRegistered
      ? decide({
          inventory,
          previous: stored.sftpCounters ?? {},
          registered: new Set(sftpRegistered.keys()),
          results: sftpResults,
          thresholds: s.thresholds,
          heldOut: located.heldOut,
        })
      : undefined;

  /** One probe's log line, with what its target group holds for the backend now. */
  const logProbe = (message: string, r: ProbeResult | SftpProbeResult, group: ReadonlyMap<string, string> | undefined) => {
    const b = inventory.find((x) => x.slot === r.slot);
    deps.log.info(message, {
      slot: r.slot,
      instanceId: b?.instanceId,
      ok: r.ok,
      step: r.step,
      latencyMs: r.latencyMs,
      errorClass: r.errorClass ?? null,
      detail: r.detail ?? null,
      nlbState: b ? (group?.get(b.instanceId) ?? 'not-registered') : null,
    });
  };
  for (const r of results) {
    logProbe('probe', r, registered);
    deps.metrics.probe(r.slot, r.ok, r.latencyMs);
  }
  for (const r of sftpResults ?? []) {
    logProbe('sftp probe', r, sftpRegistered);
    deps.metrics.sftpProbe?.(r.slot, r.ok);
  }
  const allFailedWith = (c: string) => results.length > 0 && results.every((r) => !r.ok && r.errorClass === c);
  if (allFailedWith('auth')) deps.credentials.invalidate();
  // Every backend refusing the certificate: it may have been rotated; read it again next round.
  if (allFailedWith('tls')) deps.tls?.invalidate();

  let applied = true;
  const sftpActs = sftpDecision ? sftpDecision.register.length + sftpDecision.deregister.length > 0 : false;
  const acts = decision.register.length + decision.deregister.length > 0 || sftpActs;
  if (decision.stateChanged || sftpDecision?.stateChanged || acts) {
    applied = await deps.store.save(stored.version, decision.next, sftpDecision?.next ?? stored.sftpCounters);
    if (!applied) {
      deps.log.warn('state changed under us: another checker invocation acted first; this round changes nothing', {
        version: stored.version,
      });
    }
  }
  if (applied && acts) {
    await deps.registry.deregister(decision.deregister.map((b) => b.instanceId));
    await deps.registry.register(decision.register.map((b) => b.instanceId));
    if (deps.sftp && sftpDecision) {
      await deps.sftp.registry.deregister(sftpDecision.deregister.map((b) => b.instanceId));
      await deps.sftp.registry.register(sftpDecision.register.map((b) => b.instanceId));
    }
  }
  for (const b of decision.deregister)
    deps.log.warn('deregistered from the port-21 target group', { slot: b.slot, instanceId: b.instanceId });
  for (const b of decision.register) deps.log.info('registered in the port-21 target group', { slot: b.slot, instanceId: b.instanceId });
  for (const b of sftpDecision?.deregister ?? [])
    deps.log.warn('deregistered from the SFTP target group', { slot: b.slot, instanceId: b.instanceId });
  for (const b of sftpDecision?.register ?? [])
    deps.log.info('registered in the SFTP target group', { slot: b.slot, instanceId: b.instanceId });
  for (const b of sftpDecision?.heldByFailOpen ?? []) {
    deps.log.error(
      'fail-open: backend keeps failing SFTP but stays in the SFTP target group, because removing it would empty the group or no backend passed',
      {
        slot: b.slot,
        instanceId: b.instanceId,
      },
    );
  }
  for (const b of inventory) {
    if (located.heldOut.has(b.instanceId) && !registered.has(b.instanceId)) {
      deps.log.info('out of rotation (tagged): not registered', { slot: b.slot, instanceId: b.instanceId });
    }
  }
  for (const b of decision.heldByFailOpen) {
    deps.log.error(
      'fail-open: backend keeps failing but stays registered, because removing it would empty the target group or no backend passed',
      {
        slot: b.slot,
        instanceId: b.instanceId,
      },
    );
  }
  deps.metrics.round({
    registered: decision.registeredAfter,
    healthy: decision.healthyCount,
    heldByFailOpen: decision.heldByFailOpen.length,
  });
  return { results, decision, applied, sftp: sftpResults && sftpDecision ? { results: sftpResults, decision: sftpDecision } : undefined };
}

/** Every backend fails the same way when a secret the probe needs cannot be read. */
function allFailed(inventory: readonly BackendRef[], step: 'auth' | 'tls', detail: string): ProbeResult[] {
  return inventory.map((b) => ({ slot: b.slot, ok: false, step, errorClass: step, detail, latencyMs: 0 }));
}

async function probeAll(deps: CheckerDeps, inventory: readonly BackendRef[], opts: ProbeOptions): Promise<ProbeResult[]> {
  // Without the password (or the certificate to verify) nothing can be proved about any backend;
  // every probe fails, and the decision's fail-open rule keeps every backend registered.
  let creds: HealthCheckCredentials;
  try {
    creds = await deps.credentials.get();
  } catch (err) {
    deps.log.error('cannot read the health-check secret', { error: (err as Error).name ?? 'Error' });
    return allFailed(inventory, 'auth', 'health-check secret unavailable');
  }
  let tls: ProbeTls | undefined;
  if (deps.tls) {
    try {
      tls = await deps.tls.get();
    } catch (err) {
      deps.log.error('cannot read the FTPS certificate secret', { error: (err as Error).name ?? 'Error', detail: (err as Error).message });
      return allFailed(inventory, 'tls', 'certificate secret unavailable or invalid');
    }
  }
  const withTls: ProbeOptions = tls ? { ...opts, tls } : opts;
  return Promise.all(inventory.map((b) => deps.probe({ slot: b.slot, host: b.privateIp, passivePorts: b.passivePorts }, creds, withTls)));
}

/** With SFTP: every backend's SFTP login, with the same credentials; undefined without SFTP. */
async function probeAllSftp(
  deps: CheckerDeps,
  inventory: readonly BackendRef[],
  opts: ProbeOptions,
): Promise<SftpProbeResult[] | undefined> {
  const sftp = deps.sftp;
  if (!sftp) return undefined;
  let creds: HealthCheckCredentials;
  try {
    creds = await deps.credentials.get();
  } catch {
    // probeAll logged it; every SFTP probe fails too, and fail-open keeps the group as it is.
    return inventory.map((b) => ({
      slot: b.slot,
      ok: false,
      step: 'auth',
      errorClass: 'auth',
      detail: 'health-check secret unavailable',
      latencyMs: 0,
    }));
  }
  const o: SftpProbeOptions = { stepTimeoutMs: opts.stepTimeoutMs, totalTimeoutMs: opts.totalTimeoutMs, hostKeys: sftp.hostKeys };
  return Promise.all(inventory.map((b) => sftp.probe({ slot: b.slot, host: b.privateIp, port: sftp.port }, creds, o)));
}

/**
 * Rounds every `intervalMs`, starting now, for as long as a whole round still fits in `budgetMs`.
 * A failed round is logged and the next one still runs; the invocation fails only if every round did.
 */
export async function runRounds(deps: CheckerDeps, s: CheckerSettings, budgetMs: number): Promise<RoundOutcome[]> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const start = now();
  const outcomes: RoundOutcome[] = [];
  let failures = 0;
  let lastError: unknown;
  for (let k = 0; k === 0 || k * s.intervalMs + s.intervalMs <= budgetMs; k++) {
    const wait = start + k * s.intervalMs - now();
    if (wait > 0) await sleep(wait);
    try {
      outcomes.push(await runRound(deps, s));
      deps.metrics.heartbeat();
    } catch (err) {
      failures++;
      lastError = err;
      deps.log.error('round failed', { error: (err as Error).name ?? 'Error', detail: (err as Error).message });
    } finally {
      deps.metrics.flush();
    }
  }
  if (outcomes.length === 0 && failures > 0) throw lastError;
  return outcomes;
}

/**
 * `runRounds` under the round lease: one invocation at a time runs rounds. An invocation that
 * finds the lease held (the previous one is still inside its budget) logs it and returns no
 * rounds: overlap is expected and harmless, so it is neither an error nor a missed heartbeat.
 */
export async function runRoundsUnderLease(
  deps: CheckerDeps & { readonly lease: RoundLease },
  s: CheckerSettings,
  budgetMs: number,
  holder: string,
  /** How long past the budget the lease outlives a holder that died without releasing it. */
  graceMs = 15_000,
): Promise<{ outcomes: RoundOutcome[]; skipped: boolean }> {
  const now = (deps.now ?? Date.now)();
  if (!(await deps.lease.acquire(holder, now, now + budgetMs + graceMs))) {
    deps.log.info('another invocation holds the round lease; skipping', { holder });
    return { outcomes: [], skipped: true };
  }
  try {
    return { outcomes: await runRounds(deps, s, budgetMs), skipped: false };
  } finally {
    await deps.lease.release(holder).catch((err: unknown) => {
      // The lease then simply expires; the next invocation waits at most the grace for it.
      deps.log.warn('could not release the round lease', { error: (err as Error).name ?? 'Error' });
    });
  }
}
