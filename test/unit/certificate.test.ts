import { createPrivateKey, X509Certificate } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import forge from 'node-forge';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { apply, type CustomResourceEvent, handler } from '../../lambda/certificate-resource/handler';
import { leafFingerprint, parseCertificateSecret, verificationFor } from '../../lib/shared/certificate';
import { createSelfSignedCertificate } from '../../lib/shared/self-signed-certificate';

const NLB = 'nlb-ftp-0123456789abcdef.elb.eu-west-1.amazonaws.com';
/** A CA and a leaf it signed (as a public CA would), made with node-forge. */
function caIssuedLeaf(): { caPem: string; leafPem: string } {
  const caKeys = forge.pki.rsa.generateKeyPair(1024);
  const leafKeys = forge.pki.rsa.generateKeyPair(1024);
  const make = (subject: string, publicKey: forge.pki.PublicKey, issuer: string, serial: string) => {
    const c = forge.pki.createCertificate();
    c.publicKey = publicKey;
    c.serialNumber = serial;
    c.validity.notBefore = new Date(Date.now() - 60_000);
    c.validity.notAfter = new Date(Date.now() + 86_400_000);
    c.setSubject([{ name: 'commonName', value: subject }]);
    c.setIssuer([{ name: 'commonName', value: issuer }]);
    c.sign(caKeys.privateKey, forge.md.sha256.create());
    return forge.pki.certificateToPem(c);
  };
  return {
    caPem: make('Example Root', caKeys.publicKey, 'Example Root', '01'),
    leafPem: make('ftp.example.com', leafKeys.publicKey, 'Example Root', '02'),
  };
}

const pair = createSelfSignedCertificate({ commonName: NLB, names: ['203.0.113.10', '203.0.113.20', 'ftp.example.com'] });

describe('self-signed certificate', () => {
  const x = new X509Certificate(pair.certificate);

  it('names the NLB, every static IP and extra names, so clients can verify whichever they use', () => {
    expect(x.subjectAltName?.split(', ').sort()).toEqual(
      ['DNS:ftp.example.com', `DNS:${NLB}`, 'IP Address:203.0.113.10', 'IP Address:203.0.113.20'].sort(),
    );
    expect(x.checkHost(NLB)).toBe(NLB);
    expect(x.checkIP('203.0.113.20')).toBe('203.0.113.20');
    expect(x.checkIP('203.0.113.99')).toBeUndefined();
  });

  it('is RSA-2048 signed with SHA-256, self-signed, with the matching key and a positive serial', () => {
    expect(x.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkIssued(x)).toBe(true);
    expect(x.checkPrivateKey(createPrivateKey(pair.privateKey))).toBe(true);
    // Positive as DER encodes it (Node prints the serial without a leading 00 byte, so "D8..." can be
    // a positive serial 00 D8 ...; judging by that text failed about 1 run in 32): the INTEGER right
    // after the version [0] has a first content byte below 0x80, and at most 20 bytes (RFC 5280).
    const version = x.raw.indexOf(Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]));
    expect(version).toBeGreaterThan(0);
    expect(x.raw[version + 5]).toBe(0x02); // INTEGER
    const length = x.raw[version + 6];
    expect(length).toBeLessThanOrEqual(20);
    expect(x.raw[version + 7]).toBeLessThan(0x80);
    expect(
      x.raw
        .subarray(version + 7, version + 7 + length)
        .toString('hex')
        .replace(/^00/, '')
        .toUpperCase(),
    ).toBe(x.serialNumber);
    expect(x.keyUsage).toContain('1.3.6.1.5.5.7.3.1'); // serverAuth
    expect(pair.certificate).not.toContain('\r');
  });

  it('is valid now (with clock-skew slack) and for about ten years', () => {
    const from = Date.parse(x.validFrom);
    const to = Date.parse(x.validTo);
    expect(from).toBeLessThan(Date.now() - 30 * 60_000);
    expect((to - Date.now()) / (365 * 86_400_000)).toBeGreaterThan(9.9);
  });

  it('is new each time: two stacks never share a key', () => {
    const again = createSelfSignedCertificate({ commonName: NLB, names: [] });
    expect(again.privateKey).not.toBe(pair.privateKey);
    expect(leafFingerprint(again.certificate)).not.toBe(leafFingerprint(pair.certificate));
  });
});

describe('certificate secret', () => {
  it('accepts the stack format and tells the checker to trust the self-signed certificate and pin it', () => {
    const s = parseCertificateSecret(JSON.stringify(pair));
    expect(verificationFor(s)).toEqual({ ca: pair.certificate, fingerprint256: new X509Certificate(pair.certificate).fingerprint256 });
  });

  it('trusts the configured CA when given, and the public roots for a CA-issued leaf without one', () => {
    const { caPem, leafPem } = caIssuedLeaf();
    expect(verificationFor({ ...pair, ca: caPem }).ca).toBe(caPem);
    const v = verificationFor({ certificate: leafPem, privateKey: pair.privateKey });
    expect(v.ca).toBeUndefined(); // not self-signed: Node's public roots decide
    expect(v.fingerprint256).toBe(new X509Certificate(leafPem).fingerprint256);
  });

  it.each([
    ['not JSON', 'not json', /not JSON/],
    ['missing key', JSON.stringify({ certificate: pair.certificate }), /privateKey: /],
    [
      'key not PEM',
      JSON.stringify({ certificate: pair.certificate, privateKey: 'secret-key-material' }),
      /privateKey: must be an unencrypted PEM/,
    ],
    ['certificate not PEM', JSON.stringify({ certificate: 'abc', privateKey: pair.privateKey }), /certificate: must be PEM/],
    [
      'encrypted key',
      JSON.stringify({
        certificate: pair.certificate,
        privateKey: '-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----',
      }),
      /privateKey: must be an unencrypted PEM/,
    ],
  ])('refuses %s with a message naming the field, never the key', (_name, text, message) => {
    let error: Error | undefined;
    try {
      parseCertificateSecret(text);
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain('secret-key-material');
    expect(error?.message).not.toContain('PRIVATE KEY-----\n');
  });
});

describe('certificate custom resource', () => {
  const sm = mockClient(SecretsManagerClient);
  // The unit project shares modules between files (isolate: false): leave no stub behind.
  afterAll(() => sm.restore());
  const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:nlb-ftp-cert-AbCdEf';
  const props = { SecretArn: secretArn, CommonName: NLB, Names: ['203.0.113.10'] };
  const base = {
    ResponseURL: 'http://127.0.0.1:1/',
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/nlb-ftp/x',
    RequestId: 'r-1',
    LogicalResourceId: 'FtpsCertificateSelfSigned',
  };
  afterEach(() => sm.reset());

  it('Create: puts a certificate and key into the secret; the physical ID is its fingerprint', async () => {
    sm.on(PutSecretValueCommand).resolves({});
    const r = await apply({ ...base, RequestType: 'Create', ResourceProperties: props }, new SecretsManagerClient({}));
    const calls = sm.commandCalls(PutSecretValueCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input.SecretId).toBe(secretArn);
    const stored = parseCertificateSecret(calls[0].args[0].input.SecretString as string);
    expect(r).toEqual({ Status: 'SUCCESS', PhysicalResourceId: leafFingerprint(stored.certificate) });
    expect(new X509Certificate(stored.certificate).checkIP('203.0.113.10')).toBe('203.0.113.10');
  });

  it('Update with the same names keeps the certificate clients already trust (no write)', async () => {
    const r = await apply(
      { ...base, RequestType: 'Update', PhysicalResourceId: 'AA:BB', ResourceProperties: props, OldResourceProperties: props },
      new SecretsManagerClient({}),
    );
    expect(r).toEqual({ Status: 'SUCCESS', PhysicalResourceId: 'AA:BB' });
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  it('Update with a new name (e.g. a CNAME added) makes a new certificate', async () => {
    sm.on(PutSecretValueCommand).resolves({});
    const r = await apply(
      {
        ...base,
        RequestType: 'Update',
        PhysicalResourceId: 'AA:BB',
        ResourceProperties: { ...props, Names: ['203.0.113.10', 'ftp.example.com'] },
        OldResourceProperties: props,
      },
      new SecretsManagerClient({}),
    );
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(1);
    expect(r.PhysicalResourceId).not.toBe('AA:BB');
  });

  it('Delete leaves the secret alone (it has its own removal policy)', async () => {
    const r = await apply(
      { ...base, RequestType: 'Delete', PhysicalResourceId: 'AA:BB', ResourceProperties: props },
      new SecretsManagerClient({}),
    );
    expect(r).toEqual({ Status: 'SUCCESS', PhysicalResourceId: 'AA:BB' });
    expect(sm.calls()).toHaveLength(0);
  });

  describe('handler: answers CloudFormation on success and on failure, never with the key', () => {
    let server: http.Server;
    let url = '';
    const bodies: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d) => {
          body += d;
        });
        req.on('end', () => {
          bodies.push({ headers: req.headers, body });
          res.end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/presigned?X-Amz-Signature=x`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('success', async () => {
      sm.on(PutSecretValueCommand).resolves({});
      const logs: string[] = [];
      const spy = vi.spyOn(console, 'log').mockImplementation((m: string) => void logs.push(m));
      await handler({ ...base, ResponseURL: url, RequestType: 'Create', ResourceProperties: props } as CustomResourceEvent);
      spy.mockRestore();
      const last = bodies.at(-1);
      expect(last?.headers['content-type']).toBe('');
      const sent = JSON.parse(last?.body ?? '{}');
      expect(sent).toMatchObject({ Status: 'SUCCESS', RequestId: 'r-1', LogicalResourceId: 'FtpsCertificateSelfSigned' });
      expect(sent.PhysicalResourceId).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      expect(last?.body).not.toContain('PRIVATE KEY');
      expect(logs.join('\n')).not.toContain('PRIVATE KEY');
      expect(logs.join('\n')).toContain(sent.PhysicalResourceId);
    });

    it('failure: the Create fails with a reason instead of hanging CloudFormation for an hour', async () => {
      sm.on(PutSecretValueCommand).rejects(
        Object.assign(new Error('User is not authorized to perform PutSecretValue'), { name: 'AccessDeniedException' }),
      );
      const spy = vi.spyOn(console, 'error').mockImplementation(() => undefined);
      await handler({ ...base, ResponseURL: url, RequestType: 'Create', ResourceProperties: props } as CustomResourceEvent);
      spy.mockRestore();
      const sent = JSON.parse(bodies.at(-1)?.body ?? '{}');
      expect(sent).toMatchObject({ Status: 'FAILED', PhysicalResourceId: 'FtpsCertificateSelfSigned' });
      expect(sent.Reason).toMatch(/AccessDeniedException: User is not authorized/);
    });
  });
});
