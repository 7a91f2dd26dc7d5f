/**
 * The rendered vsftpd.conf and proftpd.conf run on Debian's real vsftpd and ProFTPD: each parses,
 * logins work through the project's own PAM service and apply-users script, passive mode answers
 * inside the slot's own range, users are jailed and active mode is refused. Only the listen
 * address and paths are substituted.
 */

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killMidUpload, offeredDataPort, offeredPasvAddress, run } from '../../harness/ftp-clients';
import { requireTools } from '../../harness/prerequisites';
import { slotFromBanner } from '../../lib/shared/names';

import { slotPorts } from '../../lib/shared/port-plan';
import { requireProftpd } from '../../sandbox/local-proftpd';
import { type AnyLocalServer, createLocalServer, FTP_SERVERS } from '../../sandbox/local-servers';
import { LocalUsers } from '../../sandbox/local-vsftpd';

const USER = 'nlbftprend';
// With ':' in it: chpasswd splits at the first colon only, and so do curl's -u and both servers.
const PASS = 'Rend3rer:Test:Pass';
const SLOTS = [0, 1, 4];

describe.each(FTP_SERVERS)('rendered config on Debian %s', (kind) => {
  let root: string;
  let users: LocalUsers;
  let otherRoot: string;
  let outsider: LocalUsers;
  const servers = new Map<number, AnyLocalServer>();

  beforeAll(async () => {
    requireTools(['vsftpd', 'curl']);
    if (kind === 'proftpd') requireProftpd();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-rend-'));
    users = new LocalUsers(root, { [USER]: PASS });
    users.apply();
    // A valid local account with a correct password, but not on this server's allow-list.
    otherRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-rend-other-'));
    outsider = new LocalUsers(otherRoot, { nlbftpoutsider: 'Outsider-Pass-1' });
    outsider.apply();
    fs.writeFileSync(path.join(root, 'users', USER, 'files', 'hello.txt'), 'hello from the shared root\n');
    for (const slot of SLOTS) {
      const ports = slotPorts(slot, { passivePortsPerBackend: 4, passivePortStart: 40000 });
      const addr = `127.18.0.${10 + slot}`;
      const v = createLocalServer(kind, {
        ftpRoot: root,
        slot,
        listenAddress: addr,
        pasvAddress: addr,
        pasvMinPort: ports.minPort,
        pasvMaxPort: ports.maxPort,
        maxClients: 50,
        maxPerIp: 10,
        allowFile: users.allowFile,
      });
      servers.set(slot, v);
      await v.start();
    }
  });

  afterAll(async () => {
    for (const v of servers.values()) await v.dispose();
    users?.dispose();
    outsider?.dispose();
    if (root) fs.rmSync(root, { recursive: true, force: true });
    if (otherRoot) fs.rmSync(otherRoot, { recursive: true, force: true });
  });

  for (const slot of SLOTS) {
    for (const mode of ['EPSV', 'PASV'] as const) {
      it(`slot ${slot}: logs in and lists over ${mode}, on a port of its own range`, async () => {
        const ports = slotPorts(slot, { passivePortsPerBackend: 4, passivePortStart: 40000 });
        const addr = `127.18.0.${10 + slot}`;
        const seen = new Set<number>();
        for (let i = 0; i < 6; i++) {
          const args = ['-sS', '-v', '--max-time', '10', '-u', `${USER}:${PASS}`, `ftp://${addr}/hello.txt`];
          if (mode === 'PASV') args.splice(0, 0, '--disable-epsv');
          const r = await run('curl', args);
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout).toBe('hello from the shared root\n');
          expect(slotFromBanner(r.stderr)).toBe(slot);
          const port = offeredDataPort(r.stderr) as number;
          expect(port).toBeGreaterThanOrEqual(ports.minPort);
          expect(port).toBeLessThanOrEqual(ports.maxPort);
          if (mode === 'PASV') expect(offeredPasvAddress(r.stderr)).toBe(addr);
          seen.add(port);
        }
        expect(seen.size).toBeGreaterThanOrEqual(1);
      });
    }
  }

  it('uploads into the user directory on the shared root', async () => {
    const r = await run('curl', ['-sS', '-u', `${USER}:${PASS}`, '-T', '-', 'ftp://127.18.0.10/up.txt'], { input: 'uploaded\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(root, 'users', USER, 'files', 'up.txt'), 'utf8')).toBe('uploaded\n');
  });

  it(
    kind === 'proftpd'
      ? 'plain FTP, a client killed mid-upload: hidden while it runs, deleted after (mod_nlbftp_uploads: its control connection ended too); a retry lands whole'
      : 'plain FTP, a client killed mid-upload: vsftpd keeps the part under its name (stream mode cannot tell; docs/users.md)',
    async () => {
      const name = 'killed-plain.bin';
      const files = path.join(root, 'users', USER, 'files');
      const src = path.join(root, 'killed-src.bin');
      const data = randomBytes(8 * 1024 * 1024);
      fs.writeFileSync(src, data);
      const login = ['-sS', '-u', `${USER}:${PASS}`, '-T', src, `ftp://127.18.0.10/${name}`];
      const { during, after } = await killMidUpload(['curl', '--limit-rate', '512K', ...login], files, name, { settleMs: 1500 });
      const partial = [...during.keys()];
      console.log(`[${kind} plain kill] while uploading: ${partial.join(', ')}; after the kill: ${after.join(', ') || 'nothing'}`);
      if (kind === 'proftpd') {
        expect(partial).toEqual([`.in.${name}.`]);
        expect(after).toEqual([]);
      } else {
        expect(partial).toEqual([name]);
        expect(fs.statSync(path.join(files, name)).size).toBeLessThan(data.length);
      }
      const retry = await run('curl', login);
      expect(retry.code, retry.stderr).toBe(0);
      expect(fs.readFileSync(path.join(files, name)).equals(data)).toBe(true);
    },
  );

  it('refuses a wrong password, anonymous, accounts not on the allow-list, and active mode', async () => {
    const addr = 'ftp://127.18.0.10/';
    expect((await run('curl', ['-sS', '-u', `${USER}:wrong`, addr])).stderr).toMatch(/530|Access denied/);
    expect((await run('curl', ['-sS', addr])).stderr).toMatch(/530|Access denied/);
    expect((await run('curl', ['-sS', '-u', 'root:root', addr])).stderr).toMatch(/530|Access denied/);
    // The PAM allow-list, not the password, is what keeps other local accounts out.
    const outsiderLogin = await run('curl', ['-sS', '-u', 'nlbftpoutsider:Outsider-Pass-1', addr]);
    expect(outsiderLogin.code).not.toBe(0);
    expect(outsiderLogin.stderr).toMatch(/530|Access denied/);
    const active = await run('curl', ['-sS', '-v', '-P', '-', '-u', `${USER}:${PASS}`, addr]);
    expect(active.code).not.toBe(0);
    // vsftpd (port_enable=NO): 550 Permission denied; ProFTPD (<Limit PORT EPRT> DenyAll): 501 PORT: Operation not permitted.
    expect(active.stderr).toMatch(kind === 'vsftpd' ? /< 550 Permission denied/ : /< 501 (PORT|EPRT): Operation not permitted/);
  });

  it('keeps the user inside the jail', async () => {
    const r = await run('curl', ['-sS', '-u', `${USER}:${PASS}`, 'ftp://127.18.0.10/%2F..%2F..%2F..%2Fetc/']);
    expect(r.stdout).not.toMatch(/passwd|shadow/);
    const top = await run('curl', ['-sS', '-l', '-u', `${USER}:${PASS}`, 'ftp://127.18.0.10/%2F']);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout.trim().split(/\r?\n/)).toEqual(['files']);
  });
});

const SIZE = 32 * 1024 * 1024;

describe('ProFTPD shares its passive ports between transfers (vsftpd does not)', () => {
  it.each(FTP_SERVERS)('%s: with 2 passive ports, 4 downloads held open at once plus a listing', async (kind) => {
    requireTools(['vsftpd', 'curl']);
    if (kind === 'proftpd') requireProftpd();
    // Each server its own address: nothing of one run can answer for the other.
    const addr = kind === 'vsftpd' ? '127.18.1.10' : '127.18.1.11';
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-share-'));
    const users = new LocalUsers(root, { nlbftpshare: PASS });
    let server: AnyLocalServer | undefined;
    try {
      users.apply();
      const big = path.join(root, 'users', 'nlbftpshare', 'files', 'big.bin');
      fs.writeFileSync(big, Buffer.alloc(SIZE, 7));
      server = createLocalServer(kind, {
        ftpRoot: root,
        slot: 0,
        listenAddress: addr,
        pasvAddress: addr,
        pasvMinPort: 41000,
        pasvMaxPort: 41001,
        maxClients: 50,
        maxPerIp: 50,
        allowFile: users.allowFile,
      });
      await server.start();
      // Each download reads at 4 MB/s, so all four hold a data connection for ~8 s at the same time;
      // 32 MB is far more than loopback's socket buffers, so the server cannot finish early.
      const downloads = Array.from({ length: 4 }, () =>
        run(
          'curl',
          [
            '-sS',
            '-v',
            '--max-time',
            '40',
            '--limit-rate',
            '4M',
            '-u',
            `nlbftpshare:${PASS}`,
            `ftp://${addr}/big.bin`,
            '-o',
            '/dev/null',
            '-w',
            '%{size_download}',
          ],
          { timeoutMs: 45_000 },
        ),
      );
      await new Promise((r) => setTimeout(r, 1500));
      const listing = await run('curl', ['-sS', '--max-time', '10', '-u', `nlbftpshare:${PASS}`, `ftp://${addr}/`]);
      const done = await Promise.all(downloads);
      const complete = done.filter((d) => d.code === 0 && d.stdout === String(SIZE)).length;
      if (kind === 'proftpd') {
        expect(
          complete,
          done
            .map(
              (d) =>
                `${d.code} ${d.stdout} ${d.stderr
                  .split('\n')
                  .filter((l) => /^[<*] /.test(l))
                  .slice(-4)
                  .join(' | ')}`,
            )
            .join('\n'),
        ).toBe(4);
        expect(listing.code, listing.stderr).toBe(0);
      } else {
        // One transfer per port: at most 2 of the 5 data connections can be open at once.
        expect(complete + (listing.code === 0 ? 1 : 0)).toBeLessThanOrEqual(3);
      }
    } finally {
      await server?.dispose();
      users.dispose();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
