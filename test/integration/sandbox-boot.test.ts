/**
 * The boot, as EC2 runs it: each backend is a Debian 13 root (debootstrap, cached) that runs its
 * launch template's user data from the synthesized template, byte for byte, with stand-ins only
 * for IMDS, the AWS APIs, EFS, Debian's mirror and systemd (README, "The local sandbox"). A good
 * boot installs the same package versions production gets, reports CONTINUE, and its server
 * serves FTPS through the emulated NLB from that root. The drills break one thing each; every one
 * must report ABANDON and never serve. Step timings are printed for the README.
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../harness/ftp-clients';
import { requireTools } from '../../harness/prerequisites';
import { BOOT_LIB_DIR, BOOTSTRAP_SCRIPT, bootScriptFiles, readBootSettings, SCRIPTS_DIR, SETTINGS_FILE } from '../../lib/backend/user-data';
import type { BootedServer } from '../../sandbox/boot/booted-fleet';
import { BOOT_LOG, USER_DATA_FILE } from '../../sandbox/boot/instance';
import { cachedRoot, missingRoot } from '../../sandbox/boot/root';
import { cleanupSandbox, DRILL_NLB_HEALTH, Sandbox } from '../../sandbox/cluster';
import { expectNoSandboxLeftovers } from '../helpers/sandbox-leftovers';

const sha = (b: Buffer) => require('node:crypto').createHash('sha256').update(b).digest('hex') as string;

function printTimings(label: string, sb: Sandbox): void {
  for (const [slot, boot] of sb.lastBoot) {
    const steps = boot.result.steps;
    const parts = steps.map((s, i) => `${s.step.split(' ')[0]} ${(steps[i + 1]?.at ?? Math.round(boot.result.ms / 1000)) - s.at} s`);
    console.log(`${label} slot ${slot}: boot ${(boot.result.ms / 1000).toFixed(1)} s (${parts.join(', ')})`);
  }
}

describe.each(['vsftpd', 'proftpd'] as const)('a %s backend booted from its user data on Debian 13', (server) => {
  let sb: Sandbox;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-boot-test-'));

  beforeAll(async () => {
    requireTools(['ip', 'iptables', 'nsenter', 'unshare', 'curl', 'dpkg-deb', 'apt-ftparchive']);
    const missing = missingRoot();
    if (missing) throw new Error(missing);
    cleanupSandbox();
    sb = await Sandbox.up({
      context: { ftpServer: server, backendCount: '2', passivePortsPerBackend: '4' },
      checker: false,
      nlbHealth: DRILL_NLB_HEALTH,
    });
    printTimings(server, sb);
  }, 300_000);

  afterAll(async () => {
    await sb?.down();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('runs the user data byte for byte, and every boot reports CONTINUE to its lifecycle hook', () => {
    for (const b of sb.backends) {
      const boot = sb.lastBoot.get(b.slot);
      expect(boot?.result.exitCode, boot?.result.log.slice(-2000)).toBe(0);
      expect(boot?.report).toMatchObject({ result: 'CONTINUE', instanceId: b.instanceId, hook: 'nlbftp-ready' });
      // Every step ran, in order (some have two parts: ProFTPD's namespace, the audit trail).
      expect([...new Set(boot?.result.steps.map((s) => s.step.slice(0, 3)))]).toEqual([
        '0/7',
        '1/7',
        '2/7',
        '3/7',
        '4/7',
        '5/7',
        '6/7',
        '7/7',
      ]);
      // What cloud-init ran is the template's user data: the settings, then bootstrap.sh.
      const userData = boot?.instance.read(USER_DATA_FILE) ?? '';
      expect(userData.startsWith('#!/bin/bash\n')).toBe(true);
      expect(userData).not.toMatch(/\$\{(Ref|Token|AWS::)/);
      const settings = readBootSettings(userData);
      expect(settings.env).toMatchObject({ SLOT: b.slot, SERVER: server });
      // The user data is bootstrap.sh, byte for byte, but for its one settings line.
      expect(userData.replace(JSON.stringify(settings), '{}')).toBe(fs.readFileSync(BOOTSTRAP_SCRIPT, 'utf8'));
      expect(JSON.parse(boot?.instance.read(SETTINGS_FILE) ?? '')).toEqual(settings);
      // The boot ran the repository's scripts, byte for byte, from the asset it fetched and checked.
      const files = bootScriptFiles();
      expect(files.map((f) => f.name)).toEqual(
        expect.arrayContaining(['boot.sh', 'bootstrap.sh', 'nlb-ftp-sync.sh', 'units/nlb-ftp-audit.service']),
      );
      for (const f of files) {
        expect(boot?.instance.read(`${BOOT_LIB_DIR}/${f.name}`), f.name).toBe(fs.readFileSync(path.join(SCRIPTS_DIR, f.name), 'utf8'));
      }
    }
    const imdsPaths = sb.fleet?.imds.served ?? [];
    expect(imdsPaths).toContain('/latest/meta-data/instance-id');
    expect(imdsPaths.some((p) => p.startsWith('/latest/meta-data/iam/security-credentials/'))).toBe(true);
  });

  it("serves from that root: the serving process's /proc/PID/root is the booted Debian 13 root, with production's package versions", () => {
    const root = cachedRoot();
    for (const b of sb.backends) {
      const pid = (b.server as BootedServer).pid;
      expect(pid, `slot ${b.slot} has no ${server} main process`).toBeGreaterThan(0);
      const merged = sb.lastBoot.get(b.slot)?.instance.merged;
      expect(fs.readlinkSync(`/proc/${pid}/root`)).toBe(merged);
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toMatch(server === 'proftpd' ? /proftpd/ : /^\/usr\/sbin\/vsftpd\0/);
      expect(fs.readFileSync(`/proc/${pid}/root/etc/os-release`, 'utf8')).toContain('VERSION_ID="13"');
      const pkg = server === 'proftpd' ? 'proftpd-core' : 'vsftpd';
      const status = fs.readFileSync(`/proc/${pid}/root/var/lib/dpkg/status`, 'utf8');
      const version = new RegExp(`^Package: ${pkg}\\n(?:.+\\n)*?Version: (.+)$`, 'm').exec(status)?.[1];
      expect(version).toBe(root?.packages[pkg]);
      // ProFTPD runs in the network namespace its boot made; vsftpd in the instance's own.
      const sameNet =
        fs.readlinkSync(`/proc/${pid}/ns/net`) === fs.readlinkSync(`/proc/${sb.lastBoot.get(b.slot)?.instance.pids()[0]}/ns/net`);
      expect(sameNet).toBe(server === 'vsftpd');
    }
  });

  it('serves FTPS through the emulated NLB: uploads and downloads intact on every backend', async () => {
    const { user, password } = sb.demo;
    const curl = (...rest: string[]) =>
      run('curl', [
        '-sS',
        '--ssl-reqd',
        '--cacert',
        sb.certificateFile as string,
        '--max-time',
        '30',
        '-u',
        `${user}:${password}`,
        ...rest,
      ]);
    const banners = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const data = randomBytes(200_000 + i);
      const up = path.join(tmp, `up${i}`);
      fs.writeFileSync(up, data);
      const put = await curl('-v', '-T', up, `ftp://${sb.endpoint}/f${i}.bin`);
      expect(put.code, put.stderr.slice(-800)).toBe(0);
      banners.add(/< 220[- ]([^\r\n]*)/.exec(put.stderr)?.[1] ?? '');
      const down = path.join(tmp, `down${i}`);
      const get = await curl(`ftp://${sb.endpoint}/f${i}.bin`, '-o', down);
      expect(get.code, get.stderr).toBe(0);
      expect(sha(fs.readFileSync(down))).toBe(sha(data));
      expect(sha(sb.readDemoFile(`f${i}.bin`))).toBe(sha(data));
    }
    // Both slots answered (the banner names the slot) over 8 sessions spread at random.
    expect([...banners].filter((x) => /slot \d/.test(x)).length).toBeGreaterThanOrEqual(1);
  });

  it("writes no password into the boot's log, its user data or its scripts", () => {
    for (const b of sb.backends) {
      const inst = sb.lastBoot.get(b.slot)?.instance;
      for (const file of [BOOT_LOG, USER_DATA_FILE, SETTINGS_FILE, '/etc/nlb-ftp/settings.env', '/usr/local/sbin/nlb-ftp-sync']) {
        const text = inst?.read(file) ?? '';
        expect(text.length, file).toBeGreaterThan(0);
        expect(text, file).not.toContain(sb.demo.password);
      }
    }
  });

  it('leaves nothing behind: the instances, their namespaces and mounts go with the sandbox', async () => {
    const instances = [...sb.lastBoot.values()].map((x) => x.instance);
    await sb.down();
    for (const i of instances) expect(i.pids()).toEqual([]);
    expectNoSandboxLeftovers();
    expect(execFileSync('bash', ['-c', 'grep -c nlbftp-sbx-root /proc/self/mountinfo || true'], { encoding: 'utf8' }).trim()).toBe('0');
  });
});

describe('boot drills: each fault reports ABANDON and never serves', () => {
  let sb: Sandbox;

  beforeAll(async () => {
    const missing = missingRoot();
    if (missing) throw new Error(missing);
    cleanupSandbox();
    sb = await Sandbox.up({ context: { backendCount: '1' }, checker: false, nlbHealth: DRILL_NLB_HEALTH });
    printTimings('drill baseline vsftpd', sb);
  }, 300_000);

  afterAll(async () => {
    await sb?.down();
  });

  it('the replacement drill: a killed instance is terminated and its replacement boots from the user data, then serves', async () => {
    const before = sb.backend(0).instanceId;
    const r = await sb.killAndReplace(0);
    const boot = sb.lastBoot.get(0);
    console.log(
      `replacement: NLB unhealthy ${((r.unhealthy - r.killed) / 1000).toFixed(1)} s after the kill; ${r.newId} booted in ${((boot?.result.ms ?? 0) / 1000).toFixed(1)} s and registered ${((r.registered - r.killed) / 1000).toFixed(1)} s after the kill`,
    );
    expect(r.oldId).toBe(before);
    expect(r.newId).not.toBe(before);
    expect(boot?.report).toMatchObject({ result: 'CONTINUE', instanceId: r.newId });
    expect(fs.readlinkSync(`/proc/${(sb.backend(0).server as BootedServer).pid}/root`)).toBe(boot?.instance.merged);
    expect(sb.registeredSlots()).toEqual([0]);
    const { user, password } = sb.demo;
    const list = await run('curl', [
      '-sS',
      '--ssl-reqd',
      '--cacert',
      sb.certificateFile as string,
      '--max-time',
      '20',
      '-u',
      `${user}:${password}`,
      `ftp://${sb.endpoint}/`,
    ]);
    expect(list.code, list.stderr).toBe(0);
  }, 240_000);

  it.each([
    ['malformed-users-secret', /5\/7 FTP users/, /FAILED \(exit \d+\): reporting ABANDON/],
    ['missing-certificate-secret', /5\/7 FTP users/, /ResourceNotFoundException/],
    ['failing-package-install', /2\/7 packages/, /apt attempt 3 of 3 failed/],
  ] as const)(
    '%s',
    async (fault, lastStep, because) => {
      const out = await sb.bootDrill(0, fault);
      printTimings(`drill ${fault}`, sb);
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
