/**
 * The backends' nlb-ftp-sync script (lib/backend/scripts), run for real with bash: its secrets come
 * from the sandbox's AWS endpoint (SigV4 checked, IAM enforced) with credentials from its IMDSv2
 * stand-in, both on loopback, as curl fetches them on the instance; `systemctl` is a stub on PATH,
 * and only the settings' file paths point into a temp directory. Proves that the certificate and
 * key land with the right modes, that vsftpd restarts only when the certificate changed, that a
 * bad certificate secret leaves the running files alone, and that a denied read applies nothing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../harness/ftp-clients';
import { requireTools } from '../../harness/prerequisites';
import { APPLY_USERS_SCRIPT, renderBootSettings, SCRIPTS_DIR, SYNC_SCRIPT } from '../../lib/backend/user-data';
import { AUDIT_FIELDS, AUDIT_FILTERS, type AuditEvent } from '../../lib/shared/audit';
import { createSelfSignedCertificate } from '../../lib/shared/self-signed-certificate';
import { LocalAwsEndpoint } from '../../sandbox/aws/endpoint';
import { IamEnforcer } from '../../sandbox/aws/iam';
import { AwsModel } from '../../sandbox/aws/model';
import { LocalImds } from '../../sandbox/boot/imds';
import { filterMatches } from '../helpers/filter-pattern';

const USERS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:users-AbCdEf';
const HEALTH_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:health-AbCdEf';
const CERT_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cert-AbCdEf';
const PASSWORD = 'Sync-Test-Password-31';
const A = createSelfSignedCertificate({ commonName: 'a.example.com', names: [] });
const B = createSelfSignedCertificate({ commonName: 'b.example.com', names: [] });

describe('nlb-ftp-sync (the script every backend runs at boot and every 5 minutes)', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  const model = new AwsModel();
  // The backends' role may read the three secrets, as the template's policy allows.
  const iam = new IamEnforcer({ region: 'eu-west-1', accountId: '123456789012' }, new Map());
  iam.setPolicies('BackendsRole', [
    {
      name: 'BackendsRoleDefaultPolicy',
      document: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [USERS_ARN, HEALTH_ARN, CERT_ARN] }],
      },
    },
  ]);
  const endpoint = new LocalAwsEndpoint(model, iam);
  const imds = new LocalImds();
  let endpointUrl = '';
  let imdsUrl = '';

  beforeAll(async () => {
    requireTools(['openssl', 'python3', 'curl'], { root: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-sync-'));
    fs.mkdirSync(file('bin'));
    endpointUrl = await endpoint.start('127.0.0.1');
    imdsUrl = `http://127.0.0.1:${await imds.start('127.0.0.1')}`;
    imds.set('127.0.0.1', {
      instanceId: 'i-0sync',
      region: 'eu-west-1',
      availabilityZone: 'eu-west-1a',
      privateIp: '127.0.0.1',
      roleName: 'nlbftp-backends',
      credentials: endpoint.credentials.issue('BackendsRole', true),
    });
    fs.writeFileSync(file('bin/systemctl'), `#!/bin/bash\necho "$*" >>"${file('systemctl.log')}"\n`, { mode: 0o755 });
    fs.writeFileSync(file('apply-users'), `#!/bin/bash\ncat >"${file('users.in')}"\n`, { mode: 0o755 });
    model.secrets.set(USERS_ARN, JSON.stringify({ alice: PASSWORD }));
    model.secrets.set(HEALTH_ARN, JSON.stringify({ username: 'nlbftp-health', password: 'h-pass' }));
    const { env } = renderBootSettings(
      {
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
      },
      'vsftpd',
    );
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

  afterAll(async () => {
    await endpoint.stop();
    await imds.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** One sync with `secret` as the certificate secret (asynchronously: the endpoint and IMDS answer from this process). */
  async function sync(secret: string) {
    model.secrets.set(CERT_ARN, secret);
    fs.rmSync(file('systemctl.log'), { force: true });
    const r = await run('bash', [SYNC_SCRIPT], {
      env: {
        ...process.env,
        PATH: `${file('bin')}:${process.env.PATH}`,
        NLBFTP_SETTINGS_ENV: file('settings.env'),
        NLBFTP_LIB: SCRIPTS_DIR,
        APPLY_USERS: file('apply-users'),
        AWS_ENDPOINT_URL: endpointUrl,
        AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl,
      },
    });
    const restarts = fs.existsSync(file('systemctl.log')) ? fs.readFileSync(file('systemctl.log'), 'utf8').trim().split('\n') : [];
    return { code: r.code, out: `${r.stdout}${r.stderr}`, restarts };
  }
  const installed = () => fs.readFileSync(file('nlb-ftp.crt'), 'utf8');
  const mode = (name: string) => fs.statSync(file(name)).mode & 0o777;

  it('first run: applies users, installs the certificate (0644) and key (0600), restarts vsftpd if running', async () => {
    const r = await sync(JSON.stringify(A));
    expect(r.code, r.out).toBe(0);
    expect(fs.readFileSync(file('users.in'), 'utf8')).toBe(`alice\tplain\t${PASSWORD}\nnlbftp-health\tplain\th-pass\n`);
    expect(installed()).toBe(A.certificate);
    expect(fs.readFileSync(file('nlb-ftp.key'), 'utf8')).toBe(A.privateKey);
    expect(mode('nlb-ftp.key')).toBe(0o600);
    expect(mode('nlb-ftp.crt')).toBe(0o644);
    expect(r.restarts).toEqual(['try-restart vsftpd.service']);
    expect(r.out).toMatch(/FTPS certificate installed: .*Fingerprint=/);
  });

  it('unchanged certificate: nothing written, no restart', async () => {
    const before = fs.statSync(file('nlb-ftp.key')).mtimeMs;
    const r = await sync(JSON.stringify(A));
    expect(r.code, r.out).toBe(0);
    expect(r.restarts).toEqual([]);
    expect(fs.statSync(file('nlb-ftp.key')).mtimeMs).toBe(before);
  });

  it('a key that does not belong to the certificate is refused; the files in use stay', async () => {
    const r = await sync(JSON.stringify({ certificate: B.certificate, privateKey: A.privateKey }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('do not belong together; keeping the current files');
    expect(installed()).toBe(A.certificate);
    expect(r.restarts).toEqual([]);
  });

  it('a secret without PEM is refused; the files in use stay', async () => {
    const r = await sync(JSON.stringify({ certificate: 'not a certificate', privateKey: 'not a key' }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('does not hold a PEM certificate and unencrypted key');
    expect(installed()).toBe(A.certificate);
  });

  it('a new certificate is installed and vsftpd restarted once; no secret is ever printed', async () => {
    const r = await sync(JSON.stringify(B));
    expect(r.code, r.out).toBe(0);
    expect(installed()).toBe(B.certificate);
    expect(r.restarts).toEqual(['try-restart vsftpd.service']);
    expect(r.out).not.toContain('PRIVATE KEY');
    expect(r.out).not.toContain(PASSWORD);
  });

  it('skips reserved names in the users secret with an error, and still applies the others and the health account', async () => {
    const before = model.secrets.get(USERS_ARN) as string;
    try {
      model.secrets.set(
        USERS_ARN,
        JSON.stringify({
          root: 'x1',
          'ec2-user': 'x2',
          'nlbftp-health': 'x3',
          'systemd-network': 'x4',
          bob: PASSWORD,
          carol: 'with:colons:x5',
          dave: 'tab\tx6',
          erin: 7,
          // SFTP public keys beside a password, or alone; their comments are dropped.
          frank: { password: PASSWORD, publicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA partner job, nightly'] },
          gina: { publicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB', 'ssh-rsa AAAAB3NzaC1yc2E'] },
          hank: { publicKeys: 'ssh-ed25519 AAAA' },
          ivan: { password: 'x7', passwordHash: 'x8' },
          judy: { passwd: 'x9' },
        }),
      );
      const r = await sync(JSON.stringify(B));
      expect(r.code, r.out).toBe(0);
      // A password may hold ':' (chpasswd splits at the first); a tab, a line break or a non-string is refused by name.
      expect(fs.readFileSync(file('users.in'), 'utf8')).toBe(
        `bob\tplain\t${PASSWORD}\ncarol\tplain\twith:colons:x5\n` +
          `frank\tplain\t${PASSWORD}\tssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n` +
          'gina\tnone\t\tssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB,ssh-rsa AAAAB3NzaC1yc2E\n' +
          'nlbftp-health\tplain\th-pass\n',
      );
      for (const name of ['dave', 'erin', 'ivan', 'judy']) {
        expect(r.out).toContain(`ERROR: skipping ${name}: its entry is not a password (text without tabs and line breaks)`);
      }
      expect(r.out).toContain('ERROR: skipping hank: its publicKeys is not a list of OpenSSH public key lines');
      for (const name of ['root', 'ec2-user', 'nlbftp-health', 'systemd-network']) {
        expect(r.out).toContain(`ERROR: skipping ${name}: the name is reserved`);
      }
      expect(r.out).not.toMatch(/x[1-9]/);
    } finally {
      model.secrets.set(USERS_ARN, before);
    }
  });

  it("reads every secret signed as the instance role (no AWS CLI), and a denied read applies nothing and names AWS's error", async () => {
    const calls = endpoint.calls.filter((c) => c.service === 'secretsmanager');
    expect(calls.length).toBeGreaterThan(0);
    expect(new Set(calls.map((c) => c.principal))).toEqual(new Set(['BackendsRole']));
    const policies = [...iam.policiesOf('BackendsRole')];
    fs.rmSync(file('users.in'), { force: true });
    iam.setPolicies('BackendsRole', []);
    try {
      const r = await sync(JSON.stringify(B));
      expect(r.code).not.toBe(0);
      expect(r.out).toContain(`GetSecretValue of ${USERS_ARN} failed:`);
      expect(r.out).toContain('AccessDeniedException');
      expect(fs.existsSync(file('users.in'))).toBe(false);
      expect(r.restarts).toEqual([]);
    } finally {
      iam.setPolicies('BackendsRole', policies);
    }
  });
});

describe('nlb-ftp-apply-users (the script that makes FTP accounts)', () => {
  const OTHER = 'nlbt-existing';
  let dir: string;
  /** Run the script as the sync does, its record of what it applied in the test's directory. */
  const apply = (input: string, allow = path.join(dir, 'allow'), state = path.join(dir, 'state')) =>
    spawnSync('python3', [APPLY_USERS_SCRIPT], {
      input,
      encoding: 'utf8',
      env: {
        ...process.env,
        FTP_ROOT: path.join(dir, 'root'),
        ALLOW_FILE: allow,
        NLBFTP_STATE_DIR: state,
        NLBFTP_KEYS_DIR: path.join(dir, 'keys'),
      },
    });
  const shadowOf = (name: string) =>
    fs
      .readFileSync('/etc/shadow', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${name}:`))
      ?.split(':')[1];
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
    for (const u of ['nlbt-newuser', 'nlbt-hashed', 'nlbt-second']) {
      spawnSync('userdel', [u]);
      spawnSync('groupdel', [u]);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('never gives an existing account it did not create (root, or any other) a password or FTP access', () => {
    const allow = path.join(dir, 'allow');
    const shadowBefore = fs
      .readFileSync('/etc/shadow', 'utf8')
      .split('\n')
      .filter((l) => /^(root|nlbt-existing):/.test(l));
    const r = apply(`root\tEvil-Pass-1\n${OTHER}\tEvil-Pass-2\nnlbt-newuser\tGood-Pass-3\n`, allow);
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
      const r = apply(`${group}\tPass-Group-1\nnlbt-newuser\tGood-Pass-3\n`, allow);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain(`ERROR: skipping ${group}: a group of that name already exists (GID 1235)`);
      expect(fs.readFileSync(allow, 'utf8')).toBe('nlbt-newuser\n');
      expect(spawnSync('id', ['-u', group]).status).not.toBe(0);
    } finally {
      spawnSync('groupdel', [group]);
    }
  });

  it('gives each name the UID the boot has always given it (POSIX cksum), so owners on the shared storage stay the same', () => {
    for (const name of ['alice', 'bob', 'nlbftp-health', 'a', 'x_y-z', 'partner-0123456789abcdef0123456']) {
      const py = spawnSync('python3', [APPLY_USERS_SCRIPT, '--uid-of', name], { encoding: 'utf8' }).stdout.trim();
      const sum = Number(spawnSync('bash', ['-c', 'printf %s "$1" | cksum', 'x', name], { encoding: 'utf8' }).stdout.split(' ')[0]);
      expect(Number(py), name).toBe(20000 + (sum % 40000));
    }
  });

  it('two names with the same cksum both get in, with the same UIDs on every backend: the first read keeps its UID, the next takes the next free one; a directory made before claims keeps its UID', () => {
    // cksum gives nlbt-c76 and nlbt-c404 the same UID (58567), nlbt-d5728 the next one (58568) and
    // nlbt-e75391 58570, which a user's directory from before claims (nlbt-gone) holds.
    const uidOf = (name: string) =>
      Number(spawnSync('python3', [APPLY_USERS_SCRIPT, '--uid-of', name], { encoding: 'utf8' }).stdout.trim());
    expect([uidOf('nlbt-c76'), uidOf('nlbt-c404'), uidOf('nlbt-d5728'), uidOf('nlbt-e75391')]).toEqual([58567, 58567, 58568, 58570]);
    const root = path.join(dir, 'root');
    const gone = path.join(root, 'users', 'nlbt-gone', 'files');
    fs.mkdirSync(gone, { recursive: true });
    fs.chownSync(gone, 58570, 58570);
    const names = ['nlbt-c76', 'nlbt-c404', 'nlbt-d5728', 'nlbt-e75391'];
    const input = (order: readonly string[]) => order.map((n) => `${n}\tCollide-Pass-7\n`).join('');
    // Its own allow-list and record of what was applied: the tests after it read the shared ones.
    const run = (order: readonly string[]) => apply(input(order), path.join(dir, 'allow-collide'), path.join(dir, 'state-collide'));
    const idOf = (name: string) => spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim();
    const forget = () => {
      for (const u of names) {
        spawnSync('userdel', [u]);
        spawnSync('groupdel', [u]);
      }
    };
    const expected = ['58567', '58568', '58569', '58571'];
    try {
      let r = run(names);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('4 FTP user(s) applied: 4 new');
      expect(names.map(idOf)).toEqual(expected);
      for (const [i, n] of names.entries()) expect(String(fs.statSync(path.join(root, 'users', n, 'files')).uid), n).toBe(expected[i]);
      expect(fs.readlinkSync(path.join(root, 'users', '.uids', '58570'))).toBe('nlbt-gone');
      // Another backend: its own accounts (none of these yet), the same shared storage, the names in
      // another order. It reads what the first one recorded and gives every name the same UID.
      forget();
      r = run([...names].reverse());
      expect(r.status, r.stderr).toBe(0);
      expect(names.map(idOf)).toEqual(expected);
      // A third, before any user's files/ exists (the first backend has claimed, not yet made them):
      // the claims alone give the same answer.
      forget();
      for (const n of names) fs.rmSync(path.join(root, 'users', n), { recursive: true });
      r = run([...names].reverse());
      expect(r.status, r.stderr).toBe(0);
      expect(names.map(idOf)).toEqual(expected);
      expect(r.stderr).not.toContain('skipping');
    } finally {
      forget();
    }
  });

  it('applies only what changed: a second run sets no password, a changed one is hashed again (yescrypt), a hash is stored as given', () => {
    const hash = spawnSync('openssl', ['passwd', '-6', '-salt', 'nlbftpsalt', 'Hashed-Pass-5'], { encoding: 'utf8' }).stdout.trim();
    let r = apply(`nlbt-newuser\tplain\tGood-Pass-3\nnlbt-hashed\thash\t${hash}\nnlbt-second\tSecond-Pass-4\n`);
    expect(r.status, r.stderr).toBe(0);
    // nlbt-newuser is as the tests above applied it.
    expect(r.stdout).toContain('3 FTP user(s) applied: 2 new, 2 password(s) set, 1 unchanged, 0 with SFTP public keys; 0 skipped');
    expect(shadowOf('nlbt-hashed')).toBe(hash);
    expect(shadowOf('nlbt-second')).toMatch(/^\$y\$j7T\$/);
    const before = ['nlbt-newuser', 'nlbt-hashed', 'nlbt-second'].map(shadowOf);
    // The same input again: nothing hashed, nothing written to the account files.
    const mtime = fs.statSync('/etc/shadow').mtimeMs;
    r = apply(`nlbt-newuser\tplain\tGood-Pass-3\nnlbt-hashed\thash\t${hash}\nnlbt-second\tSecond-Pass-4\n`);
    expect(r.stdout).toContain('3 FTP user(s) applied: 0 new, 0 password(s) set, 3 unchanged, 0 with SFTP public keys; 0 skipped');
    expect(['nlbt-newuser', 'nlbt-hashed', 'nlbt-second'].map(shadowOf)).toEqual(before);
    expect(fs.statSync('/etc/shadow').mtimeMs).toBe(mtime);
    // One password changes: only that one is hashed again.
    r = apply(`nlbt-newuser\tplain\tGood-Pass-3\nnlbt-hashed\thash\t${hash}\nnlbt-second\tSecond-Pass-NEW\n`);
    expect(r.stdout).toContain('3 FTP user(s) applied: 0 new, 1 password(s) set, 2 unchanged, 0 with SFTP public keys; 0 skipped');
    expect(shadowOf('nlbt-second')).not.toBe(before[2]);
    // The hashes verify as PAM verifies them (libxcrypt).
    const verify = (user: string, pw: string) =>
      spawnSync('python3', [
        '-W',
        'ignore',
        '-c',
        'import crypt,sys; sys.exit(0 if crypt.crypt(sys.argv[1], sys.argv[2]) == sys.argv[2] else 1)',
        pw,
        shadowOf(user) ?? '',
      ]).status;
    expect(verify('nlbt-second', 'Second-Pass-NEW')).toBe(0);
    expect(verify('nlbt-hashed', 'Hashed-Pass-5')).toBe(0);
    expect(verify('nlbt-newuser', 'Good-Pass-3')).toBe(0);
    // The account files are still well-formed for shadow-utils' own checkers.
    expect(spawnSync('pwck', ['-r', '-q']).status).not.toBe(2);
    expect(spawnSync('grpck', ['-r']).status).not.toBe(2);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/Pass-|\$6\$/);
  });

  it('writes the sync to the audit trail on a backend: each skipped user with its reason, and how many were applied', () => {
    const auditEnv = path.join(dir, 'audit.env');
    const auditLog = path.join(dir, 'audit.log');
    fs.writeFileSync(auditEnv, 'SERVER=vsftpd\nSTACK=NlbFtp\nSLOT=1\nINSTANCE=i-0audit\n');
    const r = spawnSync('python3', [APPLY_USERS_SCRIPT], {
      input: `root\tEvil-Pass-1\nnlbt-newuser\tGood-Pass-3\nnlbt-second\t\n`,
      encoding: 'utf8',
      env: {
        ...process.env,
        FTP_ROOT: path.join(dir, 'root'),
        ALLOW_FILE: path.join(dir, 'allow'),
        NLBFTP_STATE_DIR: path.join(dir, 'state'),
        NLBFTP_AUDIT_ENV: auditEnv,
        NLBFTP_AUDIT_LOG: auditLog,
        NLBFTP_KEYS_DIR: path.join(dir, 'keys'),
      },
    });
    expect(r.status, r.stderr).toBe(0);
    const events = fs
      .readFileSync(auditLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    // The same schema as every audit event, so the stack's metric filter and status read them.
    for (const e of events) expect(Object.keys(e)).toEqual(AUDIT_FIELDS.map(([k]) => k));
    expect(events.map((e) => [e.event, e.user, e.result, e.reason, e.count])).toEqual([
      ['user-skipped', 'root', 'fail', 'an account of that name already exists (UID 0) that nlb-ftp did not create', null],
      ['user-skipped', 'nlbt-second', 'fail', 'its password is empty', null],
      ['users-synced', null, 'ok', null, 1],
    ]);
    expect(new Set(events.map((e) => e.time)).size).toBe(1);
    expect(events[0]).toMatchObject({ stack: 'NlbFtp', slot: 1, instance: 'i-0audit', server: 'vsftpd', clientIp: null });
    expect(filterMatches(AUDIT_FILTERS.skippedUsers.pattern, events[0] as unknown as Record<string, unknown>)).toBe(true);
    expect(filterMatches(AUDIT_FILTERS.skippedUsers.pattern, events[2] as unknown as Record<string, unknown>)).toBe(false);
    expect(fs.readFileSync(auditLog, 'utf8')).not.toMatch(/Evil-Pass|Good-Pass/);
  });

  it("writes each user's SFTP public keys as the RFC 4716 file mod_sftp reads, refuses a bad key by its index, locks a keys-only user's password, and removes the file of a user who has no keys any more", () => {
    const keysDir = path.join(dir, 'keys');
    const pub = (type: string, bits: string) => {
      const f = path.join(dir, `user-${type}-${bits}`);
      fs.rmSync(f, { force: true });
      fs.rmSync(`${f}.pub`, { force: true });
      expect(spawnSync('ssh-keygen', ['-q', '-t', type, '-b', bits, '-N', '', '-C', 'partner job', '-f', f]).status).toBe(0);
      // As the users secret carries it: the .pub line, comment included (the sync drops it).
      return fs.readFileSync(`${f}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
    };
    const ed = pub('ed25519', '256');
    const rsa = pub('rsa', '3072');
    const weak = pub('rsa', '1024');
    let r = apply(`nlbt-newuser\tplain\tGood-Pass-3\t${ed}\nnlbt-second\tnone\t\t${ed},${rsa}\nnlbt-hashed\tplain\tX-Pass-9\t${weak}\n`);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('ERROR: skipping nlbt-hashed: publicKeys[0]: an RSA key of 1024 bits; use 2048 or more');
    expect(r.stdout).toContain('2 with SFTP public keys; 1 skipped');
    expect(fs.readFileSync(path.join(dir, 'allow'), 'utf8')).toBe('nlbt-newuser\nnlbt-second\n');
    // Two RFC 4716 blocks, each the key's own bytes (ssh-keygen -i reads the first back).
    const second = fs.readFileSync(path.join(keysDir, 'nlbt-second'), 'utf8');
    expect(second.match(/---- BEGIN SSH2 PUBLIC KEY ----/g)).toHaveLength(2);
    const blocks = second.split('---- END SSH2 PUBLIC KEY ----').slice(0, 2);
    expect(
      blocks.map((b) =>
        b
          .split('\n')
          .filter((l) => /^[A-Za-z0-9+/=]+$/.test(l))
          .join(''),
      ),
    ).toEqual([ed.split(' ')[1], rsa.split(' ')[1]]);
    const back = spawnSync('ssh-keygen', ['-i', '-f', path.join(keysDir, 'nlbt-newuser')], { encoding: 'utf8' });
    expect(back.stdout.trim()).toBe(ed);
    expect((fs.statSync(path.join(keysDir, 'nlbt-second')).mode & 0o777).toString(8)).toBe('644');
    // Keys only: the password is locked, so FTP (passwords) never lets the account in.
    expect(shadowOf('nlbt-second')).toBe('!');
    // A bad key is named, and ends in no file.
    expect(fs.existsSync(path.join(keysDir, 'nlbt-hashed'))).toBe(false);
    for (const [line, why] of [
      ['ssh-dss AAAAB3NzaC1kc3M=', 'type ssh-dss is not one of'],
      ['ssh-ed25519 not!base64', 'its key is not base64'],
      [`ssh-ed25519 ${rsa.split(' ')[1]}`, 'its key is not a ssh-ed25519 key'],
      ['justonefield', 'not an OpenSSH public key line'],
    ]) {
      r = apply(`nlbt-newuser\tplain\tGood-Pass-3\t${ed},${line}\n`);
      expect(r.stderr, line).toContain(`ERROR: skipping nlbt-newuser: publicKeys[1]: ${why}`);
    }
    // The user keeps a password and loses its keys: its file goes; the keys-only one without keys is skipped.
    r = apply('nlbt-newuser\tplain\tGood-Pass-3\nnlbt-second\tnone\t\n');
    expect(r.stderr).toContain('skipping nlbt-second: it has neither a password nor public keys');
    expect(fs.readdirSync(keysDir)).toEqual([]);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/Pass-/);
  });

  it('refuses, by name, a hash that is not a crypt(3) hash, and keeps the rest', () => {
    const r = apply('nlbt-newuser\tplain\tGood-Pass-3\nnlbt-second\thash\tmd5:0123456789abcdef\n');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('ERROR: skipping nlbt-second: its password hash is not a crypt(3) hash');
    expect(fs.readFileSync(path.join(dir, 'allow'), 'utf8')).toBe('nlbt-newuser\n');
  });
});
