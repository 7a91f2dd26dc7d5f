/**
 * `npm test`'s test run: the integration project (root, real servers, the sandbox's namespaces, one
 * file at a time) and, beside it at the lowest CPU priority, the unit and slow projects. One vitest
 * process runs one file at a time on 2 cores (its default is cores - 1 workers), so the unit and slow
 * files used to wait for the sandbox's drills, which mostly wait themselves; `nice` keeps them from
 * slowing the drills. Prints both outputs (the second when it ends, so neither interleaves) and ends
 * with one line `N passed, N failed` over both, as CI reads it. Exits non-zero if either run failed.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const VITEST = path.join(ROOT, 'node_modules', '.bin', 'vitest');

interface Outcome {
  readonly code: number;
  readonly output: string;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
}

/** Run one vitest process; `live` streams its output, otherwise it is kept for later. */
function vitest(args: readonly string[], opts: { live: boolean; nice?: boolean }): Promise<Outcome> {
  const [cmd, argv] = opts.nice ? ['nice', ['-n', '19', VITEST, 'run', ...args]] : [VITEST, ['run', ...args]];
  return new Promise((resolve) => {
    const p = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (d: Buffer) => {
      output += d;
      if (opts.live) process.stdout.write(d);
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    p.on('close', (code) => {
      const m = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/m.exec(output.split('\n').slice(-8).join('\n'));
      // A run that never printed its summary (it crashed) counts as one failure.
      resolve({
        code: code ?? 1,
        output,
        passed: Number(m?.[1] ?? 0),
        failed: m ? Number(m[2]) : 1,
        skipped: Number(m?.[3] ?? 0),
      });
    });
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const aside = vitest(['--project', 'unit', '--project', 'slow'], { live: false, nice: true }).then((o) => {
    process.stdout.write(
      `\n==== unit and slow projects (ran beside the integration project), ${((Date.now() - started) / 1000).toFixed(0)} s ====\n${o.output}\n==== end of unit and slow ====\n\n`,
    );
    return o;
  });
  const integration = await vitest(['--project', 'integration'], { live: true });
  const other = await aside;
  const passed = integration.passed + other.passed;
  const failed = integration.failed + other.failed;
  const skipped = integration.skipped + other.skipped;
  process.stdout.write(`\nall projects: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exitCode = integration.code !== 0 || other.code !== 0 || failed > 0 ? 1 : 0;
}

void main();
