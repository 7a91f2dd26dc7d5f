/**
 * The checker's FTP probe against Debian's real vsftpd, configured by the project's renderer.
 * Each failure mode must come back with the right step and error class, within its deadline.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { probeBackend } from '../../lambda/health-checker/probe';
import { requireProftpd } from '../../sandbox/local-proftpd';
import { createLocalServer } from '../../sandbox/local-servers';
import { LocalUsers, LocalVsftpd } from '../../sandbox/local-vsftpd';
import { createNamespace, deleteNamespace, linkNamespaces, nsExec } from '../../sandbox/netns';

const USER = 'nlbftpprobe';
const PASS = 'Pr0be-Test-Password';
const creds = { username: USER, password: PASS };
const opts = { stepTimeoutMs: 4500, totalTimeoutMs: 9500 };
const NS = `nlbftp-probe-${process.pid % 10000}`;
const NS_ADDR = '198.18.250.2';
const HOST_ADDR = '198.18.250.1';

describe('FTP login probe against real vsftpd', () => {
  let root: string;
  let users: LocalUsers;
  let local: LocalVsftpd;
  let inNs: LocalVsftpd;
  let silent: net.Server;

  beforeAll(async () => {
    requireTools(['vsftpd', 'ip', 'iptables']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-probe-'));
    users = new LocalUsers(root, { [USER]: PASS });
    users.apply();
    local = new LocalVsftpd({
      slot: 0,
      listenAddress: '127.18.3.1',
      pasvAddress: '127.18.3.1',
      pasvMinPort: 41000,
      pasvMaxPort: 41003,
      maxClients: 50,
      maxPerIp: 20,
      allowFile: users.allowFile,
    });
    await local.start();

    // A backend in its own namespace, whose passive range we can block with its own firewall.
    createNamespace(NS);
    linkNamespaces({ ns: NS, nsIf: 'eth0', nsAddr: NS_ADDR, peerIf: `nlbftpp${process.pid % 10000}`, peerAddr: HOST_ADDR });
    inNs = new LocalVsftpd({
      slot: 1,
      listenAddress: NS_ADDR,
      pasvAddress: NS_ADDR,
      pasvMinPort: 41004,
      pasvMaxPort: 41007,
      maxClients: 50,
      maxPerIp: 20,
      allowFile: users.allowFile,
      netns: NS,
    });
    await inNs.start();

    // Accepts TCP, never sends a banner.
    silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(2121, '127.18.3.2', r));
  });

  afterAll(async () => {
    silent?.close();
    await local?.dispose();
    await inNs?.dispose();
    deleteNamespace(NS);
    users?.dispose();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('passes all five steps on a healthy backend', async () => {
    const r = await probeBackend({ slot: 0, host: '127.18.3.1' }, creds, opts);
    expect(r).toMatchObject({ slot: 0, ok: true, step: 'quit' });
    expect(r.errorClass).toBeUndefined();
  });

  it('passes through a namespace too (the data path crosses a veth)', async () => {
    const r = await probeBackend({ slot: 1, host: NS_ADDR }, creds, opts);
    expect(r).toMatchObject({ ok: true, step: 'quit' });
  });

  it('classifies a wrong password as auth', async () => {
    const r = await probeBackend({ slot: 0, host: '127.18.3.1' }, { username: USER, password: 'wrong-password' }, opts);
    expect(r).toMatchObject({ ok: false, step: 'auth', errorClass: 'auth' });
    expect(r.detail).toMatch(/^530/);
    expect(r.detail).not.toContain('wrong-password');
  });

  it('classifies a stopped vsftpd as connect', async () => {
    const r = await probeBackend({ slot: 2, host: '127.18.3.9' }, creds, opts);
    expect(r).toMatchObject({ ok: false, step: 'connect', errorClass: 'connect', detail: 'ECONNREFUSED' });
  });

  it('classifies a rejected passive range as data', async () => {
    nsExec(NS, 'iptables', ['-I', 'INPUT', '-p', 'tcp', '--dport', '41004:41007', '-j', 'REJECT', '--reject-with', 'tcp-reset']);
    try {
      const r = await probeBackend({ slot: 1, host: NS_ADDR }, creds, opts);
      expect(r).toMatchObject({ ok: false, step: 'data', errorClass: 'data' });
    } finally {
      nsExec(NS, 'iptables', ['-D', 'INPUT', '-p', 'tcp', '--dport', '41004:41007', '-j', 'REJECT', '--reject-with', 'tcp-reset']);
    }
  });

  it('stops at the data step, within its deadline, when the passive range silently drops', async () => {
    nsExec(NS, 'iptables', ['-I', 'INPUT', '-p', 'tcp', '--dport', '41004:41007', '-j', 'DROP']);
    try {
      const r = await probeBackend({ slot: 1, host: NS_ADDR }, creds, opts);
      expect(r).toMatchObject({ ok: false, step: 'data', errorClass: 'timeout' });
      expect(r.latencyMs).toBeLessThan(opts.stepTimeoutMs * 2 + 1500);
    } finally {
      nsExec(NS, 'iptables', ['-D', 'INPUT', '-p', 'tcp', '--dport', '41004:41007', '-j', 'DROP']);
    }
  });

  it('gives up on a server that never sends its banner, as timeout, within the deadline', async () => {
    const r = await probeBackend({ slot: 3, host: '127.18.3.2', port: 2121 }, creds, opts);
    expect(r).toMatchObject({ ok: false, step: 'banner', errorClass: 'timeout' });
    expect(r.latencyMs).toBeGreaterThanOrEqual(opts.stepTimeoutMs - 50);
    expect(r.latencyMs).toBeLessThan(opts.stepTimeoutMs + 1000);
  });

  it('works again after the faults are removed', async () => {
    const r = await probeBackend({ slot: 1, host: NS_ADDR }, creds, opts);
    expect(r.ok).toBe(true);
  });
});

describe('FTP login probe against real ProFTPD with its passive range in use', () => {
  it('fails the data step when the server offers a port outside the slot range (no NLB listener there)', async () => {
    requireTools(['python3']);
    requireProftpd();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-probe-range-'));
    const users = new LocalUsers(root, { [USER]: PASS });
    const server = createLocalServer('proftpd', {
      ftpRoot: root,
      slot: 0,
      listenAddress: '127.18.3.3',
      pasvAddress: '127.18.3.3',
      pasvMinPort: 41010,
      pasvMaxPort: 41011,
      maxClients: 50,
      maxPerIp: 20,
      allowFile: users.allowFile,
    });
    let holder: ReturnType<typeof spawn> | undefined;
    try {
      users.apply();
      await server.start();
      const target = { slot: 0, host: '127.18.3.3', passivePorts: { min: 41010, max: 41011 } };
      expect((await probeBackend(target, creds, opts)).ok).toBe(true);
      // Two sessions ask for a passive port and never connect: both ports of the range are taken.
      holder = spawn('python3', ['-c', HOLD_PASSIVE, '127.18.3.3', USER, PASS, '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const offered = await new Promise<string>((resolve) => {
        let out = '';
        holder?.stdout?.on('data', (d) => {
          out += d;
          if (out.split('\n').filter((l) => l.startsWith('229')).length === 2) resolve(out);
        });
      });
      expect(offered).toContain('|||41010|');
      expect(offered).toContain('|||41011|');
      const r = await probeBackend(target, creds, opts);
      expect(r).toMatchObject({ ok: false, step: 'data', errorClass: 'data' });
      expect(r.detail).toMatch(/passive port \d+ is outside the slot's range 41010-41011/);
    } finally {
      holder?.kill();
      await server.dispose();
      users.dispose();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

/** Log in N times, send EPSV on each session, print the replies, and hold the sessions open. */
const HOLD_PASSIVE = `
import socket, sys, time
host, user, password, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
held = []
for _ in range(n):
    c = socket.create_connection((host, 21))
    f = c.makefile('rwb')
    f.readline()
    for cmd in (b'USER ' + user.encode(), b'PASS ' + password.encode(), b'EPSV'):
        f.write(cmd + b'\\r\\n'); f.flush(); reply = f.readline().decode()
    print(reply.strip(), flush=True)
    held.append((c, f))
time.sleep(60)
`;
