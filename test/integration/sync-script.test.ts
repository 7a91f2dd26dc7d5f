/**
 * The backends' nlb-ftp-sync script, run for real with bash: `aws` and `systemctl` are stubs on
 * PATH, and only its file paths are moved into a temp directory. Proves that the certificate and
 * key land with the right modes, that vsftpd restarts only when the certificate changed, and that
 * a bad certificate secret leaves the running files alone.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { renderSyncScript } from '../../lib/backend/user-data';
import { createSelfSignedCertificate } from '../../lib/shared/self-signed-certificate';

const USERS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:users-AbCdEf';
const HEALTH_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:health-AbCdEf';
const CERT_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cert-AbCdEf';
const PASSWORD = 'Sync-Test-Password-31';
const A = createSelfSignedCertificate({ commonName: 'a.example.com', names: [] });
const B = createSelfSignedCertificate({ commonName: 'b.example.com', names: [] });

describe('nlb-ftp-sync (the script every backend runs at boot and every 5 minutes)', () => {
  let dir: string;
  let script: string;
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
    const rendered = renderSyncScript({
      vsftpd: {
        slot: 0,
        pasvAddress: '198.18.0.2',
        pasvMinPort: 40000,
        pasvMaxPort: 40007,
        maxClients: 10,
        maxPerIp: 5,
        ftps: { mode: 'required', requireSslReuse: true },
      },
      region: 'eu-west-1',
      fileSystemId: 'fs-1',
      usersSecretArn: USERS_ARN,
      healthSecretArn: HEALTH_ARN,
      certificateSecretArn: CERT_ARN,
      keepaliveSeconds: 60,
    });
    script = rendered
      .replaceAll('/etc/vsftpd/nlb-ftp.crt', file('nlb-ftp.crt'))
      .replaceAll('/etc/vsftpd/nlb-ftp.key', file('nlb-ftp.key'))
      .replaceAll('/usr/local/sbin/nlb-ftp-apply-users', file('apply-users'));
    // Only paths moved: the logic is what the boot script installs.
    expect(script.replaceAll(dir, '').length).toBeLessThan(rendered.length);
    fs.writeFileSync(file('sync.sh'), script, { mode: 0o700 });
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function sync(secret: string) {
    fs.writeFileSync(file(`secrets/${path.basename(CERT_ARN)}`), secret);
    fs.rmSync(file('systemctl.log'), { force: true });
    const r = spawnSync('bash', [file('sync.sh')], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${file('bin')}:${process.env.PATH}` },
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
});
