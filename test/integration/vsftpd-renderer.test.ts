/**
 * The rendered vsftpd.conf runs on Debian's real vsftpd: it parses, logins work through the
 * project's own PAM service and apply-users script, and passive mode answers inside the slot's
 * own range. Only the listen address and paths are substituted.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offeredDataPort, offeredPasvAddress, run } from '../../harness/ftp-clients';
import { requireTools } from '../../harness/prerequisites';
import { slotFromBanner } from '../../lib/shared/names';

import { slotPorts } from '../../lib/shared/port-plan';
import { LocalUsers, LocalVsftpd } from '../../sandbox/local-vsftpd';

const USER = 'nlbftprend';
const PASS = 'Rend3rer-Test-Pass';
const SLOTS = [0, 1, 4];

describe('rendered vsftpd.conf on Debian vsftpd', () => {
  let root: string;
  let users: LocalUsers;
  let otherRoot: string;
  let outsider: LocalUsers;
  const servers = new Map<number, LocalVsftpd>();

  beforeAll(async () => {
    requireTools(['vsftpd', 'curl']);
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
      const v = new LocalVsftpd({
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
    expect(active.stderr).toMatch(/500 Illegal (PORT|EPRT) command|PORT command failed|EPRT/);
  });

  it('keeps the user inside the jail', async () => {
    const r = await run('curl', ['-sS', '-u', `${USER}:${PASS}`, 'ftp://127.18.0.10/%2F..%2F..%2F..%2Fetc/']);
    expect(r.stdout).not.toMatch(/passwd|shadow/);
    const top = await run('curl', ['-sS', '-l', '-u', `${USER}:${PASS}`, 'ftp://127.18.0.10/%2F']);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout.trim().split(/\r?\n/)).toEqual(['files']);
  });
});
