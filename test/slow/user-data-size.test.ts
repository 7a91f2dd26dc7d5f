/**
 * EC2 refuses user data over 16,384 bytes (raw, before base64). The user data is the slot's
 * settings (data) and bootstrap.sh; the boot scripts themselves are an asset. Proved here: bash
 * writes the settings byte for byte, values filled in; and the worst case fits with every value at
 * a length no real one reaches.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchTemplates, synth } from '../../harness/synth';
import { readBootSettings, SETTINGS_FILE, USER_DATA_MAX_BYTES } from '../../lib/backend/user-data';

/**
 * The longest each kind of CloudFormation value can be: a Secrets Manager ARN (a 512-character
 * name) 600; a region, its domain, an Elastic IP, a file system ID and the assets bucket (S3: 63
 * characters) much less.
 */
function longest(value: unknown): string {
  const ref = JSON.stringify(value);
  if (ref.includes('AWS::Region') && !ref.includes('Fn::Sub')) return 'ap-southeast-77';
  if (ref.includes('AWS::URLSuffix')) return 'amazonaws.com.cn';
  if (ref.includes('PublicIp')) return '255.255.255.255';
  if (/"Ref":"SharedStorage/.test(ref) || ref.includes('FileSystem')) return `fs-${'f'.repeat(17)}`;
  if (ref.includes('Fn::Sub')) return 'b'.repeat(63);
  return 'v'.repeat(600);
}

/** The user data's bytes with every CloudFormation value replaced by `fill(value)`. */
function filled(value: unknown, fill: (v: unknown) => string): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v['Fn::Join']) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => filled(p, fill)).join(sep);
  }
  return fill(value);
}

describe('user data', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-userdata-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  // The values are ARNs, IDs, addresses, regions and bucket names: none can hold a quote or a
  // backslash (their character sets exclude them), so each lands in a JSON string as it is.
  it('bash writes the settings byte for byte, with the values in (every character an ARN may hold)', () => {
    const s = synth({ backendCount: 1, ftpUsersSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:a/b+c=d.e@f-AbCdEf' });
    const values = ['a/b+c=d.e@f_g-h:i', '$HOME&`x`'];
    let i = 0;
    const userData = filled(launchTemplates(s)[0][1].UserData, () => values[i++ % values.length]);
    // Only the header: the settings heredoc (the bootstrap after it needs an instance).
    const header = userData.slice(0, userData.indexOf('\nNLBFTP_SETTINGS\n') + '\nNLBFTP_SETTINGS\n'.length);
    const saved = path.join(dir, 'settings.json');
    const runnable = header
      .replace(`cat >${SETTINGS_FILE} `, `cat >${saved} `)
      .replace(`install -d -m 0755 ${path.posix.dirname(SETTINGS_FILE)}\n`, `install -d -m 0755 ${dir}\n`);
    expect(runnable).not.toContain(`>${SETTINGS_FILE}`);
    const r = spawnSync('bash', ['-c', runnable], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const written = JSON.parse(fs.readFileSync(saved, 'utf8'));
    expect(written).toEqual(readBootSettings(userData));
    expect(written.env.USERS_SECRET_ARN).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:a/b+c=d.e@f-AbCdEf');
    expect(JSON.stringify(written)).toContain('a/b+c=d.e@f_g-h:i');
    expect(JSON.stringify(written)).toContain('$HOME&`x`');
  });

  it.each([
    ['vsftpd', { ftpServer: 'vsftpd' as const, backendCount: 23, passivePortsPerBackend: 1 }],
    [
      'ProFTPD with SFTP',
      {
        ftpServer: 'proftpd' as const,
        backendCount: 20,
        passivePortsPerBackend: 2,
        sftpHostKeysSecretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${'k'.repeat(500)}-AbCdEf`,
      },
    ],
  ])('%s: every slot fits in 16 KB with each value at its longest (a Secrets Manager ARN with a 512-character name)', (_n, c) => {
    const s = synth({
      ...c,
      stackName: 'A'.repeat(64),
      ftpsCertificateSecretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${'c'.repeat(500)}-AbCdEf`,
      ftpUsersSecretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${'u'.repeat(500)}-AbCdEf`,
      bans: { neverBanCidrs: Array.from({ length: 20 }, (_, i) => `203.0.${100 + i}.128/25`) },
    });
    const sizes = launchTemplates(s).map(([, p]) => Buffer.byteLength(filled(p.UserData, longest)));
    expect(sizes).toHaveLength(c.backendCount);
    console.log(`${_n}: user data ${Math.max(...sizes)} bytes at most with every value at its longest (EC2 allows ${USER_DATA_MAX_BYTES})`);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(USER_DATA_MAX_BYTES);
  });
});
