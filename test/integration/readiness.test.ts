/**
 * The boot's readiness step, run for real from the boot scripts' own files: its Python login check against a real vsftpd on
 * 127.0.0.1:21 (plain FTP and FTPS required), in a network namespace of its own, with `aws`,
 * `curl` (the report's SigV4 call) and the instance metadata replaced by stubs (nothing leaves the
 * namespace). It must report CONTINUE only after the login passed, and ABANDON (through the exit
 * trap) when it never does; the role's credentials reach curl on stdin, never on its command line.
 * test/integration/sandbox-ftps.test.ts sends the same report, signed, to the sandbox's endpoint.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { BOOTSTRAP_SCRIPT, SCRIPTS_DIR } from '../../lib/backend/user-data';
import type { FtpsSettings } from '../../lib/shared/ftps';
import { createSelfSignedCertificate } from '../../lib/shared/self-signed-certificate';
import { LocalUsers, LocalVsftpd } from '../../sandbox/local-vsftpd';
import { createNamespace, deleteNamespace } from '../../sandbox/netns';

const NS = 'nlbftp-readiness';
const USER = 'nlbftprdy';
const PASS = 'Readiness-Check-S3cret-19';
const GROUP = 'NlbFtp-slot0';
const HOOK = 'nlbftp-ready';

/** The lines between two markers of a real boot script, both included. */
function between(file: string, from: string, to: string): string {
  const text = fs.readFileSync(file, 'utf8');
  const a = text.indexOf(from);
  const b = text.indexOf(to, a);
  expect(a, `${file}: ${from}`).toBeGreaterThanOrEqual(0);
  expect(b, `${file}: ${to}`).toBeGreaterThan(a);
  return text.slice(a, b + to.length);
}

/** bootstrap.sh's functions and exit trap, and boot.sh's readiness step, from the real files. */
function readinessParts(): { prelude: string; step: string } {
  return {
    prelude: between(BOOTSTRAP_SCRIPT, 'log() {', 'trap on_exit EXIT'),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text
    step: between(path.join(SCRIPTS_DIR, 'boot.sh'), 'if [ -n "${READY_GROUP:-}" ]; then', '  report CONTINUE\nfi'),
  };
}

/** The settings the readiness step reads (settings.env on the instance). */
function settingsEnv(ftps: FtpsSettings): Record<string, string> {
  return {
    SLOT: '0',
    REGION: 'eu-west-1',
    URL_SUFFIX: 'amazonaws.com',
    READY_GROUP: GROUP,
    READY_HOOK: HOOK,
    READINESS_HOST: '127.0.0.1',
    HEALTH_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:health-AbCdEf',
    CERTIFICATE_SECRET_ARN: ftps.mode === 'off' ? '' : 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cert-AbCdEf',
    NLBFTP_LIB: SCRIPTS_DIR,
  };
}

describe('boot readiness: a local FTP login, then the lifecycle hook', () => {
  let dir: string;
  let users: LocalUsers;
  let tls: { certFile: string; keyFile: string };

  beforeAll(() => {
    requireTools(['vsftpd', 'python3', 'ip']);
    deleteNamespace(NS);
    createNamespace(NS);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-readiness-'));
    users = new LocalUsers(dir, { [USER]: PASS });
    users.apply();
    const pair = createSelfSignedCertificate({ commonName: 'nlb-ftp-test', names: ['198.18.0.2'] });
    tls = { certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') };
    fs.writeFileSync(tls.certFile, pair.certificate);
    fs.writeFileSync(tls.keyFile, pair.privateKey, { mode: 0o600 });
  });

  afterAll(() => {
    deleteNamespace(NS);
    users?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Run the prelude, a stubbed `imds` and `get_secret` (which answers the health secret with
   * `password`, as GetSecretValue does), and the readiness step in the namespace; `curl` records
   * its arguments and its stdin.
   */
  function runStep(ftps: FtpsSettings, password: string, attempts?: number) {
    const { prelude, step } = readinessParts();
    const bin = fs.mkdtempSync(path.join(dir, 'bin-'));
    const calls = path.join(bin, 'calls.log');
    fs.writeFileSync(path.join(bin, 'curl'), `#!/bin/bash\necho "ARGS $*" >>'${calls}'\nsed 's/^/STDIN /' >>'${calls}'\n`, { mode: 0o755 });
    // Fewer attempts only to keep the failing case short; the login check itself is unchanged.
    const checked = attempts ? step.replace('nlb-ftp-readiness.py"', `nlb-ftp-readiness.py" --attempts ${attempts}`) : step;
    if (attempts) expect(checked).not.toBe(step);
    const script = [
      'set -euo pipefail',
      prelude,
      // The instance metadata service is not here (and nothing may leave the namespace).
      `imds() { case "$1" in instance-id) echo i-0readiness000001 ;; iam/security-credentials/) echo nlbftp-role ;; iam/security-credentials/nlbftp-role) echo '${JSON.stringify({ AccessKeyId: 'ASIAREADINESS', SecretAccessKey: 'role-secret-key', Token: 'role-token' })}' ;; esac; }`,
      `get_secret() { [ "$1" = "$HEALTH_SECRET_ARN" ] && printf '%s' '${JSON.stringify({ ARN: 'x', SecretString: JSON.stringify({ username: USER, password }) })}'; }`,
      checked,
      'log "ready"',
    ].join('\n');
    const r = spawnSync('ip', ['netns', 'exec', NS, 'bash', '-c', script], {
      encoding: 'utf8',
      // A system PATH, as on the instance (a pyenv shim would put its own tools before the stubs).
      env: { ...process.env, ...settingsEnv(ftps), PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` },
      timeout: 60_000,
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}`, calls: fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8') : '' };
  }

  describe.each([
    ['plain FTP', { mode: 'off' } as FtpsSettings],
    ['FTPS required', { mode: 'required', requireSslReuse: true, maxTlsVersion: '1.2' } as FtpsSettings],
  ])('%s', (_name, ftps) => {
    let server: LocalVsftpd;

    beforeAll(async () => {
      server = new LocalVsftpd({
        slot: 0,
        listenAddress: '127.0.0.1',
        pasvAddress: '127.0.0.1',
        pasvMinPort: 40000,
        pasvMaxPort: 40003,
        maxClients: 10,
        maxPerIp: 10,
        allowFile: users.allowFile,
        netns: NS,
        ...(ftps.mode === 'off' ? {} : { ftps, tlsFiles: tls }),
      });
      await server.start();
    });

    afterAll(async () => {
      await server?.dispose();
    });

    it('reports CONTINUE to its own group and hook after the login passed, and never prints the password', () => {
      const r = runStep(ftps, PASS);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/nlb-ftp readiness: logged in on attempt \d+/);
      const args = r.calls.split('\n').filter((l) => l.startsWith('ARGS '));
      expect(args).toHaveLength(1);
      expect(args[0]).toContain('--aws-sigv4 aws:amz:eu-west-1:autoscaling');
      for (const field of [
        'Action=CompleteLifecycleAction',
        `AutoScalingGroupName=${GROUP}`,
        `LifecycleHookName=${HOOK}`,
        'InstanceId=i-0readiness000001',
        'LifecycleActionResult=CONTINUE',
      ]) {
        expect(args[0]).toContain(`--data-urlencode ${field}`);
      }
      expect(args[0]).toMatch(/ https:\/\/autoscaling\.eu-west-1\.amazonaws\.com\/$/);
      // The role's credentials on stdin (a curl config), never on the command line.
      expect(r.calls).toContain('STDIN user = "ASIAREADINESS:role-secret-key"');
      expect(r.calls).toContain('STDIN header = "X-Amz-Security-Token: role-token"');
      expect(args[0]).not.toMatch(/role-secret-key|role-token/);
      expect(r.out).not.toContain(PASS);
    });

    it('reports ABANDON, and exits non-zero, when the login never passes', () => {
      const r = runStep(ftps, 'not-the-password', 2);
      expect(r.code).not.toBe(0);
      expect(r.out).toContain('nlb-ftp readiness: no login after 2 attempts');
      expect(r.out).toMatch(/FAILED \(exit 1\): reporting ABANDON/);
      expect(r.calls).toContain('--data-urlencode LifecycleActionResult=ABANDON');
      expect(r.calls).not.toContain('CONTINUE');
      expect(r.out).not.toContain('not-the-password');
    });
  });
});
