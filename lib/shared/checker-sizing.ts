/**
 * The health checker's memory, sized from the CPU its probes cost. Pure.
 *
 * Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU ("Memory and
 * computing power", https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), so
 * 256 MB buys about a seventh of one. A round probes every backend at once, and the probes' CPU
 * work (mostly two TLS handshakes each) queues on that share: at too small a size every probe
 * step waits for the CPU, and a healthy backend can miss its deadline.
 */

/** MB of Lambda memory per vCPU. */
export const LAMBDA_MB_PER_VCPU = 1769;
/** Lambda's largest memory setting. */
export const LAMBDA_MAX_MB = 10_240;

/**
 * The checker's own CPU time per FTPS probe (connect, AUTH TLS, login, a protected EPSV listing,
 * QUIT), measured by `npm run bench:checker` (`latency-ftps`, bench/RESULTS.md section 5): the
 * median over rounds of 16 probes, at a higher priority than the backends. Measured 10.1 to
 * 13.5 ms on a 2-core AMD EPYC (Node 20, TLS 1.2 with an RSA-2048 certificate).
 */
export const CHECKER_CPU_PER_PROBE_MS = 14;

/** Headroom over that figure: Graviton's cores against the bench machine's, and a noisy neighbour. */
export const CHECKER_CPU_MARGIN = 2;

/**
 * A whole round's CPU may take at most this share of one step's deadline: even if every probe's
 * CPU work landed in the same step, that step keeps three quarters of its time for the network
 * and the backend.
 */
export const CHECKER_CPU_SHARE_OF_STEP = 0.25;

/** Never below this: the bundle's cold start and the SDK clients' memory, with room. */
export const CHECKER_MIN_MB = 256;

/** Lambda memory for a checker that probes `backends` backends with this step deadline. */
export function checkerMemoryMb(backends: number, stepTimeoutSeconds: number): number {
  const roundCpuMs = backends * CHECKER_CPU_PER_PROBE_MS * CHECKER_CPU_MARGIN;
  const vcpu = roundCpuMs / (stepTimeoutSeconds * 1000 * CHECKER_CPU_SHARE_OF_STEP);
  const mb = Math.ceil((vcpu * LAMBDA_MB_PER_VCPU) / 64) * 64;
  return Math.min(LAMBDA_MAX_MB, Math.max(CHECKER_MIN_MB, mb));
}

/** The time a round's CPU work takes on the share of a vCPU that `memoryMb` buys, in milliseconds. */
export function roundCpuWallMs(backends: number, memoryMb: number, cpuPerProbeMs = CHECKER_CPU_PER_PROBE_MS): number {
  return (backends * cpuPerProbeMs * LAMBDA_MB_PER_VCPU) / memoryMb;
}
