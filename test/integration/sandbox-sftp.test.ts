/**
 * SFTP on the default stack (ProFTPD, FTPS required, SFTP on): two backends booted from the
 * template's user data, the host keys made by the stack's own custom resource, and real clients
 * through the emulated NLB's SFTP listener with strict host-key checking against the stack's keys:
 * OpenSSH's sftp (batch mode), lftp sftp://, curl sftp:// (libssh2, pinned by the key's SHA-256)
 * and Python's paramiko (RejectPolicy). Sessions go on until every backend has served SFTP, so the
 * one host key is proven on each. A file crosses protocols both ways (SFTP up, FTPS down, and back);
 * SFTP logins, failed logins and transfers are audit events with "protocol": "sftp"; one drill stops
 * one backend's SFTP and the NLB's SFTP health check takes it out; one restarts a backend on foreign
 * host keys and the health checker's SFTP probe takes it out of SFTP's rotation only; one breaks its
 * logins and the checker takes it out of both. Uploads write under a hidden name: one cut off by
 * killing an SFTP or an FTPS client, or by resetting an FTPS upload's connections, is deleted, never
 * renamed (for the killed FTPS client, by nlb-ftp's module, built at boot: docs/users.md).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FTPLIB_REUSING_TLS, killMidUpload, run } from '../../harness/ftp-clients';
import { requireTools } from '../../harness/prerequisites';
import { askpassEnv, strictSshOptions } from '../../harness/sftp-clients';
import { SFTP_BACKEND_PORT } from '../../lib/backend/proftpd-conf';
import type { AuditEvent } from '../../lib/shared/audit';
import { HEALTH_CHECK_USER } from '../../lib/shared/contract';
import { missingRoot } from '../../sandbox/boot/root';
import {
  CHECKER_IP,
  CLIENT_IP,
  checkerBoundsMs,
  checkerContext,
  cleanupSandbox,
  DRILL_CHECKER,
  DRILL_NLB_HEALTH,
  Sandbox,
} from '../../sandbox/cluster';
import { nsExec } from '../../sandbox/netns';
import { expectNoSandboxLeftovers } from '../helpers/sandbox-leftovers';

/** Debian's own Python, which has python3-paramiko (the project's python3 may be another one). */
const DEBIAN_PYTHON = '/usr/bin/python3';

describe('SFTP on the default stack (ProFTPD, two backends)', () => {
  let sb: Sandbox;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-sftp-test-'));
  const knownHosts = path.join(tmp, 'known_hosts');
  const payload = randomBytes(300_000);
  const payloadFile = path.join(tmp, 'payload.bin');
  let port = 0;
  /** A user with SFTP public keys only (the users secret's `publicKeys`), and its private key. */
  const KEY_USER = 'partner-keys';
  const keyFile = path.join(tmp, 'partner-ed25519');

  beforeAll(async () => {
    requireTools(['ip', 'iptables', 'nsenter', 'curl', 'lftp', 'sftp', 'ssh', 'ssh-keygen', DEBIAN_PYTHON]);
    const missing = missingRoot();
    if (missing) throw new Error(missing);
    cleanupSandbox();
    // The health checker runs (its bundled code, drill timing): its decisions move SFTP's group too.
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'partner nightly job', '-f', keyFile]);
    sb = await Sandbox.up({
      context: { backendCount: '2', ...checkerContext(DRILL_CHECKER) },
      nlbHealth: DRILL_NLB_HEALTH,
      users: { [KEY_USER]: { publicKeys: [fs.readFileSync(`${keyFile}.pub`, 'utf8').trim()] } },
    });
    port = sb.sftpPort as number;
    fs.writeFileSync(knownHosts, sb.sftpKnownHosts());
    fs.writeFileSync(payloadFile, payload);
  }, 600_000);

  afterAll(async () => {
    await sb?.down();
    fs.rmSync(tmp, { recursive: true, force: true });
    expectNoSandboxLeftovers();
  });

  const sshOptions = () => strictSshOptions(knownHosts);

  /** Polls every 200 ms while `cond` holds, for at most `ms`; returns how long it waited. */
  async function waitWhile(cond: () => boolean, ms: number): Promise<number> {
    const started = Date.now();
    while (cond() && Date.now() - started < ms) await new Promise((r) => setTimeout(r, 200));
    return Date.now() - started;
  }

  /** After a drill's repair: the checker puts the backend back in SFTP's group within `recoverMs` (and 15 s of slack). */
  async function expectBackInSftp(label: string, backend: string, recoverMs: number): Promise<void> {
    const from = sb.checkerLines.length;
    const back = await waitWhile(() => !sb.nlb.sftpRegistered.has(backend), recoverMs + 15_000);
    console.log(`[${label}] back in SFTP's group after ${(back / 1000).toFixed(1)} s`);
    // What the checker saw is what explains a missed recovery.
    if (!sb.nlb.sftpRegistered.has(backend)) console.log(sb.checkerLines.slice(from).slice(-12).join('\n'));
    expect(sb.nlb.sftpRegistered.has(backend)).toBe(true);
  }

  /** `n` OpenSSH sessions in a row, each of which must succeed (strict host keys). */
  async function sessionsSucceed(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const r = await openSsh('ls\n');
      expect(r.code, r.stderr).toBe(0);
    }
  }

  /** OpenSSH's sftp in batch mode: the commands on stdin, the password through askpass. */
  const openSsh = (commands: string, password = sb.demo.password) =>
    run(
      'sftp',
      [
        ...sshOptions(),
        '-o',
        'BatchMode=no',
        '-o',
        'NumberOfPasswordPrompts=1',
        '-P',
        String(port),
        '-b',
        '-',
        `${sb.demo.user}@${sb.endpoint}`,
      ],
      {
        input: commands,
        timeoutMs: 60_000,
        env: askpassEnv(tmp, password),
      },
    );

  const lftp = (commands: string) =>
    run(
      'lftp',
      [
        '-c',
        `set sftp:connect-program "ssh -a -x ${sshOptions().join(' ')}"; set net:max-retries 1; set net:timeout 20; ` +
          `open -u ${sb.demo.user},${sb.demo.password} -p ${port} sftp://${sb.endpoint}; ${commands}`,
      ],
      { timeoutMs: 60_000 },
    );

  /** curl over libssh2, the host pinned by its ECDSA key's SHA-256 (as the stack's output gives it). */
  const curlSftp = (pin: string, ...args: string[]) =>
    run(
      'curl',
      ['-sS', '--max-time', '30', '--hostpubsha256', pin.replace(/^SHA256:/, ''), '-u', `${sb.demo.user}:${sb.demo.password}`, ...args],
      {
        timeoutMs: 40_000,
      },
    );

  const paramiko = (script: string) =>
    run(DEBIAN_PYTHON, ['-c', script], {
      timeoutMs: 60_000,
      env: {
        ...process.env,
        HOST: sb.endpoint,
        PORT: String(port),
        KNOWN_HOSTS: knownHosts,
        SFTP_USER: sb.demo.user,
        SFTP_PASSWORD: sb.demo.password,
        PAYLOAD: payloadFile,
      },
    });

  /** The SFTP events of the client (the host) and of the checker (its own address) on every backend. */
  const sftpEvents = (): AuditEvent[][] =>
    sb.backends.map((b) =>
      fs.existsSync(b.server.auditLog)
        ? fs
            .readFileSync(b.server.auditLog, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as AuditEvent)
            .filter((e) => (e.clientIp === CLIENT_IP || e.clientIp === CHECKER_IP) && e.protocol === 'sftp')
        : [],
    );

  it("the stack's fingerprints are the keys every client is pinned to, as ssh-keygen prints them", () => {
    expect(sb.sftpFingerprints).toHaveLength(2);
    const printed = run('ssh-keygen', ['-lf', knownHosts]);
    return printed.then((r) => {
      expect(r.code, r.stderr).toBe(0);
      for (const fp of sb.sftpFingerprints) expect(r.stdout).toContain(fp);
    });
  });

  it('OpenSSH sftp (batch mode, strict host key): upload, list, download; and a host key the client does not know is refused', async () => {
    const down = path.join(tmp, 'openssh-down.bin');
    const r = await openSsh(`put ${payloadFile} openssh.bin\nls -l\nget openssh.bin ${down}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/openssh\.bin/);
    expect(fs.readFileSync(down).equals(payload)).toBe(true);
    // Another host's key in known_hosts: OpenSSH refuses before any password is sent.
    const other = path.join(tmp, 'other_known_hosts');
    fs.writeFileSync(
      other,
      sb.sftpKnownHosts().replace(/AAAA[A-Za-z0-9+/=]+/g, (k) => `${k.slice(0, -8)}AAAAAAA=`),
    );
    const refused = await run(
      'sftp',
      [
        '-o',
        `UserKnownHostsFile=${other}`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        '-o',
        'BatchMode=yes',
        '-P',
        String(port),
        '-b',
        '-',
        `${sb.demo.user}@${sb.endpoint}`,
      ],
      { input: 'ls\n', timeoutMs: 30_000 },
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key/i);
  });

  it('lftp sftp:// (ssh with the same strict host key): upload and download', async () => {
    const down = path.join(tmp, 'lftp-down.bin');
    const r = await lftp(`put ${payloadFile} -o lftp.bin; get lftp.bin -o ${down}`);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(down).equals(payload)).toBe(true);
  });

  it("curl sftp:// pinned to the stack's ECDSA fingerprint: upload and download; a wrong pin is refused", async () => {
    const url = `sftp://${sb.endpoint}:${port}/files/`;
    const up = await curlSftp(sb.sftpFingerprints[0], '-T', payloadFile, `${url}curl.bin`);
    expect(up.code, up.stderr).toBe(0);
    const down = path.join(tmp, 'curl-down.bin');
    const got = await curlSftp(sb.sftpFingerprints[0], '-o', down, `${url}curl.bin`);
    expect(got.code, got.stderr).toBe(0);
    expect(fs.readFileSync(down).equals(payload)).toBe(true);
    const wrong = await curlSftp(`SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`, `${url}`);
    expect(wrong.code).not.toBe(0);
  });

  it('paramiko with RejectPolicy and the known_hosts file: upload, stat, download', async () => {
    const r = await paramiko(`
import os, paramiko
c = paramiko.SSHClient()
c.load_host_keys(os.environ["KNOWN_HOSTS"])
c.set_missing_host_key_policy(paramiko.RejectPolicy())
c.connect(os.environ["HOST"], int(os.environ["PORT"]), os.environ["SFTP_USER"], os.environ["SFTP_PASSWORD"], look_for_keys=False, allow_agent=False, timeout=20)
s = c.open_sftp()
s.put(os.environ["PAYLOAD"], "paramiko.bin")
print("SIZE", s.stat("paramiko.bin").st_size)
with s.open("paramiko.bin", "rb") as f:
    data = f.read()
print("SAME", data == open(os.environ["PAYLOAD"], "rb").read())
print("CWD", s.normalize("."))
c.close()
`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`SIZE ${payload.length}`);
    expect(r.stdout).toContain('SAME True');
    // The session starts in the user's files/, inside the jail, as over FTP.
    expect(r.stdout).toContain('CWD /files');
  });

  it('public keys from the users secret: a keys-only user logs in with its key (OpenSSH sftp, paramiko; strict host keys), never with a password, and not over FTPS', async () => {
    const viaKey = await run(
      'sftp',
      [
        ...sshOptions(),
        '-o',
        'BatchMode=yes',
        '-o',
        'IdentitiesOnly=yes',
        '-i',
        keyFile,
        '-P',
        String(port),
        '-b',
        '-',
        `${KEY_USER}@${sb.endpoint}`,
      ],
      { input: `put ${payloadFile} by-key.bin\nls\n`, timeoutMs: 60_000 },
    );
    expect(viaKey.code, viaKey.stderr).toBe(0);
    expect(viaKey.stdout).toContain('by-key.bin');
    expect(fs.readFileSync(path.join(sb.sharedRoot, 'users', KEY_USER, 'files', 'by-key.bin')).equals(payload)).toBe(true);
    const py = await run(
      DEBIAN_PYTHON,
      [
        '-c',
        [
          'import os, paramiko',
          'c = paramiko.SSHClient()',
          'c.load_host_keys(os.environ["KNOWN_HOSTS"])',
          'c.set_missing_host_key_policy(paramiko.RejectPolicy())',
          'c.connect(os.environ["HOST"], int(os.environ["PORT"]), os.environ["KEY_USER"], key_filename=os.environ["KEY"], look_for_keys=False, allow_agent=False, timeout=20)',
          'print("SIZE", c.open_sftp().stat("by-key.bin").st_size)',
          'c.close()',
        ].join('\n'),
      ],
      {
        timeoutMs: 60_000,
        env: { ...process.env, HOST: sb.endpoint, PORT: String(port), KNOWN_HOSTS: knownHosts, KEY_USER, KEY: keyFile },
      },
    );
    expect(py.code, py.stderr).toBe(0);
    expect(py.stdout).toContain(`SIZE ${payload.length}`);
    // Its password is locked: SFTP with a password and FTPS (passwords only) both refuse it.
    const withPassword = await run(
      'sftp',
      [
        ...sshOptions(),
        '-o',
        'BatchMode=no',
        '-o',
        'PubkeyAuthentication=no',
        '-o',
        'NumberOfPasswordPrompts=1',
        '-P',
        String(port),
        '-b',
        '-',
        `${KEY_USER}@${sb.endpoint}`,
      ],
      { input: 'ls\n', timeoutMs: 60_000, env: askpassEnv(tmp, 'any-password') },
    );
    expect(withPassword.code).not.toBe(0);
    const ftps = await run('curl', [
      '-sS',
      '--ssl-reqd',
      '--cacert',
      sb.certificateFile as string,
      '-u',
      `${KEY_USER}:any-password`,
      `ftp://${sb.endpoint}/`,
    ]);
    expect(ftps.code).toBe(67); // curl: the login was denied
    // Key logins are audit events like password ones; so are the refused password attempts.
    let mine: AuditEvent[] = [];
    for (let i = 0; i < 40; i++) {
      mine = sftpEvents()
        .flat()
        .filter((e) => e.user === KEY_USER);
      if (mine.filter((e) => e.event === 'login').length >= 2 && mine.some((e) => e.event === 'login-failed')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    console.log(`[sftp keys] audit events of ${KEY_USER}: ${mine.map((e) => `${e.event}/${e.result}`).join(', ')}`);
    expect(mine.filter((e) => e.event === 'login' && e.result === 'ok')).toHaveLength(2);
    expect(mine.some((e) => e.event === 'login-failed')).toBe(true);
    expect(mine.some((e) => e.event === 'upload' && e.path === '/files/by-key.bin' && e.bytes === payload.length)).toBe(true);
  });

  it('sessions reach every backend, each presenting the same host key (strict checking passed on each)', async () => {
    for (let i = 0; i < 40 && sftpEvents().some((e) => !e.some((x) => x.event === 'login')); i++) {
      const r = await openSsh('ls\n');
      expect(r.code, r.stderr).toBe(0);
    }
    const logins = sftpEvents().map((e) => e.filter((x) => x.event === 'login').length);
    console.log(`[sftp] logins per backend: ${logins.join('/')}`);
    for (const n of logins) expect(n).toBeGreaterThan(0);
  });

  it('a file uploaded over SFTP downloads over FTPS, and one uploaded over FTPS downloads over SFTP, byte for byte', async () => {
    const ftps = (...args: string[]) =>
      run('curl', [
        '-sS',
        '--ssl-reqd',
        '--cacert',
        sb.certificateFile as string,
        '--max-time',
        '30',
        '-u',
        `${sb.demo.user}:${sb.demo.password}`,
        ...args,
      ]);
    const viaFtps = path.join(tmp, 'via-ftps.bin');
    const a = await ftps(`ftp://${sb.endpoint}/openssh.bin`, '-o', viaFtps);
    expect(a.code, a.stderr).toBe(0);
    expect(fs.readFileSync(viaFtps).equals(payload)).toBe(true);
    const b = await ftps('-T', payloadFile, `ftp://${sb.endpoint}/from-ftps.bin`);
    expect(b.code, b.stderr).toBe(0);
    const viaSftp = path.join(tmp, 'via-sftp.bin');
    const c = await openSsh(`get from-ftps.bin ${viaSftp}\n`);
    expect(c.code, c.stderr).toBe(0);
    expect(fs.readFileSync(viaSftp).equals(payload)).toBe(true);
  });

  it('SFTP logins, a failed login and transfers are audit events with "protocol": "sftp"', async () => {
    const bad = await openSsh('ls\n', `wrong-${randomBytes(6).toString('hex')}`);
    expect(bad.code).not.toBe(0);
    const deadline = Date.now() + 15_000;
    let all: AuditEvent[] = [];
    while (Date.now() < deadline) {
      all = sftpEvents().flat();
      if (all.some((e) => e.event === 'login-failed')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const kinds = new Set(all.map((e) => e.event));
    console.log(`[sftp] audit events: ${[...kinds].join(', ')}`);
    expect(all.filter((e) => e.event === 'login-failed').map((e) => e.user)).toContain(sb.demo.user);
    // Every login is the demo user's or the health checker's SFTP probe (its account, every round).
    const logins = all.filter((e) => e.event === 'login');
    expect(logins.every((e) => [sb.demo.user, KEY_USER, HEALTH_CHECK_USER].includes(e.user ?? ''))).toBe(true);
    expect(logins.some((e) => e.user === HEALTH_CHECK_USER)).toBe(true);
    // The checker's logins come from its own address (its Lambda's, in the VPC), the client's never do.
    for (const e of logins) expect([e.user, e.clientIp]).toEqual([e.user, e.user === HEALTH_CHECK_USER ? CHECKER_IP : CLIENT_IP]);
    expect(all.filter((e) => e.event === 'upload' && e.result === 'ok').map((e) => [e.path, e.bytes])).toContainEqual([
      '/files/openssh.bin',
      payload.length,
    ]);
    expect(all.some((e) => e.event === 'download' && e.result === 'ok' && e.bytes === payload.length)).toBe(true);
  });

  it("drill: one backend's SFTP stops answering; the NLB's SFTP health check takes it out within its bound, and every later session succeeds", async () => {
    const victim = sb.backends[1];
    const h = DRILL_NLB_HEALTH;
    const bound = (h.unhealthyThreshold + 1) * h.intervalSeconds * 1000 + 5000;
    // Only SFTP: new connections to the backend's SFTP port are dropped; its FTP keeps serving.
    const rule = ['-p', 'tcp', '--dport', String(SFTP_BACKEND_PORT), '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP'];
    nsExec(victim.namespace, 'iptables', ['-I', 'FORWARD', ...rule]);
    nsExec(victim.namespace, 'iptables', ['-I', 'INPUT', ...rule]);
    const started = Date.now();
    try {
      while (sb.nlb.isSftpHealthy(victim.logicalId) && Date.now() - started < bound + 10_000) await new Promise((r) => setTimeout(r, 200));
      const detected = Date.now() - started;
      console.log(
        `[sftp drill] SFTP unhealthy after ${(detected / 1000).toFixed(1)} s (bound ${(bound / 1000).toFixed(0)} s); FTP target healthy: ${sb.nlb.isHealthy(victim.logicalId)}`,
      );
      expect(detected).toBeLessThanOrEqual(bound);
      expect(sb.nlb.sftpTargets).toEqual([sb.backends[0].logicalId]);
      expect(sb.nlb.isHealthy(victim.logicalId)).toBe(true);
      for (let i = 0; i < 8; i++) {
        const r = await openSsh('ls\n');
        expect(r.code, r.stderr).toBe(0);
      }
    } finally {
      nsExec(victim.namespace, 'iptables', ['-D', 'FORWARD', ...rule], { allowFail: true });
      nsExec(victim.namespace, 'iptables', ['-D', 'INPUT', ...rule], { allowFail: true });
    }
    const back = Date.now();
    while (!sb.nlb.isSftpHealthy(victim.logicalId) && Date.now() - back < 30_000) await new Promise((r) => setTimeout(r, 200));
    expect(sb.nlb.isSftpHealthy(victim.logicalId)).toBe(true);
  });

  it("drill: one backend presents other host keys (FTP fine); the checker's SFTP probe takes it out of SFTP's rotation only, within port 21's bound, and back once the sync reinstalls the stack's keys", async () => {
    const victim = sb.backends[1];
    const bounds = checkerBoundsMs(DRILL_CHECKER);
    // The drill before took this backend out of SFTP (the NLB's check and the checker's probe):
    // start from it registered again, or "out" would be measured before anything broke.
    await waitWhile(() => !sb.nlb.sftpRegistered.has(victim.logicalId), bounds.recover + 15_000);
    expect(sb.nlb.sftpRegistered.has(victim.logicalId)).toBe(true);
    // What clients would see as "REMOTE HOST IDENTIFICATION HAS CHANGED": keys that are not the
    // stack's, in the files the config names, and the server restarted to load them.
    const root = `/proc/${victim.server.instance.pids()[0]}/root`;
    const foreign: Array<[string, string]> = [];
    for (const [type, args] of [
      ['ecdsa', ['-t', 'ecdsa', '-b', '256']],
      ['rsa', ['-t', 'rsa', '-b', '3072']],
    ] as const) {
      const key = path.join(tmp, `foreign-${type}`);
      fs.rmSync(key, { force: true });
      const made = await run('ssh-keygen', ['-q', ...args, '-m', 'PEM', '-N', '', '-f', key]);
      expect(made.code, made.stderr).toBe(0);
      foreign.push([key, `${root}/etc/proftpd/nlb-ftp-ssh-${type}.key`]);
    }
    // Timed from the moment the foreign keys are in place and the server restarts on them.
    const started = Date.now();
    for (const [from, to] of foreign) fs.copyFileSync(from, to);
    await victim.server.instance.run(['systemctl', 'restart', 'proftpd.service']);
    const restarted = Date.now() - started;
    try {
      const detected = restarted + (await waitWhile(() => sb.nlb.sftpRegistered.has(victim.logicalId), bounds.detect + 15_000));
      const probe = sb.checkerLines.filter((l) => l.includes('"sftp probe"') && l.includes('"hostkey"')).at(-1);
      console.log(
        `[sftp host key drill] out of SFTP's group after ${(detected / 1000).toFixed(1)} s (the restart took ${(restarted / 1000).toFixed(1)} s; bound ${(bounds.detect / 1000).toFixed(0)} s + one interval); still on port 21: ${sb.nlb.registered.has(victim.logicalId)}; probe: ${probe?.match(/"detail":"([^"]*)"/)?.[1]}`,
      );
      expect(detected).toBeLessThanOrEqual(bounds.detect + DRILL_CHECKER.interval * 1000);
      expect(probe).toBeDefined();
      expect(sb.nlb.registered.has(victim.logicalId)).toBe(true);
      expect(sb.nlb.sftpTargets).toEqual([sb.backends[0].logicalId]);
      // Strict clients never meet the foreign keys: every later session lands on the other backend.
      await sessionsSucceed(6);
    } finally {
      await sb.repairLogin(victim.slot);
    }
    await expectBackInSftp('sftp host key drill', victim.logicalId, bounds.recover);
  });

  it("drill: one backend's logins break; the checker's SFTP probe takes it out of SFTP's rotation (and its FTP probe out of port 21's), within the same bound, and back once repaired", async () => {
    const victim = sb.backends[0];
    const bounds = checkerBoundsMs(DRILL_CHECKER);
    const from = sb.checkerLines.length;
    await sb.breakLogin(victim.slot);
    try {
      const detected = await waitWhile(() => sb.nlb.sftpRegistered.has(victim.logicalId), bounds.detect + 15_000);
      console.log(
        `[sftp login drill] out of SFTP's group after ${(detected / 1000).toFixed(1)} s (bound ${(bounds.detect / 1000).toFixed(0)} s + one interval); out of port 21's: ${!sb.nlb.registered.has(victim.logicalId)}`,
      );
      // What the checker saw is what explains a missed detection.
      if (sb.nlb.sftpRegistered.has(victim.logicalId)) console.log(sb.checkerLines.slice(from).slice(-12).join('\n'));
      expect(detected).toBeLessThanOrEqual(bounds.detect + DRILL_CHECKER.interval * 1000);
      expect(sb.nlb.registered.has(victim.logicalId)).toBe(false);
      expect(sb.nlb.sftpTargets).toEqual([sb.backends[1].logicalId]);
      await sessionsSucceed(6);
    } finally {
      await sb.repairLogin(victim.slot);
    }
    await expectBackInSftp('sftp login drill', victim.logicalId, bounds.recover);
  });

  describe('an upload cut off by killing its client never appears under its name, and a retry succeeds', () => {
    const big = path.join(tmp, 'big.bin');
    const files = () => path.join(sb.sharedRoot, 'users', sb.demo.user, 'files');

    beforeAll(() => {
      fs.writeFileSync(big, randomBytes(48 * 1024 * 1024));
    });

    /** curl over FTPS as the demo user, through the NLB. */
    const ftpsCurl = (...rest: string[]) =>
      run('curl', ['-sS', '--ssl-reqd', '--cacert', sb.certificateFile as string, '-u', `${sb.demo.user}:${sb.demo.password}`, ...rest]);
    /** curl uploads the payload as `name`. */
    const ftpsPut = (name: string) => ftpsCurl('-T', payloadFile, `ftp://${sb.endpoint}/${name}`);

    it('SFTP (OpenSSH sftp killed mid-put): hidden while it runs, gone when cut, the retry lands whole', async () => {
      const env = askpassEnv(tmp, sb.demo.password);
      const { during, after } = await killMidUpload(
        ['sftp', ...sshOptions(), '-o', 'BatchMode=no', '-l', '8000', '-P', String(port), '-b', '-', `${sb.demo.user}@${sb.endpoint}`],
        files(),
        'cut-sftp.bin',
        { env, input: `put ${big} cut-sftp.bin\n` },
      );
      const partial = [...during.keys()];
      console.log(`[sftp] while uploading: ${partial.join(', ')}; after the kill: ${after.join(', ') || 'nothing'}`);
      expect(partial).toEqual(['.in.cut-sftp.bin.']);
      expect(after).toEqual([]);
      const retry = await openSsh(`put ${payloadFile} cut-sftp.bin\nls -la\n`);
      expect(retry.code, retry.stderr).toBe(0);
      expect(retry.stdout).not.toMatch(/\.in\./);
      expect(fs.readFileSync(path.join(files(), 'cut-sftp.bin')).equals(payload)).toBe(true);
    });

    it('FTPS, a client killed mid-upload: hidden while it runs and never listed, deleted after (no close_notify: mod_nlbftp_uploads refuses the rename); the retry lands whole', async () => {
      const { during, after } = await killMidUpload(
        [
          'curl',
          '-sS',
          '--ssl-reqd',
          '--cacert',
          sb.certificateFile as string,
          '--limit-rate',
          '1M',
          '-u',
          `${sb.demo.user}:${sb.demo.password}`,
          '-T',
          big,
          `ftp://${sb.endpoint}/cut-ftps.bin`,
        ],
        files(),
        'cut-ftps.bin',
      );
      const partial = [...during.keys()];
      // A killed client closes its data connection as a finished one does (stream mode's end of
      // file), but without TLS's close_notify. ProFTPD alone renamed the part into place; the
      // module, built by this backend's boot, refuses that rename, so ProFTPD deletes it.
      console.log(`[ftps kill] while uploading: ${partial.join(', ')}; after the kill: ${after.join(', ') || 'nothing'}`);
      expect(partial).toEqual(['.in.cut-ftps.bin.']);
      expect(after).toEqual([]);
      const listing = await ftpsCurl(`ftp://${sb.endpoint}/`, '-X', 'LIST -a');
      expect(listing.code, listing.stderr).toBe(0);
      expect(listing.stdout).not.toMatch(/\.in\./);
      const retry = await ftpsPut('cut-ftps.bin');
      expect(retry.code, retry.stderr).toBe(0);
      expect(fs.readFileSync(path.join(files(), 'cut-ftps.bin')).equals(payload)).toBe(true);
    });

    it('FTPS, the data connection reset mid-upload (a network failure, not an end of file): deleted, never renamed; the retry lands whole', async () => {
      // ftplib sends 4 MiB of a STOR, waits, then both connections end with a reset (SO_LINGER 0),
      // as a connection cut by the network or a load balancer's reset does.
      const script = [
        'import ftplib, os, socket, ssl, struct, sys, time',
        // The data connection resumes the control connection's TLS session, as ProFTPD requires.
        ...FTPLIB_REUSING_TLS,
        'host, user, pw, ca, name = sys.argv[1:6]',
        'f = Reusing(context=ssl.create_default_context(cafile=ca), timeout=30)',
        'f.connect(host, 21)',
        'f.login(user, pw)',
        'f.prot_p()',
        'conn = f.transfercmd("STOR " + name)',
        'chunk = os.urandom(65536)',
        'for _ in range(64):',
        '    conn.sendall(chunk)',
        'print("sent", flush=True)',
        'sys.stdin.readline()',
        'linger = struct.pack("ii", 1, 0)',
        'conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)',
        'f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)',
        'os._exit(0)',
      ].join('\n');
      const name = 'cut-reset.bin';
      const p = spawn(DEBIAN_PYTHON, ['-c', script, sb.endpoint, sb.demo.user, sb.demo.password, sb.certificateFile as string, name], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let err = '';
      p.stderr.on('data', (d) => {
        err += d;
      });
      const exited = new Promise<number | null>((r) => p.on('close', r));
      await new Promise<void>((resolve, reject) => {
        p.stdout.on('data', (d: Buffer) => d.toString().includes('sent') && resolve());
        p.on('close', () => reject(new Error(`the upload ended before it was cut: ${err}`)));
      });
      // Every byte sent has arrived under the hidden name (the server reads as fast as it comes).
      let partial: string[] = [];
      for (let i = 0; i < 50 && !partial.some((f) => fs.statSync(path.join(files(), f)).size >= 4 * 2 ** 20); i++) {
        await new Promise((r) => setTimeout(r, 100));
        partial = fs.readdirSync(files()).filter((f) => f.includes(name));
      }
      p.stdin?.end('cut\n');
      expect(await exited, err).toBe(0);
      await new Promise((r) => setTimeout(r, 3000));
      const after = fs.readdirSync(files()).filter((f) => f.includes(name));
      console.log(`[ftps reset] while uploading: ${partial.join(', ')}; after the reset: ${after.join(', ') || 'nothing'}`);
      expect(partial).toEqual([`.in.${name}.`]);
      expect(after).toEqual([]);
      const retry = await ftpsPut(name);
      expect(retry.code, retry.stderr).toBe(0);
      expect(fs.readFileSync(path.join(files(), name)).equals(payload)).toBe(true);
    });
  });
});
