/**
 * Bursts: 64 FTPS downloads started within one second against N = 2 backends with r = 4 passive
 * ports each, for both servers, through the emulated NLB (which drops connections to ports without
 * a listener, as the NLB does). Every session is intact or refused promptly with an FTP reply; none
 * hangs; no reply offers a port outside the range of the backend that made it; and a client that
 * retries (lftp) completes all 64.
 *
 * And the capacity that ProFTPD exists for, on the same ProFTPD cluster: 32 FTPS downloads of a
 * 32 MB file held open at the same time on its 8 passive ports all arrive intact. vsftpd, which
 * holds a port for a whole transfer, cannot carry more than 8 here (bench/RESULTS.md).
 */
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BurstSession, burst } from '../../harness/burst';
import { requireTools } from '../../harness/prerequisites';
import { missingRoot } from '../../sandbox/boot/root';
import { cleanupSandbox, DRILL_NLB_HEALTH, Sandbox } from '../../sandbox/cluster';
import { sustainedOn } from '../../sandbox/sustained';
import { expectNoSandboxLeftovers } from '../helpers/sandbox-leftovers';

/**
 * How long after its PASV/EPSV a refusal may come. vsftpd answers at once (500 OOPS). ProFTPD, when
 * its fallback bind finds the namespace's port range full, retries that bind 10 times 1 s apart
 * (src/inet.c) before it says 425, so a port freed meanwhile is still used: about 10 s, never a hang.
 */
const REFUSAL_WITHIN_S = { vsftpd: 5, proftpd: 15 } as const;

const TEXT = Array.from({ length: 20_000 }, (_, i) => `line ${i} of the burst file\n`).join('');
const SHA = createHash('sha256').update(TEXT).digest('hex');

/** Resolves true when the TCP connection is refused or reset, false when nothing answers within `ms`. */
function answered(host: string, port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(ms, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(true));
  });
}

describe.each(['vsftpd', 'proftpd'] as const)('sandbox with %s: a burst of 64 sessions in one second', (server) => {
  let sb: Sandbox;
  const lines: string[] = [];
  beforeAll(async () => {
    requireTools(['ip', 'iptables', 'curl', 'lftp', 'nsenter', 'unshare', 'openssl']);
    const missing = missingRoot();
    if (missing) throw new Error(missing);
    cleanupSandbox();
    sb = await Sandbox.up({
      context: {
        ftpServer: server,
        backendCount: '2',
        passivePortsPerBackend: '4',
        // One client address carries every session here.
        maxSessionsPerIp: '1000',
        maxClientsPerBackend: '2000',
      },
      checker: false,
      nlbHealth: DRILL_NLB_HEALTH,
    });
    sb.writeDemoFile('burst.txt', TEXT);
  }, 600_000);
  afterAll(async () => {
    console.log(lines.join('\n'));
    await sb?.down();
    expectNoSandboxLeftovers();
  });

  const target = () => ({ host: sb.endpoint, user: sb.demo.user, password: sb.demo.password, caFile: sb.certificateFile });
  const outsideItsRange = (rs: readonly BurstSession[]) =>
    rs.flatMap((r) =>
      r.offers.filter((o) => {
        const b = sb.backends.find((x) => x.slot === o.slot);
        return !b || o.port < b.minPort || o.port > b.maxPort;
      }),
    );

  it('every session is intact or refused promptly with an FTP reply; none hangs; no offer is outside its backend range', async () => {
    const rs = await burst(target(), { sessions: 64, withinMs: 1000, file: 'burst.txt', sha256: SHA, client: 'curl', maxSeconds: 60 });
    const ok = rs.filter((r) => r.ok);
    const refused = rs.filter((r) => r.refused);
    const other = rs.filter((r) => !r.ok && !r.refused);
    const slowest = Math.max(0, ...refused.map((r) => r.secondsAfterPassive ?? Number.POSITIVE_INFINITY));
    lines.push(
      `[burst ${server}] curl, 64 in 1 s on 2 x 4 ports: ${ok.length} intact, ${refused.length} refused ` +
        `(at most ${slowest.toFixed(1)} s after PASV/EPSV), ${other.length} other, ${outsideItsRange(rs).length} offers outside their range`,
    );
    expect(
      other.map((r) => `exit ${r.exitCode} after ${r.seconds.toFixed(1)} s: ${r.detail}`),
      'neither intact nor refused',
    ).toEqual([]);
    expect(outsideItsRange(rs)).toEqual([]);
    expect(slowest).toBeLessThanOrEqual(REFUSAL_WITHIN_S[server]);
    if (server === 'proftpd') for (const r of refused) expect(r.detail).toMatch(/425/);
    expect(ok.length).toBeGreaterThanOrEqual(8);
  }, 180_000);

  it('a client that retries (lftp) completes all 64, each file intact', async () => {
    const rs = await burst(target(), { sessions: 64, withinMs: 1000, file: 'burst.txt', sha256: SHA, client: 'lftp', maxSeconds: 120 });
    lines.push(`[burst ${server}] lftp (retries), 64 in 1 s: ${rs.filter((r) => r.ok).length}/64 intact`);
    expect(rs.filter((r) => !r.ok).map((r) => `exit ${r.exitCode} after ${r.seconds.toFixed(1)} s: ${r.detail}`)).toEqual([]);
    expect(outsideItsRange(rs)).toEqual([]);
  }, 240_000);

  it('a connection to an NLB port without a listener is dropped without a reply, as the NLB drops it', async () => {
    const unlisted = Math.max(...sb.backends.map((b) => b.maxPort)) + 1;
    expect(await answered(sb.endpoint, unlisted, 2000)).toBe(false);
    // The gate can fail: a listener port does answer.
    expect(await answered(sb.endpoint, 21, 2000)).toBe(true);
  });

  if (server === 'proftpd') {
    it('sustained: carries 32 FTPS downloads of 32 MB held open at once on 8 passive ports, every file intact', async () => {
      const f = await sustainedOn(sb, {
        concurrencies: [32],
        fileBytes: 32 * 1024 * 1024,
        // 32 s each; the 32 starts take 8 s (4 new clients a second: ProFTPD's burst edge, docs/sizing.md), so
        // all 32 are open together for most of the run.
        bytesPerSecond: 1024 * 1024,
        startSpacingMs: 250,
        log: (m) => lines.push(m),
      });
      expect(f.passivePorts).toBe(8);
      expect(f.steps[0].intact, lines.join('\n')).toBe(32);
      expect(f.steps[0].maxOpenAtOnce).toBe(32);
    }, 600_000);
  }
});
