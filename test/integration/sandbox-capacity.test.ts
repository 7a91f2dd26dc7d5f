/**
 * The capacity that ProFTPD exists for, end to end through the sandbox: with 2 backends x 4 passive
 * ports (8 NLB passive listeners), 32 FTPS downloads of a 32 MB file held open at the same time all
 * arrive intact. vsftpd, which holds a port for a whole transfer, cannot carry more than 8 here
 * (bench/RESULTS.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { missingRoot } from '../../sandbox/boot/root';
import { cleanupSandbox } from '../../sandbox/cluster';
import { measureSustained } from '../../sandbox/sustained';
import { expectNoSandboxLeftovers } from '../helpers/sandbox-leftovers';

describe('sandbox with proftpd: sustained concurrency', () => {
  const lines: string[] = [];
  beforeAll(() => {
    requireTools(['ip', 'iptables', 'curl', 'nsenter', 'unshare', 'openssl']);
    const missing = missingRoot();
    if (missing) throw new Error(missing);
    cleanupSandbox();
  });
  afterAll(() => {
    console.log(lines.join('\n'));
    expectNoSandboxLeftovers();
  });

  it('carries 32 FTPS downloads of 32 MB held open at once on 8 passive ports, every file intact', async () => {
    const [f] = await measureSustained({
      servers: ['proftpd'],
      concurrencies: [32],
      backends: 2,
      portsPerBackend: 4,
      fileBytes: 32 * 1024 * 1024,
      // 32 s each; the 32 starts take 8 s (4 new clients a second: ProFTPD's burst edge, README), so
      // all 32 are open together for most of the run.
      bytesPerSecond: 1024 * 1024,
      startSpacingMs: 250,
      log: (m) => lines.push(m),
    });
    expect(f.passivePorts).toBe(8);
    expect(f.steps[0].intact, lines.join('\n')).toBe(32);
    expect(f.steps[0].maxOpenAtOnce).toBe(32);
  }, 600_000);
});
