/**
 * The health decision: a pure function of the previous counters, what the port-21 target group
 * holds now, and this round's probe results. No I/O, no clock, no AWS types.
 *
 * Rules
 * - A backend that failed `fall` rounds in a row is deregistered; one that succeeded `rise` rounds
 *   in a row is registered. Counters are capped at their threshold, so a steady cluster produces
 *   exactly the same state round after round (and the handler then writes nothing).
 * - Fail-open: if no backend passed this round, the fault is more likely the checker's (its network,
 *   its secret) or cluster-wide, and removing backends cannot help: nothing is deregistered.
 *   Otherwise deregistrations never leave the target group empty; the least-failing backend stays.
 * - Targets the inventory does not know are never touched. The inventory is this round's located
 *   backends: a slot with no instance (booting, being replaced) is neither probed nor counted, and
 *   its stored counters wait unchanged.
 * - Counters belong to an instance: when a slot's instance changes, its counters start from zero.
 * - An instance tagged out of rotation is never registered (it may still be deregistered).
 */
import type { BackendRef } from '../../lib/shared/contract';

export interface Thresholds {
  readonly fall: number;
  readonly rise: number;
}

/** Consecutive-result counters for one slot's instance. Both are capped at their threshold. */
export interface SlotCounters {
  readonly failures: number;
  readonly successes: number;
  /** The instance they count for: a replaced instance starts from zero. Unset in older state. */
  readonly instanceId?: string;
}

export type CounterState = Readonly<Record<number, SlotCounters>>;

export interface RoundResult {
  readonly slot: number;
  readonly ok: boolean;
}

export interface DecisionInput {
  readonly inventory: readonly BackendRef[];
  readonly previous: CounterState;
  /** Instance IDs currently registered (any state but draining) in the port-21 target group. */
  readonly registered: ReadonlySet<string>;
  readonly results: readonly RoundResult[];
  readonly thresholds: Thresholds;
  /** Instances tagged out of rotation (a roll, maintenance): never registered. */
  readonly heldOut?: ReadonlySet<string>;
}

export interface Decision {
  readonly next: CounterState;
  readonly register: readonly BackendRef[];
  readonly deregister: readonly BackendRef[];
  /** Backends that met the fall threshold but stay registered because of fail-open. */
  readonly heldByFailOpen: readonly BackendRef[];
  /** Backends whose probe passed this round. */
  readonly healthyCount: number;
  /** Inventory backends registered once this decision is applied. */
  readonly registeredAfter: number;
  /** True when the state differs from `previous` and must be stored. */
  readonly stateChanged: boolean;
}

const ZERO: SlotCounters = { failures: 0, successes: 0 };

export function decide(input: DecisionInput): Decision {
  const { inventory, previous, registered, thresholds } = input;
  const resultBySlot = new Map(input.results.map((r) => [r.slot, r.ok]));

  const heldOut = input.heldOut ?? new Set<string>();
  const next: Record<number, SlotCounters> = { ...previous };
  const previousFor = (b: BackendRef): SlotCounters => {
    const p = previous[b.slot];
    return p && (p.instanceId === undefined || p.instanceId === b.instanceId) ? p : ZERO;
  };
  for (const b of inventory) {
    const prev = previousFor(b);
    const ok = resultBySlot.get(b.slot);
    const instanceId = b.instanceId;
    if (ok === undefined) {
      next[b.slot] = { ...prev, instanceId }; // not probed this round: no evidence either way
    } else if (ok) {
      next[b.slot] = { failures: 0, successes: Math.min(prev.successes + 1, thresholds.rise), instanceId };
    } else {
      next[b.slot] = { failures: Math.min(prev.failures + 1, thresholds.fall), successes: 0, instanceId };
    }
  }

  const register = inventory.filter(
    (b) => !registered.has(b.instanceId) && !heldOut.has(b.instanceId) && next[b.slot].successes >= thresholds.rise,
  );
  const candidates = inventory.filter((b) => registered.has(b.instanceId) && next[b.slot].failures >= thresholds.fall);
  const healthyCount = inventory.filter((b) => resultBySlot.get(b.slot) === true).length;
  const registeredBefore = inventory.filter((b) => registered.has(b.instanceId)).length;

  let deregister: BackendRef[] = candidates;
  let held: BackendRef[] = [];
  if (candidates.length > 0 && healthyCount === 0) {
    held = candidates;
    deregister = [];
  } else if (candidates.length > 0 && registeredBefore + register.length - candidates.length < 1) {
    // Keep the backend that failed least recently in a row (then the lowest slot) registered.
    const keep = [...candidates].sort((a, b) => next[a.slot].failures - next[b.slot].failures || a.slot - b.slot)[0];
    held = [keep];
    deregister = candidates.filter((b) => b !== keep);
  }

  const stateChanged = inventory.some((b) => {
    const p = previous[b.slot];
    const n = next[b.slot];
    return !p || p.failures !== n.failures || p.successes !== n.successes || p.instanceId !== n.instanceId;
  });

  return {
    next,
    register,
    deregister,
    heldByFailOpen: held,
    healthyCount,
    registeredAfter: registeredBefore + register.length - deregister.length,
    stateChanged,
  };
}
