/**
 * The real checker handler with FTPS required: real probes over TLS against Debian's vsftpd on
 * loopback, AWS mocked at the SDK boundary. The certificate comes from its own secret, as in the
 * stack. A backend with the wrong certificate is deregistered; a wrong certificate secret (nothing
 * matches) fails open and is read again; no key material reaches the logs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeregisterTargetsCommand, RegisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { createSelfSignedCertificate } from '../../lib/shared/self-signed-certificate';
import { LocalUsers, type LocalVsftpd } from '../../sandbox/local-vsftpd';
import { awsFakes, captureOutput, type Handler, importHandler, probeLines as probes, startBackends } from '../helpers/checker-harness';

const TG_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/NlbFt-Contr-ABC/0123456789abcdef';
const HEALTH_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:health-AbCdEf';
const CERT_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ftps-cert-AbCdEf';
const USER = 'nlbftphealthtls';
const PASS = 'Health-Check-Tls-S3cret-77';
const BACKENDS = [
  { slot: 0, instanceId: 'i-0ccccccccccccccc0', privateIp: '127.18.5.1' },
  { slot: 1, instanceId: 'i-0ddddddddddddddd1', privateIp: '127.18.5.2' },
];
const STORED = createSelfSignedCertificate({ commonName: 'nlb-ftp-test', names: ['198.18.0.2'] });
const OTHER = createSelfSignedCertificate({ commonName: 'nlb-ftp-test', names: ['198.18.0.2'] });

let certSecret = JSON.stringify(STORED);
const aws = awsFakes(
  BACKENDS,
  {
    [HEALTH_ARN]: () => JSON.stringify({ username: USER, password: PASS }),
    [CERT_ARN]: () => certSecret,
  },
  TG_ARN,
);
const { elb } = aws;
const resetAwsFakes = aws.reset;

describe('health checker handler over FTPS (real TLS probes, mocked AWS)', () => {
  let root: string;
  let users: LocalUsers;
  let servers: LocalVsftpd[] = [];
  let handler: Handler;
  const invoke = () => captureOutput(() => handler({}));
  const certReads = () => aws.secretReads(CERT_ARN);
  const mutating = aws.mutatingCalls;

  /** Put `pair` in backend `i`'s certificate and key files; returns their paths. */
  function writeCertificate(i: number, pair: { certificate: string; privateKey: string }) {
    const certFile = path.join(root, `slot${i}.crt`);
    const keyFile = path.join(root, `slot${i}.key`);
    fs.writeFileSync(certFile, pair.certificate);
    fs.writeFileSync(keyFile, pair.privateKey, { mode: 0o600 });
    return { certFile, keyFile };
  }

  /** Serve `pair` on backend `i` (vsftpd reads the certificate when it starts). */
  async function serve(i: number, pair: { certificate: string; privateKey: string }) {
    writeCertificate(i, pair);
    await servers[i].stop();
    await servers[i].start();
  }

  beforeAll(async () => {
    requireTools(['vsftpd']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-handler-tls-'));
    users = new LocalUsers(root, { [USER]: PASS });
    users.apply();
    servers = await startBackends(BACKENDS, {
      allowFile: users.allowFile,
      passivePortStart: 42100,
      tlsFiles: (slot) => writeCertificate(slot, STORED),
    });
    resetAwsFakes();
    handler = await importHandler(
      {
        backends: BACKENDS,
        controlTargetGroupArn: TG_ARN,
        healthSecretArn: HEALTH_ARN,
        ftps: { mode: 'required', certificateSecretArn: CERT_ARN },
      },
      'NlbFtpTlsTest',
    );
  });

  afterAll(async () => {
    for (const v of servers) await v.dispose();
    users?.dispose();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('a certificate secret no backend matches (replaced before the backends caught up): all fail tls, nothing is deregistered, and it is read again next round', async () => {
    certSecret = JSON.stringify(OTHER);
    try {
      const out = (await invoke()) + (await invoke()) + (await invoke());
      expect(probes(out).every((p) => p.ok === false && p.errorClass === 'tls')).toBe(true);
      expect(mutating()).toHaveLength(0);
      expect(out).toContain('fail-open');
      // Every probe failing tls drops the cached certificate: each round read the secret again.
      expect(certReads()).toBe(3);
    } finally {
      certSecret = JSON.stringify(STORED);
    }
  });

  it('probes over TLS against the stored certificate: every backend passes, nothing changes, no key in the logs', async () => {
    resetAwsFakes();
    const out = await invoke();
    expect(probes(out).map((p) => [p.slot, p.ok, p.step])).toEqual([
      [0, true, 'quit'],
      [1, true, 'quit'],
    ]);
    expect(certReads()).toBe(1); // the re-read that the previous round asked for
    await invoke();
    expect(certReads()).toBe(1); // then cached
    expect(mutating()).toHaveLength(0);
    expect(out).not.toContain('PRIVATE KEY');
    expect(out).not.toContain(PASS);
  });

  it('deregisters the one backend serving another certificate (tls), and registers it once it serves the right one', async () => {
    await serve(1, OTHER);
    resetAwsFakes();
    const first = await invoke();
    expect(probes(first).find((p) => p.slot === 1)).toMatchObject({ ok: false, step: 'tls', errorClass: 'tls' });
    expect(probes(first).find((p) => p.slot === 1)?.detail).toMatch(/DEPTH_ZERO_SELF_SIGNED_CERT|not the stored certificate/);
    await invoke();
    expect(elb.commandCalls(DeregisterTargetsCommand).map((c) => c.args[0].input.Targets)).toEqual([
      [{ Id: 'i-0ddddddddddddddd1', Port: 21 }],
    ]);

    await serve(1, STORED);
    await invoke();
    await invoke();
    expect(elb.commandCalls(RegisterTargetsCommand).map((c) => c.args[0].input.Targets)).toEqual([
      [{ Id: 'i-0ddddddddddddddd1', Port: 21 }],
    ]);
  });
});
