/**
 * FTPS end to end on the local sandbox, with the default config (`ftps: required`): vsftpd and
 * ProFTPD backends booted from the template's user data on Debian 13, the emulated NLB forwarding
 * TCP only (it never sees inside TLS), the real checker probing over TLS, and real curl/lftp
 * clients that verify the certificate.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../harness/ftp-clients';
import { requireTools } from '../../harness/prerequisites';
import {
  fullSession,
  removeSessionFiles,
  runDrill,
  type SessionKind,
  type SessionResult,
  split,
  type Target,
  waitFor,
} from '../../harness/sessions';
import type { BootedServer } from '../../sandbox/boot/booted-fleet';
import { missingRoot } from '../../sandbox/boot/root';
import { checkerBoundsMs, checkerContext, cleanupSandbox, DRILL_CHECKER, DRILL_NLB_HEALTH, NLB_NS, Sandbox } from '../../sandbox/cluster';
import { FTP_SERVERS } from '../../sandbox/local-servers';
import { expectNoSandboxLeftovers } from '../helpers/sandbox-leftovers';

const HC = DRILL_CHECKER;
const BOUNDS = checkerBoundsMs(HC);
const DETECT_MS = BOUNDS.detect + 3000;
const RECOVER_MS = BOUNDS.recover + 3000;
const HELLO = Buffer.from('hello over FTPS through the emulated NLB\n');
const SESSIONS_PER_KIND = 30;

describe.each(FTP_SERVERS)('sandbox with %s and FTPS required (the default)', (server) => {
  let sb: Sandbox;
  let target: Target;
  const report: string[] = [];

  beforeAll(async () => {
    requireTools(['ip', 'iptables', 'curl', 'lftp', 'nsenter', 'unshare', 'openssl']);
    const missing = missingRoot();
    if (missing) throw new Error(missing);
    cleanupSandbox();
    sb = await Sandbox.up({
      context: {
        ftpServer: server,
        backendCount: '3',
        // Sized by the README's rule (simultaneous transfers <= 0.5 x N x r): with FTPS a passive
        // port carries one transfer at a time, and the waves below run 6 sessions at once. At r=4
        // (rated 6) this test failed once in 7 runs: 2 of 90 sessions found no free passive port.
        passivePortsPerBackend: '8',
        ...checkerContext(HC),
      },
      nlbHealth: DRILL_NLB_HEALTH,
      log: (m) => report.push(m),
    });
    target = { host: sb.endpoint, user: sb.demo.user, password: sb.demo.password, caFile: sb.certificateFile };
    sb.writeDemoFile('hello.txt', HELLO);
  }, 600_000);

  afterAll(async () => {
    await sb?.down();
    removeSessionFiles();
    console.log(report.filter((l) => l.startsWith('ftps') || l.includes(' retried ')).join('\n'));
    expectNoSandboxLeftovers();
  }, 60_000);

  it('renders FTPS required from the template, and the NLB forwards plain TCP', () => {
    expect(sb.ftps).toBe('required');
    expect(sb.certificateFile).toBeDefined();
    for (const b of sb.backends) {
      const conf = fs.readFileSync(b.server.confPath, 'utf8');
      if (server === 'proftpd') {
        // TLSRequired on: control and data connections alike.
        expect(conf).toMatch(/^ {2}TLSRequired on$/m);
        expect(conf).toContain(`TLSRSACertificateKeyFile ${b.tls?.keyFile}`);
      } else {
        expect(conf).toMatch(/^force_local_logins_ssl=YES$/m);
        expect(conf).toMatch(/^force_local_data_ssl=YES$/m);
        expect(conf).toContain(`rsa_private_key_file=${b.tls?.keyFile}`);
      }
      // The key as the instance's sync installed it.
      expect(fs.statSync(`/proc/${(b.server as BootedServer).pid}/root${b.tls?.keyFile}`).mode & 0o777).toBe(0o600);
    }
    const rules = execFileSync('ip', ['netns', 'exec', NLB_NS, 'iptables', '-t', 'nat', '-S'], { encoding: 'utf8' });
    expect(rules).toMatch(/--dport 21 /);
    expect(rules).not.toMatch(/MASQUERADE|SNAT|helper/);
  });

  it(`carries ${SESSIONS_PER_KIND} sessions each of curl --ssl-reqd EPSV, PASV and lftp ssl-force: all encrypted, all succeed, on every backend`, async () => {
    const kinds: SessionKind[] = ['curl-epsv', 'curl-pasv', 'lftp'];
    const results: SessionResult[] = [];
    const total = SESSIONS_PER_KIND * kinds.length;
    for (let wave = 0; results.length < total; wave++) {
      results.push(
        ...(await Promise.all(Array.from({ length: 6 }, (_, i) => fullSession(target, kinds[(wave * 6 + i) % 3], 'hello.txt', HELLO)))),
      );
    }
    const failed = results.filter((r) => !r.ok);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    // ProFTPD's bind/listen race (PASV_BIND_RACE) is retried once and counted; vsftpd never answers it.
    const retried = results.filter((r) => r.retriedAfterPasvRace).length;
    report.push(`${server} sessions retried after 425 Address already in use: ${retried} of ${results.length}`);
    expect(retried).toBeLessThanOrEqual(server === 'proftpd' ? 3 : 0);
    expect(results.filter((r) => !r.encrypted)).toEqual([]);
    for (const k of kinds) {
      const mine = results.filter((r) => r.kind === k);
      expect(mine).toHaveLength(SESSIONS_PER_KIND);
      // Every backend served every kind of session.
      expect([...new Set(mine.map((r) => r.slot))].sort(), k).toEqual([0, 1, 2]);
    }
    report.push(
      `ftps sessions: ${results.length} (${kinds.map((k) => `${k} ${results.filter((r) => r.kind === k && r.ok).length} ok`).join(', ')}), all AUTH TLS + PROT P`,
    );
  }, 240_000);

  it('refuses a plain-FTP login through the NLB, and never runs the listing', async () => {
    const r = await run('curl', ['-sS', '-v', '--max-time', '10', '-u', `${target.user}:${target.password}`, `ftp://${target.host}/`]);
    expect(r.code).toBe(67); // curl: "login denied"
    // vsftpd refuses the password, ProFTPD the user name already (the password is never sent).
    expect(r.stderr).toMatch(
      server === 'proftpd' ? /< 550 SSL\/TLS required on the control channel/ : /< 530 Non-anonymous sessions must use encryption/,
    );
    if (server === 'proftpd') expect(r.stderr).not.toMatch(/> PASS /);
    expect(r.stderr).not.toMatch(/< 150 /);
  });

  it('refuses a client that does not trust the certificate, before the password is sent', async () => {
    const r = await run('curl', [
      '-sS',
      '-v',
      '--max-time',
      '10',
      '--ssl-reqd',
      '-u',
      `${target.user}:${target.password}`,
      `ftp://${target.host}/`,
    ]);
    expect(r.code).toBe(60); // curl: peer certificate cannot be authenticated
    expect(r.stderr).not.toMatch(/> PASS/);
  });

  it('the checker probes over TLS and keeps every backend registered', async () => {
    const from = sb.checkerLines.length;
    await waitFor(() => sb.checkerLines.slice(from).filter((l) => /"message":"probe"/.test(l)).length >= 3, 20_000, 'a probe round');
    const probes = sb.checkerLines.slice(from).filter((l) => /"message":"probe"/.test(l));
    expect(probes.every((l) => l.includes('"ok":true'))).toBe(true);
    expect(sb.registeredSlots()).toEqual([0, 1, 2]);
  });

  it('drill: one backend serves a different certificate; the checker deregisters it (tls), no later session fails, and it comes back', async () => {
    const { broke, detectedAt, repaired, back, results } = await runDrill(target, {
      name: 'wrong certificate',
      breakIt: () => sb.serveWrongCertificate(1),
      detected: () => !sb.registeredSlots().includes(1),
      repair: () => sb.restoreCertificate(1),
      recovered: () => sb.registeredSlots().includes(1) && sb.nlb.controlMembers.length === 3,
      detectTimeoutMs: DETECT_MS + 5000,
      recoverTimeoutMs: RECOVER_MS + 8000,
      loadEveryMs: 300,
      afterDetectionMs: 5000,
    });
    const s = split(results, detectedAt);
    report.push(
      `ftps drill wrong-certificate: detected in ${((detectedAt - broke) / 1000).toFixed(1)} s (bound ${DETECT_MS / 1000 - 3} s); back in ${((back - repaired) / 1000).toFixed(1)} s; ` +
        `sessions before detection ${s.before.ok} ok / ${s.before.failed} failed, after ${s.after.ok} ok / ${s.after.failed} failed`,
    );
    expect(detectedAt - broke).toBeLessThanOrEqual(DETECT_MS + 2000); // + the listener restart
    expect(back - repaired).toBeLessThanOrEqual(RECOVER_MS);
    expect(s.after.ok).toBeGreaterThan(5);
    expect(s.afterFailures).toEqual([]);
    expect(sb.checkerLines.some((l) => /"slot":1[^\n]*"step":"tls"[^\n]*"errorClass":"tls"/.test(l))).toBe(true);
  }, 120_000);
});
