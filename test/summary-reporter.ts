/**
 * Prints the closing line CI reads: `N passed, N failed` (and `, N skipped`). A test file that
 * fails to load counts as one failure, so a broken import can never look like a green run.
 * Before it: how many backends the run booted (sandbox/boot) and their total time.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
import { BOOT_RECORD_ENV, type BootRecord } from '../sandbox/boot/booted-fleet';

export default class SummaryReporter implements Reporter {
  private readonly bootRecord = path.join(os.tmpdir(), `nlbftp-boots-${process.pid}.jsonl`);

  onInit(): void {
    // The test workers start after this and inherit it: each boot appends a line.
    fs.rmSync(this.bootRecord, { force: true });
    process.env[BOOT_RECORD_ENV] = this.bootRecord;
  }

  private bootSummary(): string {
    const boots: BootRecord[] = fs.existsSync(this.bootRecord)
      ? fs
          .readFileSync(this.bootRecord, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as BootRecord)
      : [];
    fs.rmSync(this.bootRecord, { force: true });
    if (boots.length === 0) return 'boots: none (no test booted a backend)';
    const total = boots.reduce((n, b) => n + b.ms, 0) / 1000;
    const ok = boots.filter((b) => b.report === 'CONTINUE').length;
    const longest = Math.max(...boots.map((b) => b.ms)) / 1000;
    return `boots: ${boots.length} backends booted from their user data (${ok} reported CONTINUE, ${boots.length - ok} did not, as drills expect), ${total.toFixed(0)} s of boot time in all, longest ${longest.toFixed(0)} s`;
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules) {
      let tests = 0;
      let failedHere = 0;
      for (const t of m.children.allTests()) {
        tests++;
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failedHere++;
        else skipped++;
      }
      // A file that failed without a failing test (load error, failing beforeAll) still fails.
      if (tests === 0 || (m.state() === 'failed' && failedHere === 0)) failedHere++;
      failed += failedHere;
    }
    failed += errors.length;
    process.stdout.write(`\n${this.bootSummary()}\n`);
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
