/**
 * shellcheck (Debian's package) over the user data the stack renders for every slot, with the
 * CloudFormation tokens substituted by realistic values, and over every shell script in the
 * repository (the boot scripts under lib/backend/scripts among them, following what they source);
 * py_compile over every Python file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { launchTemplates, synth } from '../../harness/synth';
import { readBootSettings, SCRIPTS_DIR } from '../../lib/backend/user-data';

const ROOT = path.resolve(__dirname, '../..');

/** Replace each CloudFormation intrinsic with a value of the right shape. */
function substitute(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v['Fn::Base64']) return substitute(v['Fn::Base64']);
  if (v['Fn::Join']) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(substitute).join(sep);
  }
  const ref = JSON.stringify(v);
  if (ref.includes('AWS::Region')) return 'eu-west-1';
  if (ref.includes('PublicIp')) return '203.0.113.10';
  if (ref.includes('FileSystem')) return 'fs-0123456789abcdef0';
  if (ref.includes('Secret')) return 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:nlbftp-AbCdEf';
  if (ref.includes('AWS::URLSuffix')) return 'amazonaws.com';
  if (ref.includes('BanTable')) return 'NlbFtp-BanTable-1A2B3C4D5E6F';
  if (ref.includes('CidrBlock')) return '10.0.0.0/16';
  if (ref.includes('cdk-') && ref.includes('assets')) return 'cdk-hnb659fds-assets-123456789012-eu-west-1';
  throw new Error(`unexpected token in user data: ${ref}`);
}

function shellcheck(file: string): { code: number; out: string } {
  // -x: follow `source` (boot.sh sources its server's part; the bootstrap sources boot.sh).
  const r = spawnSync('shellcheck', ['-x', '--shell=bash', '--severity=style', file], { encoding: 'utf8', cwd: path.dirname(file) });
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

describe('shellcheck', () => {
  let dir: string;
  beforeAll(() => {
    requireTools(['shellcheck'], { root: false });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-shellcheck-'));
    return () => fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['5 slots, FTPS required (default)', { backendCount: 5 }, 5],
    ['FTPS off', { backendCount: 1, ftps: 'off' as const, allowPlaintextFromInternet: true }, 1],
    [
      'FTPS with your certificate',
      { backendCount: 1, ftpsCertificateSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:c-AbCdEf' },
      1,
    ],
    ['ProFTPD, FTPS required', { backendCount: 2, ftpServer: 'proftpd' as const }, 2],
    ['ProFTPD, FTPS off', { backendCount: 1, ftpServer: 'proftpd' as const, ftps: 'off' as const, allowPlaintextFromInternet: true }, 1],
  ])('passes on the user data of every slot: %s', (_name, config, n) => {
    const s = synth(config);
    const instances = launchTemplates(s);
    expect(instances).toHaveLength(n);
    let checked = 0;
    // Slots differ only in numbers (slot, ports): the first and the last stand for all of them.
    const checkedSlots = instances.length > 2 ? [instances[0], instances[instances.length - 1]] : instances;
    for (const [id, p] of checkedSlots) {
      // The user data: the settings header, then bootstrap.sh, which sources boot.sh from SCRIPTS_DIR.
      const userData = substitute(p.UserData);
      expect(readBootSettings(userData).env.SLOT).toBeTypeOf('number');
      // Beside a copy of the scripts (never inside the shipped folder, whose digest other tests read).
      const copy = path.join(dir, `scripts-${id}`);
      fs.cpSync(SCRIPTS_DIR, copy, { recursive: true });
      const file = path.join(copy, 'user-data.sh');
      fs.writeFileSync(file, userData);
      const r = shellcheck(file);
      expect(r.code, `user data of ${id}:\n${r.out}`).toBe(0);
      checked++;
    }
    expect(checked).toBe(checkedSlots.length);
  });

  it('passes on every shell script in the repository', () => {
    const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    const scripts = tracked.filter(
      (f) =>
        f.endsWith('.sh') ||
        fs.readFileSync(path.join(ROOT, f), 'utf8').startsWith('#!/usr/bin/env bash') ||
        fs.readFileSync(path.join(ROOT, f), 'utf8').startsWith('#!/bin/bash'),
    );
    expect(scripts).toContain('.ci/run');
    // The boot: every script of it is a file here, so shellcheck sees it as it runs.
    expect(scripts).toEqual(
      expect.arrayContaining(
        ['bootstrap.sh', 'boot.sh', 'server-vsftpd.sh', 'server-proftpd.sh', 'nlb-ftp-sync.sh'].map((f) => `lib/backend/scripts/${f}`),
      ),
    );
    for (const f of scripts) {
      const r = shellcheck(path.join(ROOT, f));
      expect(r.code, `${f}:\n${r.out}`).toBe(0);
    }
  });

  it('compiles every Python file in the repository (the boot helpers, the audit converter, the sandbox systemctl stand-in)', () => {
    const tracked = execFileSync('git', ['ls-files', '*.py'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(tracked).toEqual(
      expect.arrayContaining([
        'lib/backend/scripts/nlb-ftp-audit.py',
        'lib/backend/scripts/nlb-ftp-readiness.py',
        'lib/backend/scripts/nlb-ftp-secrets.py',
        'lib/backend/scripts/nlb-ftp-settings.py',
        'sandbox/boot/systemctl.py',
      ]),
    );
    // py_compile, with its byte code written outside the repository (the boot scripts' folder is shipped whole).
    const check = (file: string) =>
      spawnSync(
        'python3',
        ['-c', 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)', file, path.join(dir, 'out.pyc')],
        {
          encoding: 'utf8',
        },
      );
    for (const f of tracked) {
      const r = check(path.join(ROOT, f));
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
    }
    const bad = path.join(dir, 'bad.py');
    fs.writeFileSync(bad, 'def broken(:\n    pass\n');
    expect(check(bad).status).not.toBe(0);
  });

  it('fails on a script with a known mistake (the gate can fail)', () => {
    const file = path.join(dir, 'bad.sh');
    fs.writeFileSync(file, '#!/bin/bash\nrm -rf $1/*\n');
    expect(shellcheck(file).code).not.toBe(0);
  });
});
