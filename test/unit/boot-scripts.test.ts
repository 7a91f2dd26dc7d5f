/**
 * The boot's two copies of its AWS helpers: bootstrap.sh (the user data) defines imds and
 * signed_curl inline, because it runs before the boot scripts are on the instance; aws-curl.sh,
 * which boot.sh and the users sync source, defines the same two. They must not drift apart.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP_SCRIPT, REFUSALS, RESERVED_USERS_FILE, reservedUsersText, SCRIPTS_DIR } from '../../lib/backend/user-data';

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

describe("ProFTPD's 421 responders", () => {
  it('listen on the ports the namespace script redirects to (REFUSALS), serve the files the boot writes, and start with ProFTPD', () => {
    const proftpd = fs.readFileSync(path.join(SCRIPTS_DIR, 'server-proftpd.sh'), 'utf8');
    for (const [kind, r] of [
      ['per-address', REFUSALS.perAddress],
      ['full', REFUSALS.full],
    ] as const) {
      const unit = fs.readFileSync(path.join(SCRIPTS_DIR, 'units', r.unit), 'utf8');
      expect(unit).toContain(`ExecStart=/usr/bin/socat -U TCP-LISTEN:${r.port},reuseaddr,fork OPEN:/etc/nlb-ftp/refuse-${kind}.txt`);
      expect(unit).toContain('Before=proftpd.service');
      expect(proftpd).toContain(`>/etc/nlb-ftp/refuse-${kind}.txt`);
      expect(proftpd).toMatch(new RegExp(`server_units\\(\\) \\{ echo [^}]*${r.unit}`));
    }
    const ns = fs.readFileSync(path.join(SCRIPTS_DIR, 'ftp-namespace.sh'), 'utf8');
    expect(ns).toContain('--connlimit-above "$MAX_PER_ADDRESS" --connlimit-mask 32 -j REDIRECT --to-ports "$REFUSE_PER_ADDRESS_PORT"');
    expect(ns).toContain('--connlimit-above "$MAX_SESSIONS" --connlimit-mask 0 -j REDIRECT --to-ports "$REFUSE_FULL_PORT"');
  });
});

describe('the reserved user names the users sync never applies', () => {
  it('ship with the scripts as reserved-users.json, equal to lib/shared/users.ts (npm run docs:config)', () => {
    expect(fs.readFileSync(RESERVED_USERS_FILE, 'utf8'), 'stale: run npm run docs:config').toBe(reservedUsersText());
    expect(JSON.parse(reservedUsersText()).names).toContain('root');
  });
});
