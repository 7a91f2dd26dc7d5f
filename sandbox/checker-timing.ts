/** How fast the sandbox's drills and benchmarks check: the checker's and the emulated NLB's timing. Pure. */
import type { NlbHealthSettings } from './emulated-nlb';

/**
 * Faster checks than the defaults, for drills and benchmarks: a probe round every 5 s (4 s step
 * deadline, fall and rise 2) and the emulated NLB's TCP check every 2 s.
 */
export const DRILL_CHECKER = { interval: 5, timeout: 4, fall: 2, rise: 2 } as const;
export const DRILL_NLB_HEALTH: NlbHealthSettings = { intervalSeconds: 2, healthyThreshold: 2, unhealthyThreshold: 2 };

export type CheckerTiming = { readonly interval: number; readonly timeout: number; readonly fall: number; readonly rise: number };

/** The CDK context that sets the checker's timing. */
export function checkerContext(hc: CheckerTiming): Record<string, string> {
  return {
    'healthCheck.intervalSeconds': String(hc.interval),
    'healthCheck.timeoutSeconds': String(hc.timeout),
    'healthCheck.fallThreshold': String(hc.fall),
    'healthCheck.riseThreshold': String(hc.rise),
  };
}

/** The documented bounds (docs/health-checking.md): break to deregistration (fall x interval + timeout) and repair to registration, in ms. */
export function checkerBoundsMs(hc: CheckerTiming): { detect: number; recover: number } {
  return { detect: (hc.fall * hc.interval + hc.timeout) * 1000, recover: (hc.rise * hc.interval + hc.timeout) * 1000 };
}
