/**
 * One booted backend per server, FTPS required, for what needs one cluster and a client: the audit
 * trail, Python's ftplib, and then (on the default server) the boot drills, each of which breaks
 * one thing of a new boot of the slot: every one must report ABANDON and never serve.
 *
 * The audit trail with the real servers, through the emulated NLB, FTPS required: a good login, a
 * wrong password, a password typed as the user name, an upload, a download, a rename, a mkdir,
 * an rmdir and a delete. The converter (lib/backend/scripts/nlb-ftp-audit.py, as the backends run
 * it) must write one event per action in the schema of lib/shared/audit.ts, with the client's real
 * IP; neither wrong secret may appear in any file on this machine; and the stack's metric-filter
 * patterns must count these very events.
 *
 * Python's ftplib (TLS session reuse required: the default), both ways, so that docs/troubleshooting.md's
 * troubleshooting stays true: `ftplib.FTP_TLS` as shipped opens its data connections without
 * resuming the control connection's TLS session, and each server refuses that with the reply the
 * troubleshooting page quotes; the six-line subclass it shows succeeds. The client uses Python's default
 * TLS settings (TLS 1.3 here), as a user's script would. These run after the audit's sessions, whose
 * events were read before.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../harness/ftp-clients';
import { requireTools } from '../../harness/prerequisites';
import { AUDIT_FIELDS, AUDIT_FILTERS, type AuditEvent } from '../../lib/shared/audit';
import { HEALTH_CHECK_USER } from '../../lib/shared/contract';
import { reservedUserReason } from '../../lib/shared/users';
import { missingRoot } from '../../sandbox/boot/root';
import { CLIENT_IP, cleanupSandbox, DRILL_NLB_HEALTH, Sandbox } from '../../sandbox/cluster';
import { filterMatches, filterValue } from '../helpers/filter-pattern';
import { expectNoSandboxLeftovers } from '../helpers/sandbox-leftovers';

const TROUBLESHOOTING = fs.readFileSync(path.resolve(__dirname, '../../docs/troubleshooting.md'), 'utf8');

/** The documented fix, taken from docs/troubleshooting.md itself, so the text and the test cannot part. */
function documentedFix(): string {
  const m = /```python\n( *)(class ReusingFTP_TLS[\s\S]*?)\n *```/.exec(TROUBLESHOOTING);
  if (!m) throw new Error('docs/troubleshooting.md has no ```python class ReusingFTP_TLS ... ``` block');
  // The block sits in a list item: take its indentation off.
  const indent = m[1].length;
  return `${m[1]}${m[2]}`
    .split('\n')
    .map((l) => l.slice(indent))
    .join('\n');
}

/** One login and one listing (EPSV data connection over TLS), as a Python user would write it. */
function script(reuse: boolean): string {
  return `
import ftplib, os, ssl, sys
${reuse ? documentedFix() : 'ReusingFTP_TLS = ftplib.FTP_TLS'}
ctx = ssl.create_default_context(cafile=os.environ["CA"])
ftp = ReusingFTP_TLS(context=ctx, timeout=15)
ftp.connect(os.environ["HOST"], 21)
ftp.login(os.environ["FTP_USER"], os.environ["FTP_PASSWORD"])
ftp.prot_p()
try:
    lines = []
    ftp.retrlines("LIST", lines.append)
    print("LISTED %d" % len(lines))
except Exception as err:
    print("%s: %s" % (type(err).__name__, err))
    sys.exit(1)
`;
}

/** What each server answers a data connection that does not resume the session, as ftplib raises it. */
const REFUSAL = {
  vsftpd: 'error_perm: 522 SSL connection failed: session reuse required',
  proftpd: 'error_temp: 425 Unable to build data connection: Operation not permitted',
} as const;

describe.each(['vsftpd', 'proftpd'] as const)('audit trail and Python ftplib on %s', (server) => {
  let sb: Sandbox;
  /** Every event of the instance's log, and those of the client's sessions through the NLB. */
  let all: AuditEvent[] = [];
  let events: AuditEvent[] = [];
  let lines: string[] = [];
  // Random, so that finding either on disk can only mean it was written there.
  const wrongPassword = `Wrong-${randomBytes(9).toString('hex')}`;
  const passwordAsUser = `pw${randomBytes(9).toString('hex')}`;
  const payload = randomBytes(50_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-audit-test-'));
  // A user whose entry in the users secret is only a hash (SHA-512 crypt, as `openssl passwd -6` makes it).
  const hashedUser = 'partner-hashed';
  const hashedPassword = `Hashed-${randomBytes(9).toString('hex')}`;

  beforeAll(async () => {
    requireTools(['ip', 'iptables', 'nsenter', 'curl', 'python3']);
    const missing = missingRoot();
    if (missing) throw new Error(missing);
    cleanupSandbox();
    const passwordHash = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: hashedPassword, encoding: 'utf8' }).trim();
    sb = await Sandbox.up({
      context: { ftpServer: server, backendCount: '1' },
      checker: false,
      nlbHealth: DRILL_NLB_HEALTH,
      users: { [hashedUser]: { passwordHash } },
    });
    const curl = (user: string, pass: string, ...rest: string[]) =>
      run('curl', ['-sS', '--ssl-reqd', '--cacert', sb.certificateFile as string, '--max-time', '20', '-u', `${user}:${pass}`, ...rest]);
    const url = `ftp://${sb.endpoint}/`;
    const up = path.join(tmp, 'up.bin');
    fs.writeFileSync(up, payload);
    const { user, password } = sb.demo;
    // In order, each its own session: a good login, the two bad ones, then the file operations.
    const first = await curl(user, password, url);
    expect(first.code, first.stderr).toBe(0);
    expect((await curl(user, wrongPassword, url)).code).not.toBe(0);
    expect((await curl(passwordAsUser, 'x', url)).code).not.toBe(0);
    expect((await curl(user, password, '-T', up, `${url}audit.bin`)).code).toBe(0);
    const down = await curl(user, password, `${url}audit.bin`, '-o', path.join(tmp, 'down.bin'));
    expect(down.code, down.stderr).toBe(0);
    const ops = await curl(
      user,
      password,
      url,
      '-Q',
      'RNFR audit.bin',
      '-Q',
      'RNTO audit renamed.bin',
      '-Q',
      'MKD d1',
      '-Q',
      'RMD d1',
      '-Q',
      'DELE audit renamed.bin',
    );
    expect(ops.code, ops.stderr).toBe(0);
    // The converter reads as lines arrive; wait for the last session's end.
    const log = sb.backends[0].server.auditLog;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
      all = lines.map((l) => JSON.parse(l) as AuditEvent);
      // The boot's own readiness login comes from the instance itself; the client's from CLIENT_IP.
      events = all.filter((e) => e.clientIp === CLIENT_IP);
      if (events.filter((e) => e.event === 'session-end').length >= 4 && events.some((e) => e.event === 'delete')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 600_000);

  afterAll(async () => {
    await sb?.down();
    fs.rmSync(tmp, { recursive: true, force: true });
    expectNoSandboxLeftovers();
  });

  const of = (kind: AuditEvent['event']) => events.filter((e) => e.event === kind);

  it('every line is one event in the schema, with every field in order and the client IP the NLB preserved', () => {
    expect(lines.length).toBeGreaterThanOrEqual(11);
    for (const l of lines) {
      const e = JSON.parse(l) as Record<string, unknown>;
      expect(Object.keys(e)).toEqual(AUDIT_FIELDS.map(([k]) => k));
      // The client's address, preserved by the NLB; or the boot's readiness login, from the instance itself as the
      // health-check account; or the users sync's own events, which no client causes.
      if (e.event === 'users-synced' || e.event === 'user-skipped') {
        expect(e.clientIp).toBeNull();
      } else if (e.clientIp !== CLIENT_IP) {
        expect(e.clientIp).toBe(server === 'proftpd' ? '169.254.21.1' : '127.0.0.1');
        expect(e.user).toBe(HEALTH_CHECK_USER);
      }
      expect(e.server).toBe(server);
      expect(e.slot).toBe(0);
      expect(e.instance).toMatch(/^i-0sandbox/);
      expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Math.abs(Date.parse(e.time as string) - Date.now())).toBeLessThan(120_000);
    }
  });

  it("the boot's users sync is in the trail: users-synced with the count it applied, and nothing skipped", () => {
    const synced = all.filter((e) => e.event === 'users-synced');
    expect(synced.length).toBeGreaterThanOrEqual(1);
    // The demo user, the hashed user and the health-check account.
    expect(synced[0]).toMatchObject({ count: 3, result: 'ok', user: null, reason: null, slot: 0 });
    expect(all.filter((e) => e.event === 'user-skipped')).toEqual([]);
  });

  it('one event per action: logins, failed logins, upload, download, rename, mkdir, rmdir, delete, session ends', () => {
    const user = sb.demo.user;
    // Four sessions logged in (the listing, the upload, the download, the operations); two did not.
    expect(of('login').map((e) => e.user)).toEqual([user, user, user, user]);
    expect(of('login-failed').map((e) => e.user)).toEqual([user, null]);
    const [upload] = of('upload');
    expect(of('upload')).toHaveLength(1);
    expect(upload).toMatchObject({ user, path: '/files/audit.bin', bytes: payload.length, result: 'ok' });
    expect(upload.durationMs).toBeGreaterThanOrEqual(0);
    expect(of('download')).toHaveLength(1);
    expect(of('download')[0]).toMatchObject({ user, path: '/files/audit.bin', bytes: payload.length, result: 'ok' });
    expect(of('rename')).toEqual([
      expect.objectContaining({ user, fromPath: '/files/audit.bin', path: '/files/audit renamed.bin', result: 'ok' }),
    ]);
    expect(of('mkdir')).toEqual([expect.objectContaining({ user, path: '/files/d1', result: 'ok' })]);
    expect(of('rmdir')).toEqual([expect.objectContaining({ user, path: '/files/d1', result: 'ok' })]);
    expect(of('delete')).toEqual([expect.objectContaining({ user, path: '/files/audit renamed.bin', result: 'ok' })]);
    const ends = of('session-end');
    expect(ends).toHaveLength(4);
    expect(ends.map((e) => [e.user, typeof e.durationMs])).toEqual(ends.map(() => [user, 'number']));
    expect(ends.map((e) => e.bytes).sort()).toEqual([0, 0, payload.length, payload.length].sort());
    if (server === 'proftpd') {
      expect(
        events.filter((e) => typeof e.clientPort !== 'number' || e.protocol !== 'ftps').map((e) => [e.event, e.clientPort, e.protocol]),
      ).toEqual([]);
      expect(upload.code).toBe(226);
    }
  });

  it('neither the wrong password nor the password typed as a user name is in any file on this machine', () => {
    // -D skip: never open FIFOs or devices (the audit FIFO itself); -I: text files only.
    const where = ['/tmp', '/var/log', '/etc', '/run'].filter((d) => fs.existsSync(d));
    for (const secret of [wrongPassword, passwordAsUser]) {
      const found = execFileSync(
        'bash',
        ['-c', `grep -rlFI -D skip --exclude-dir=node_modules -e "$0" "\${@}" 2>/dev/null || true`, secret, ...where],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        },
      );
      expect(found).toBe('');
    }
    expect(lines.join('\n')).not.toContain(sb.demo.password);
  });

  it("the stack's metric filters count these very events: 2 failed logins, 2 transfers, their bytes", () => {
    const count = (f: (typeof AUDIT_FILTERS)[keyof typeof AUDIT_FILTERS]) =>
      events
        .filter((e) => filterMatches(f.pattern, e as unknown as Record<string, unknown>))
        .reduce((n, e) => n + filterValue(f.value, e as unknown as Record<string, unknown>), 0);
    expect(count(AUDIT_FILTERS.failedLogins)).toBe(2);
    expect(count(AUDIT_FILTERS.transfers)).toBe(2);
    expect(count(AUDIT_FILTERS.bytes)).toBe(2 * payload.length);
  });

  const runPython = (reuse: boolean) =>
    spawnSync('python3', ['-c', script(reuse)], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        ...process.env,
        HOST: sb.endpoint,
        CA: sb.certificateFile as string,
        FTP_USER: sb.demo.user,
        FTP_PASSWORD: sb.demo.password,
      },
    });

  it('as shipped, ftplib.FTP_TLS is refused with the reply docs/troubleshooting.md quotes, every time', () => {
    expect(TROUBLESHOOTING).toContain(REFUSAL[server].split(': ').slice(1).join(': '));
    for (let i = 0; i < 3; i++) {
      const r = runPython(false);
      expect(r.status, r.stdout + r.stderr).toBe(1);
      expect(r.stdout.trim()).toBe(REFUSAL[server]);
      expect(r.stdout + r.stderr).not.toContain(sb.demo.password);
    }
  });

  it('with the documented session-reuse subclass, the same listing succeeds', () => {
    const r = runPython(true);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^LISTED \d+$/m);
  });

  it('a user whose secret entry is only a hash ({"passwordHash": "$6$..."}) logs in with its password through the NLB, and the hash is what the backend stores', async () => {
    const login = (password: string) =>
      run('curl', [
        '-sS',
        '--ssl-reqd',
        '--cacert',
        sb.certificateFile as string,
        '--max-time',
        '20',
        '-u',
        `${hashedUser}:${password}`,
        `ftp://${sb.endpoint}/`,
      ]);
    const r = await login(hashedPassword);
    expect(r.code, r.stderr).toBe(0);
    expect((await login(`x${hashedPassword}`)).code).not.toBe(0);
    const instance = sb.lastBoot.get(0)?.instance;
    if (!instance) throw new Error('slot 0 has no booted instance');
    expect((await instance.run(['getent', 'shadow', hashedUser])).split(':')[1]).toMatch(/^\$6\$/);
  });

  it('refuses, as initialFtpUser, every account and group that the booted backend has (its packages add some)', () => {
    const inst = sb.backends[0].server.instance;
    const names = new Set<string>();
    for (const file of ['/etc/passwd', '/etc/group']) {
      for (const line of (inst.read(file) ?? '').split('\n')) if (line.includes(':')) names.add(line.split(':')[0]);
    }
    // The FTP user the sync made from the users secret (and its group) is the one that may be there.
    names.delete(sb.demo.user);
    names.delete(hashedUser);
    expect(names.size).toBeGreaterThan(20);
    const accepted = [...names].filter((n) => !reservedUserReason(n)).sort();
    expect(
      accepted,
      'accounts or groups of a booted backend that the config would accept as an FTP user: add them to lib/shared/users.ts',
    ).toEqual([]);
  });

  // Last: each drill stops the slot's server and boots the slot again with one fault.
  it('IAM drill: the instance role without its Secrets Manager statement (template edited) reports ABANDON with the AWS error, and nothing serves', async () => {
    const out = await sb.bootDrill(0, 'no-secrets-permission');
    expect(out.result.exitCode, out.result.log.slice(-1500)).not.toBe(0);
    expect(out.report).toMatchObject({ result: 'ABANDON', instanceId: out.instanceId });
    // AWS's own denial, as the boot's log shows it, naming the action.
    expect(out.result.log).toMatch(/AccessDeniedException/);
    expect(out.result.log).toContain('secretsmanager:GetSecretValue');
    expect(out.result.log).toContain('reporting ABANDON so that Auto Scaling replaces this instance');
    expect(out.listening).toBe(false);
    expect(out.instance.mainPid(server === 'proftpd' ? 'proftpd.service' : 'vsftpd.service')).toBeUndefined();
    const denied = sb.aws.calls.filter((c) => c.denied);
    expect(denied.map((c) => `${c.service}:${c.action}`)).toContain('secretsmanager:GetSecretValue');
    // Its CompleteLifecycleAction (ABANDON) was still allowed: the group can replace it.
    expect(sb.aws.iam.decisions.some((d) => d.action === 'autoscaling:CompleteLifecycleAction' && d.allowed)).toBe(true);
    await out.instance.dispose();
  }, 180_000);

  if (server === 'vsftpd') {
    describe('boot drills: each fault reports ABANDON and never serves', () => {
      it.each([
        ['malformed-users-secret', /5\/7 FTP users/, /FAILED \(exit \d+\): reporting ABANDON/],
        ['missing-certificate-secret', /5\/7 FTP users/, /ResourceNotFoundException/],
        ['failing-package-install', /2\/7 packages/, /apt attempt 3 of 3 failed/],
      ] as const)(
        '%s',
        async (fault, lastStep, because) => {
          const out = await sb.bootDrill(0, fault);
          expect(out.result.exitCode, out.result.log.slice(-1500)).not.toBe(0);
          expect(out.report).toMatchObject({ result: 'ABANDON', instanceId: out.instanceId });
          expect(out.result.steps.at(-1)?.step).toMatch(lastStep);
          expect(out.result.log).toMatch(because);
          expect(out.result.log).toContain('reporting ABANDON so that Auto Scaling replaces this instance');
          // Never serves: nothing listens on port 21, and no FTP server process runs from the root.
          expect(out.listening).toBe(false);
          expect(out.instance.mainPid('vsftpd.service')).toBeUndefined();
          expect(out.result.log).not.toContain(sb.demo.password);
          await out.instance.dispose();
        },
        180_000,
      );
    });
  }
});
