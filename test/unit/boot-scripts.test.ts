/**
 * The boot's two copies of its AWS helpers: bootstrap.sh (the user data) defines imds and
 * signed_curl inline, because it runs before the boot scripts are on the instance; aws-curl.sh,
 * which boot.sh and the users sync source, defines the same two. They must not drift apart.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP_SCRIPT, SCRIPTS_DIR } from '../../lib/backend/user-data';

/** A shell function's definition, from `name() {` to its closing `}` at the start of a line. */
function functionText(file: string, name: string): string {
  const text = fs.readFileSync(file, 'utf8');
  const m = new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?\\n\\}$`, 'm').exec(text);
  if (!m) throw new Error(`${path.basename(file)} defines no ${name}()`);
  return m[0];
}

describe('the AWS helpers of the boot', () => {
  it.each(['imds', 'role_config', 'signed_curl'])('%s() is the same in bootstrap.sh and aws-curl.sh', (name) => {
    const inline = functionText(BOOTSTRAP_SCRIPT, name);
    expect(inline.split('\n').length).toBeGreaterThan(3);
    expect(inline).toBe(functionText(path.join(SCRIPTS_DIR, 'aws-curl.sh'), name));
  });

  it('no boot script calls the AWS CLI (it is not installed: every AWS call is curl, signed or public)', () => {
    for (const f of fs.readdirSync(SCRIPTS_DIR).filter((x) => /\.(sh|py)$/.test(x))) {
      const code = fs
        .readFileSync(path.join(SCRIPTS_DIR, f), 'utf8')
        .split('\n')
        .filter((l) => !/^\s*#/.test(l))
        .join('\n');
      expect(code, f).not.toMatch(/(^|[\s|;&($])aws (s3|secretsmanager|autoscaling|ec2|sts|--)/m);
      expect(code, f).not.toMatch(/\["aws",/);
    }
  });
});
