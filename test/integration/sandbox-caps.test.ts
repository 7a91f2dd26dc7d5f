/**
 * The session caps answer with a transient 421 on both servers, on backends booted from the
 * template's user data, through the emulated NLB: 32 sessions held open from one address over 2
 * backends with maxSessionsPerIp 8, then 16 more from a second address against
 * maxClientsPerBackend 12. vsftpd answers its own caps with 421; ProFTPD would answer 530 (the code
 * of a failed login, which clients do not retry), so the instance's kernel enforces both caps ahead
 * of it and a local responder answers 421 naming the limit (lib/backend/scripts/ftp-namespace.sh).
 * Each cap is per backend: the NLB spreads one address's sessions, and each backend counts alone.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { missingRoot } from '../../sandbox/boot/root';
import { CLIENT_NS, cleanupSandbox, DRILL_NLB_HEALTH, Sandbox } from '../../sandbox/cluster';
import { expectNoSandboxLeftovers } from '../helpers/sandbox-leftovers';

const PER_ADDRESS = 8;
const PER_BACKEND = 12;

/** Opens `n` control connections at once, reads each greeting, holds them all `holdS` seconds, prints the greetings as JSON. */
const HOLDER = `
import json, socket, sys, time
host, n, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks = [socket.create_connection((host, 21), timeout=20) for _ in range(n)]
greetings = []
for s in socks:
    try:
        greetings.append(s.makefile("rb").readline().decode(errors="replace").strip())
    except OSError as e:
        greetings.append("error: %s" % e)
print(json.dumps(greetings), flush=True)
time.sleep(hold)
`;

describe.each(['vsftpd', 'proftpd'] as const)('sandbox with %s: the session caps answer 421', (server) => {
  let sb: Sandbox;
  const lines: string[] = [];
  beforeAll(async () => {
    requireTools(['ip', 'iptables', 'curl', 'nsenter', 'unshare', 'python3']);
    const missing = missingRoot();
    if (missing) throw new Error(missing);
    cleanupSandbox();
    sb = await Sandbox.up({
      context: {
        ftpServer: server,
        backendCount: '2',
        passivePortsPerBackend: '4',
        maxSessionsPerIp: String(PER_ADDRESS),
        maxClientsPerBackend: String(PER_BACKEND),
      },
      checker: false,
      nlbHealth: DRILL_NLB_HEALTH,
    });
  }, 600_000);
  afterAll(async () => {
    console.log(lines.join('\n'));
    await sb?.down();
    expectNoSandboxLeftovers();
  });

  /**
   * `n` sessions held together from the host, or from the client namespace: their greetings as soon
   * as all are read (the sessions stay open `holdS` seconds more), and the end of the holder.
   */
  function hold(n: number, holdS: number, fromClientNs = false): { greetings: Promise<string[]>; done: Promise<void> } {
    const argv = ['python3', '-c', HOLDER, sb.endpoint, String(n), String(holdS)];
    const p = fromClientNs ? spawn('ip', ['netns', 'exec', CLIENT_NS, ...argv]) : spawn(argv[0], argv.slice(1));
    let out = '';
    let err = '';
    const greetings = new Promise<string[]>((resolve, reject) => {
      p.stdout.on('data', (d: Buffer) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]) as string[]);
      });
      p.on('close', (code) => reject(new Error(`holder ended (${code}) before its greetings: ${err}`)));
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    const done = new Promise<void>((resolve) => p.on('close', () => resolve()));
    return { greetings, done };
  }

  const slotOf = (greeting: string) => Number(/slot (\d+)/.exec(greeting)?.[1] ?? -1);
  const tally = (gs: readonly string[]) => ({
    accepted: gs.filter((g) => g.startsWith('220')),
    refused: gs.filter((g) => !g.startsWith('220')),
  });
  /** Each distinct refusal with how many times it came, so a failure shows every kind, not the first. */
  const kinds = (rs: readonly string[]) => {
    const n = new Map<string, number>();
    for (const r of rs) n.set(r, (n.get(r) ?? 0) + 1);
    return [...n].map(([r, k]) => `${k} x ${r}`).join('; ') || '-';
  };

  it(`32 sessions from one address over 2 backends with maxSessionsPerIp ${PER_ADDRESS}: each backend takes at most ${PER_ADDRESS}; every other one gets a 421 naming the limit, never a 530`, async () => {
    const first = hold(32, 1);
    const gs = await first.greetings;
    await first.done;
    const { accepted, refused } = tally(gs);
    lines.push(
      `[caps ${server}] 32 from one address: ${accepted.length} accepted (${[0, 1].map((s) => accepted.filter((g) => slotOf(g) === s).length).join('/')}), ${refused.length} refused: ${kinds(refused)}`,
    );
    expect(gs).toHaveLength(32);
    for (const slot of [0, 1]) expect(accepted.filter((g) => slotOf(g) === slot).length).toBeLessThanOrEqual(PER_ADDRESS);
    expect(
      accepted.every((g) => slotOf(g) >= 0),
      'every greeting names its slot',
    ).toBe(true);
    // The NLB's split of 32 over 2 leaves both backends at least 8 unless it is 25/7 or worse (p < 0.001).
    expect(accepted.length).toBeGreaterThanOrEqual(2 * PER_ADDRESS - 1);
    expect(refused.length).toBe(32 - accepted.length);
    // vsftpd counts a connection it is refusing toward max_clients too, so at 24 at once either of
    // its caps may answer; the kernel checks ProFTPD's per-address cap first.
    const reply =
      server === 'vsftpd'
        ? /^421 There are too many (connections from your internet address|connected users, please try later)\.$/
        : new RegExp(
            `^421 Too many sessions from your address on this backend \\(the limit is ${PER_ADDRESS} per address on each backend\\); try again later\\.$`,
          );
    for (const r of refused) expect(r).toMatch(reply);
  }, 180_000);

  it(`with every backend holding ${PER_ADDRESS} from one address, a second address gets ${PER_BACKEND - PER_ADDRESS} more on each and then 421s for maxClientsPerBackend ${PER_BACKEND}`, async () => {
    const first = hold(32, 12);
    const firstGs = await first.greetings;
    const second = hold(16, 1, true);
    const gs = await second.greetings;
    await Promise.all([first.done, second.done]);
    const { accepted, refused } = tally(gs);
    const heldBy = [0, 1].map((s) => tally(firstGs).accepted.filter((g) => slotOf(g) === s).length);
    lines.push(`[caps ${server}] then 16 from a second address: ${accepted.length} accepted, ${refused.length} refused: ${kinds(refused)}`);
    for (const slot of [0, 1]) expect(accepted.filter((g) => slotOf(g) === slot).length + heldBy[slot]).toBeLessThanOrEqual(PER_BACKEND);
    // Each refusal is a 421 of one cap or the other (a backend that drew more than 8 of the second
    // address's 16 refuses those by the per-address cap), and the session cap answered at least once.
    const full =
      server === 'vsftpd'
        ? /^421 There are too many connected users, please try later\.$/
        : new RegExp(`^421 This backend is at its limit of ${PER_BACKEND} sessions; try again later\\.$`);
    const perAddress =
      server === 'vsftpd'
        ? /^421 There are too many connections from your internet address\.$/
        : new RegExp(`^421 Too many sessions from your address on this backend \\(the limit is ${PER_ADDRESS} per address`);
    expect(refused.filter((r) => full.test(r)).length, refused.join('\n')).toBeGreaterThan(0);
    for (const r of refused) expect(full.test(r) || perAddress.test(r), r).toBe(true);
  }, 180_000);

  it('once they close, the same address is served again', async () => {
    const again = hold(4, 0);
    const gs = await again.greetings;
    await again.done;
    expect(
      gs.every((g) => g.startsWith('220')),
      gs.join('\n'),
    ).toBe(true);
  }, 60_000);
});
