/**
 * The sustained benchmark's memory figures (sandbox/sustained.ts): RSS, PSS and private memory of
 * the processes of one name, read from /proc. PSS divides each shared page among the processes
 * that map it, so with several copies of one program PSS is below RSS and private below PSS.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type MachinePeak, perProcessMiB, processes } from '../../sandbox/sustained';

describe('process memory from /proc', () => {
  // Four copies of one program under a name nothing else on the machine has (the kernel's comm is
  // the program file's name).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-mem-'));
  const program = path.join(dir, 'nlbftp-memtest');
  fs.copyFileSync('/bin/sleep', program);
  fs.chmodSync(program, 0o755);
  const kids = Array.from({ length: 4 }, () => spawn(program, ['30'], { stdio: 'ignore' }));
  afterAll(() => {
    for (const k of kids) k.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('counts the processes and reads RSS >= PSS >= private > 0 for them', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const m = processes('nlbftp-memtest', true);
    expect(m.count).toBe(4);
    expect(m.privateMiB).toBeGreaterThan(0);
    expect(m.pssMiB).toBeGreaterThan(m.privateMiB);
    expect(m.rssMiB).toBeGreaterThan(m.pssMiB);
    // Without smaps only RSS is read.
    const quick = processes('nlbftp-memtest');
    expect(quick.count).toBe(m.count);
    expect(quick.pssMiB).toBe(0);
  });

  it('gives per-process figures from the totals of the peak sample', () => {
    const peak: MachinePeak = {
      cpuBusyPercent: 0,
      cpuAvgPercent: 0,
      serverProcesses: 40,
      serverRssMiB: 456,
      clientRssMiB: 0,
      serverPssMiB: 96,
      serverPrivateMiB: 80,
      nlbConntrack: 0,
      memAvailableMiB: 0,
    };
    expect(perProcessMiB(peak)).toEqual({ rss: 11.4, pss: 2.4, private: 2 });
    expect(perProcessMiB({ ...peak, serverProcesses: 0 })).toEqual({ rss: 0, pss: 0, private: 0 });
  });
});
