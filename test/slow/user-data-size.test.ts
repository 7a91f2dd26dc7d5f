/**
 * EC2 refuses user data over 16,384 bytes (raw, before base64). The ProFTPD boot script alone is
 * over that, so the user data is the script packed (gzip + base64) with its deploy-time values set
 * in plain text in front. Proved here: bash runs the packed form and reproduces the script byte for
 * byte, values filled in; and the worst case fits with every value at a length no real one reaches.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchTemplates, synth } from '../../harness/synth';
import { BOOT_SCRIPT_FILE, packBootScript, USER_DATA_MAX_BYTES, unpackBootScript } from '../../lib/backend/user-data';

/** The user data's bytes with every CloudFormation value replaced by `fill(i)`. */
function filled(value: unknown, fill: (i: number) => string, counter = { i: 0 }): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v['Fn::Join']) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => filled(p, fill, counter)).join(sep);
  }
  return fill(counter.i++);
}

describe('packed user data', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-pack-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('bash runs it: the saved boot script is the original byte for byte, with the values in, and it runs', () => {
    const out = path.join(dir, 'ran');
    // Values as CloudFormation fills them in: ARN characters, and & and \ that a naive substitution would mangle.
    const values = ['TOKEN_A', 'TOKEN_B'];
    const script = `#!/bin/bash\n# test boot script\nset -eu\nprintf '%s|%s|%s\\n' 'TOKEN_A' "TOKEN_B" 'TOKEN_A' >'${out}'\ncat <<'X'\n  trailing spaces and $dollars \`ticks\`  \nX\n`;
    const packed = packBootScript(script, values);
    const real = ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:a/b+c=d.e@f-AbCdEf', 'x&y\\z'];
    const userData = packed.replace("v0='TOKEN_A'", `v0='${real[0]}'`).replace("v1='TOKEN_B'", `v1='${real[1]}'`);
    expect(packed).not.toContain('trailing spaces');
    const saved = path.join(dir, 'boot.sh');
    const runnable = userData.replaceAll(BOOT_SCRIPT_FILE, saved).replaceAll(path.posix.dirname(BOOT_SCRIPT_FILE), dir);
    const r = spawnSync('bash', ['-c', runnable], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const expected = script.replaceAll('TOKEN_A', real[0]).replaceAll('TOKEN_B', real[1]);
    expect(fs.readFileSync(saved, 'utf8')).toBe(expected);
    expect(fs.statSync(saved).mode & 0o777).toBe(0o700);
    expect(fs.readFileSync(out, 'utf8')).toBe(`${real[0]}|${real[1]}|${real[0]}\n`);
    expect(r.stdout).toBe('  trailing spaces and $dollars `ticks`  \n');
    // The tests' and the sandbox's reading of it is the same text.
    expect(unpackBootScript(userData)).toBe(expected);
  });

  it.each([
    ['vsftpd', { ftpServer: 'vsftpd' as const, backendCount: 23, passivePortsPerBackend: 1 }],
    ['ProFTPD', { ftpServer: 'proftpd' as const, backendCount: 21, passivePortsPerBackend: 2 }],
  ])('%s: every slot fits in 16 KB with each value 600 bytes long (a Secrets Manager ARN with a 512-character name)', (_n, c) => {
    const s = synth({
      ...c,
      stackName: 'A'.repeat(64),
      ftpsCertificateSecretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${'c'.repeat(500)}-AbCdEf`,
      ftpUsersSecretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${'u'.repeat(500)}-AbCdEf`,
    });
    const sizes = launchTemplates(s).map(([, p]) => Buffer.byteLength(filled(p.UserData, () => 'v'.repeat(600))));
    expect(sizes).toHaveLength(c.backendCount);
    console.log(`${_n}: user data ${Math.max(...sizes)} bytes at most with 600-byte values (EC2 allows ${USER_DATA_MAX_BYTES})`);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(USER_DATA_MAX_BYTES);
    // Unpacked, the ProFTPD script alone is over the limit: without packing it could not launch.
    const script = unpackBootScript(filled(launchTemplates(s)[0][1].UserData, () => 'v'.repeat(600)));
    if (c.ftpServer === 'proftpd') expect(Buffer.byteLength(script)).toBeGreaterThan(USER_DATA_MAX_BYTES);
  });
});
