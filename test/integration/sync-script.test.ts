/**
 * The backends' nlb-ftp-sync script (lib/backend/scripts), run for real with bash: `aws` and
 * `systemctl` are stubs on PATH, and only the settings' file paths point into a temp directory. Proves that the certificate and
 * key land with the right modes, that vsftpd restarts only when the certificate changed, and that
 * a bad certificate secret leaves the running files alone.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { APPLY_USERS_SCRIPT, renderBootSettings, SCRIPTS_DIR, SYNC_SCRIPT } from '../../lib/backend/user-data';
import { createSelfSignedCertificate } from '../../lib/shared/self-signed-certificate';

const USERS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:users-AbCdEf';
const HEALTH_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:health-AbCdEf';
const CERT_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cert-AbCdEf';
const PASSWORD = 'Sync-Test-Password-31';
const A = createSelfSignedCertificate({ commonName: 'a.example.com', names: [] });
const B = createSelfSignedCertificate({ commonName: 'b.example.com', names: [] });

describe('nlb-ftp-sync (the script every backend runs at boot and every 5 minutes)', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);

  beforeAll(() => {
    requireTools(['openssl', 'python3'], { root: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-sync-'));
    fs.mkdirSync(file('bin'));
    fs.mkdirSync(file('secrets'));
    // aws secretsmanager get-secret-value ... --secret-id ARN ...: print that secret's string.
    fs.writeFileSync(
      file('bin/aws'),
      `#!/bin/bash\nwhile [[ $# -gt 0 ]]; do if [[ $1 == --secret-id ]]; then cat "${file('secrets')}/$(basename "$2")"; exit; fi; shift; done; exit 2\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(file('bin/systemctl'), `#!/bin/bash\necho "$*" >>"${file('systemctl.log')}"\n`, { mode: 0o755 });
    fs.writeFileSync(file('apply-users'), `#!/bin/bash\ncat >"${file('users.in')}"\n`, { mode: 0o755 });
    fs.writeFileSync(file(`secrets/${path.basename(USERS_ARN)}`), JSON.stringify({ alice: PASSWORD }));
    fs.writeFileSync(file(`secrets/${path.basename(HEALTH_ARN)}`), JSON.stringify({ username: 'nlbftp-health', password: 'h-pass' }));
    const { env } = renderBootSettings({
      ftp: {
        slot: 0,
        pasvAddress: '198.18.0.2',
        pasvMinPort: 40000,
        pasvMaxPort: 40007,
        maxClients: 10,
        maxPerIp: 5,
        ftps: { mode: 'required', requireSslReuse: true },
      },
      region: 'eu-west-1',
      urlSuffix: 'amazonaws.com',
      fileSystemId: 'fs-1',
      usersSecretArn: USERS_ARN,
      healthSecretArn: HEALTH_ARN,
      certificateSecretArn: CERT_ARN,
      keepaliveSeconds: 60,
      bundle: { bucket: 'assets-bucket', key: 'scripts.zip' },
    });
    expect(env).toMatchObject({
      CERT_FILE: '/etc/vsftpd/nlb-ftp.crt',
      KEY_FILE: '/etc/vsftpd/nlb-ftp.key',
      CERTIFICATE_SECRET_ARN: CERT_ARN,
    });
    // Only paths moved: the logic is the file the boot installs.
    const settings = { ...env, CERT_FILE: file('nlb-ftp.crt'), KEY_FILE: file('nlb-ftp.key') };
    const quote = (v: string | number) => `'${String(v).replaceAll("'", "'\\''")}'`;
    fs.writeFileSync(
      file('settings.env'),
      Object.entries(settings)
        .map(([k, v]) => `${k}=${quote(v)}\n`)
        .join(''),
    );
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function sync(secret: string) {
    fs.writeFileSync(file(`secrets/${path.basename(CERT_ARN)}`), secret);
    fs.rmSync(file('systemctl.log'), { force: true });
    const r = spawnSync('bash', [SYNC_SCRIPT], {
      encoding: 'utf8',
      env: {
        ...process.env,
        PATH: `${file('bin')}:${process.env.PATH}`,
        NLBFTP_SETTINGS_ENV: file('settings.env'),
        NLBFTP_LIB: SCRIPTS_DIR,
        APPLY_USERS: file('apply-users'),
      },
    });
    const restarts = fs.existsSync(file('systemctl.log')) ? fs.readFileSync(file('systemctl.log'), 'utf8').trim().split('\n') : [];
    return { code: r.status, out: r.stdout + r.stderr, restarts };
  }
  const installed = () => fs.readFileSync(file('nlb-ftp.crt'), 'utf8');
  const mode = (name: string) => fs.statSync(file(name)).mode & 0o777;

  it('first run: applies users, installs the certificate (0644) and key (0600), restarts vsftpd if running', () => {
    const r = sync(JSON.stringify(A));
    expect(r.code, r.out).toBe(0);
    expect(fs.readFileSync(file('users.in'), 'utf8')).toBe(`alice\t${PASSWORD}\nnlbftp-health\th-pass\n`);
    expect(installed()).toBe(A.certificate);
    expect(fs.readFileSync(file('nlb-ftp.key'), 'utf8')).toBe(A.privateKey);
    expect(mode('nlb-ftp.key')).toBe(0o600);
    expect(mode('nlb-ftp.crt')).toBe(0o644);
    expect(r.restarts).toEqual(['try-restart vsftpd.service']);
    expect(r.out).toMatch(/FTPS certificate installed: .*Fingerprint=/);
  });

  it('unchanged certificate: nothing written, no restart', () => {
    const before = fs.statSync(file('nlb-ftp.key')).mtimeMs;
    const r = sync(JSON.stringify(A));
    expect(r.code, r.out).toBe(0);
    expect(r.restarts).toEqual([]);
    expect(fs.statSync(file('nlb-ftp.key')).mtimeMs).toBe(before);
  });

  it('a key that does not belong to the certificate is refused; the files in use stay', () => {
    const r = sync(JSON.stringify({ certificate: B.certificate, privateKey: A.privateKey }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('do not belong together; keeping the current files');
    expect(installed()).toBe(A.certificate);
    expect(r.restarts).toEqual([]);
  });

  it('a secret without PEM is refused; the files in use stay', () => {
    const r = sync(JSON.stringify({ certificate: 'not a certificate', privateKey: 'not a key' }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('does not hold a PEM certificate and unencrypted key');
    expect(installed()).toBe(A.certificate);
  });

  it('a new certificate is installed and vsftpd restarted once; no secret is ever printed', () => {
    const r = sync(JSON.stringify(B));
    expect(r.code, r.out).toBe(0);
    expect(installed()).toBe(B.certificate);
    expect(r.restarts).toEqual(['try-restart vsftpd.service']);
    expect(r.out).not.toContain('PRIVATE KEY');
    expect(r.out).not.toContain(PASSWORD);
  });

  it('skips reserved names in the users secret with an error, and still applies the others and the health account', () => {
    const usersFile = file(`secrets/${path.basename(USERS_ARN)}`);
    const before = fs.readFileSync(usersFile, 'utf8');
    try {
      fs.writeFileSync(
        usersFile,
        JSON.stringify({
          root: 'x1',
          'ec2-user': 'x2',
          'nlbftp-health': 'x3',
          'systemd-network': 'x4',
          bob: PASSWORD,
          carol: 'with:colons:x5',
          dave: 'tab\tx6',
          erin: 7,
        }),
      );
      const r = sync(JSON.stringify(B));
      expect(r.code, r.out).toBe(0);
      // A password may hold ':' (chpasswd splits at the first); a tab, a line break or a non-string is refused by name.
      expect(fs.readFileSync(file('users.in'), 'utf8')).toBe(`bob\t${PASSWORD}\ncarol\twith:colons:x5\nnlbftp-health\th-pass\n`);
      for (const name of ['dave', 'erin']) expect(r.out).toContain(`ERROR: skipping ${name}: its password is not text without tabs`);
      for (const name of ['root', 'ec2-user', 'nlbftp-health', 'systemd-network']) {
        expect(r.out).toContain(`ERROR: skipping ${name}: the name is reserved`);
      }
      expect(r.out).not.toMatch(/x[1-6]/);
    } finally {
      fs.writeFileSync(usersFile, before);
    }
  });
});

describe('nlb-ftp-apply-users (the script that makes FTP accounts)', () => {
  const OTHER = 'nlbt-existing';
  let dir: string;
  beforeAll(() => {
    requireTools(['python3'], { root: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-apply-'));
    // An account that exists before nlb-ftp (as ec2-user or a package's account would), with an arbitrary UID.
    spawnSync('userdel', [OTHER]);
    const made = spawnSync('useradd', ['-M', '-u', '1234', '-s', '/usr/sbin/nologin', OTHER], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
  });
  afterAll(() => {
    spawnSync('userdel', [OTHER]);
    spawnSync('userdel', ['nlbt-newuser']);
    spawnSync('groupdel', ['nlbt-newuser']);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('never gives an existing account it did not create (root, or any other) a password or FTP access', () => {
    const allow = path.join(dir, 'allow');
    const shadowBefore = fs
      .readFileSync('/etc/shadow', 'utf8')
      .split('\n')
      .filter((l) => /^(root|nlbt-existing):/.test(l));
    const r = spawnSync('bash', [APPLY_USERS_SCRIPT], {
      input: `root\tEvil-Pass-1\n${OTHER}\tEvil-Pass-2\nnlbt-newuser\tGood-Pass-3\n`,
      encoding: 'utf8',
      env: { ...process.env, FTP_ROOT: path.join(dir, 'root'), ALLOW_FILE: allow },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('ERROR: skipping root: an account of that name already exists (UID 0)');
    expect(r.stderr).toContain(`ERROR: skipping ${OTHER}: an account of that name already exists (UID 1234)`);
    expect(fs.readFileSync(allow, 'utf8')).toBe('nlbt-newuser\n');
    const shadowAfter = fs
      .readFileSync('/etc/shadow', 'utf8')
      .split('\n')
      .filter((l) => /^(root|nlbt-existing):/.test(l));
    expect(shadowAfter).toEqual(shadowBefore);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/Evil-Pass|Good-Pass/);
  });

  it('skips a name that exists only as a group (groupadd would exit 9 and stop the boot), and applies the rest', () => {
    const group = 'nlbt-grouponly';
    spawnSync('groupdel', [group]);
    const made = spawnSync('groupadd', ['-g', '1235', group], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    try {
      // The allow-list's directory does not exist yet, as /etc/nlb-ftp on a fresh image: the script makes it.
      const allow = path.join(dir, 'fresh', 'etc', 'ftp-users');
      const r = spawnSync('bash', [APPLY_USERS_SCRIPT], {
        input: `${group}\tPass-Group-1\nnlbt-newuser\tGood-Pass-3\n`,
        encoding: 'utf8',
        env: { ...process.env, FTP_ROOT: path.join(dir, 'root'), ALLOW_FILE: allow },
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain(`ERROR: skipping ${group}: a group of that name already exists (GID 1235)`);
      expect(fs.readFileSync(allow, 'utf8')).toBe('nlbt-newuser\n');
      expect(spawnSync('id', ['-u', group]).status).not.toBe(0);
    } finally {
      spawnSync('groupdel', [group]);
    }
  });
});
