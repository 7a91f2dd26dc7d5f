import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resourcesOfType, synth } from '../../harness/synth';
import {
  CHECKER_CPU_MARGIN,
  CHECKER_CPU_PER_PROBE_MS,
  CHECKER_CPU_SHARE_OF_STEP,
  CHECKER_MIN_MB,
  checkerMemoryMb,
  LAMBDA_MAX_MB,
  roundCpuWallMs,
} from '../../lib/shared/checker-sizing';
import { MAX_PASSIVE_PORTS } from '../../lib/shared/limits';

function memoryOf(s: ReturnType<typeof synth>): unknown {
  const fn = resourcesOfType(s, 'AWS::Lambda::Function').find(([id]) => id.startsWith('HealthCheckerFunction'));
  if (!fn) throw new Error('no health checker function in the template');
  return fn[1].MemorySize;
}

describe('the health checker is sized from the CPU its probes cost', () => {
  it('a round, with margin, takes at most a quarter of a step deadline on the CPU the memory buys', () => {
    for (let backends = 1; backends <= MAX_PASSIVE_PORTS; backends++) {
      for (let timeout = 1; timeout <= 30; timeout++) {
        const mb = checkerMemoryMb(backends, timeout);
        expect(mb % 64 === 0 || mb === LAMBDA_MAX_MB).toBe(true);
        expect(mb).toBeGreaterThanOrEqual(CHECKER_MIN_MB);
        if (mb < LAMBDA_MAX_MB) {
          const wall = roundCpuWallMs(backends, mb, CHECKER_CPU_PER_PROBE_MS * CHECKER_CPU_MARGIN);
          expect(wall, `${backends} backends, ${timeout} s: ${mb} MB`).toBeLessThanOrEqual(timeout * 1000 * CHECKER_CPU_SHARE_OF_STEP);
        }
        // Never more than the rule needs: 64 MB less would break it (or would go below the floor).
        if (mb > CHECKER_MIN_MB && mb < LAMBDA_MAX_MB) {
          expect(roundCpuWallMs(backends, mb - 64, CHECKER_CPU_PER_PROBE_MS * CHECKER_CPU_MARGIN)).toBeGreaterThan(
            timeout * 1000 * CHECKER_CPU_SHARE_OF_STEP,
          );
        }
      }
    }
  });

  it('more backends or a shorter deadline never get less memory', () => {
    for (let backends = 1; backends < MAX_PASSIVE_PORTS; backends++) {
      for (let timeout = 1; timeout < 30; timeout++) {
        expect(checkerMemoryMb(backends + 1, timeout)).toBeGreaterThanOrEqual(checkerMemoryMb(backends, timeout));
        expect(checkerMemoryMb(backends, timeout)).toBeGreaterThanOrEqual(checkerMemoryMb(backends, timeout + 1));
      }
    }
  });

  it('the template carries that size: the default stack, and 23 backends probed with a 1 s deadline', () => {
    expect(memoryOf(synth())).toBe(checkerMemoryMb(2, 5));
    expect(checkerMemoryMb(2, 5)).toBe(CHECKER_MIN_MB);
    const big = synth({ ftpServer: 'vsftpd', backendCount: 23, passivePortsPerBackend: 1, healthCheck: { timeoutSeconds: 1 } });
    expect(memoryOf(big)).toBe(checkerMemoryMb(23, 1));
    expect(memoryOf(big)).toBeGreaterThan(CHECKER_MIN_MB);
  });

  it('the per-probe figure is no smaller than what bench:checker last measured (bench/RESULTS.md)', () => {
    const results = fs.readFileSync(path.join(__dirname, '..', '..', 'bench', 'RESULTS.md'), 'utf8');
    const m = /checker CPU per probe, latency-ftps[^|]*\| ([\d.]+) ms/.exec(results);
    expect(m, 'bench/RESULTS.md has no "checker CPU per probe, latency-ftps" row').not.toBeNull();
    expect(Number(m?.[1])).toBeLessThanOrEqual(CHECKER_CPU_PER_PROBE_MS);
  });
});
