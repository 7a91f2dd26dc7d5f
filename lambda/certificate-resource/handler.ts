/**
 * CloudFormation custom resources that put key material straight into a secret, once: the
 * self-signed FTPS certificate (Custom::NlbFtpSelfSignedCertificate) and the SFTP host keys
 * (Custom::NlbFtpSshHostKeys, below).
 *
 * The certificate goes into the stack's certificate secret, once. It generates on Create, and again on Update only when the names to certify
 * changed; any other stack update keeps the certificate clients already trust. Delete does
 * nothing: the secret has its own removal policy.
 *
 * The physical ID is the certificate's SHA-256 fingerprint, so `Ref` gives operators the value to
 * compare with what their FTP client shows, without this function ever reading the secret. The
 * private key goes only into PutSecretValue; it is never logged or returned.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { leafFingerprint } from '../../lib/shared/certificate';
import { createSelfSignedCertificate } from '../../lib/shared/self-signed-certificate';
import { createSshHostKeys, SSH_HOST_KEYS_RESOURCE_TYPE, sshFingerprint } from '../../lib/shared/ssh-host-keys';

export interface CertificateProperties {
  readonly SecretArn: string;
  readonly CommonName: string;
  readonly Names?: readonly string[];
}

export interface CustomResourceEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResourceType?: string;
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: CertificateProperties & { readonly ServiceToken?: string };
  readonly OldResourceProperties?: CertificateProperties;
}

interface Response {
  readonly Status: 'SUCCESS' | 'FAILED';
  readonly Reason?: string;
  readonly PhysicalResourceId: string;
}

const sameNames = (a: CertificateProperties, b: CertificateProperties) =>
  a.SecretArn === b.SecretArn && a.CommonName === b.CommonName && JSON.stringify(a.Names ?? []) === JSON.stringify(b.Names ?? []);

/**
 * The SFTP host keys: generated on Create (and on an Update that names another secret), never on
 * any other update, so clients keep trusting the host. The physical ID is both keys' fingerprints,
 * as OpenSSH prints them, ECDSA first, separated by a space (an update that keeps the keys keeps
 * it, so `Ref` never needs the secret). The private keys go only into PutSecretValue.
 */
export async function applyHostKeys(event: CustomResourceEvent, secrets: SecretsManagerClient): Promise<Response> {
  const props = event.ResourceProperties;
  const keep = event.PhysicalResourceId;
  if (event.RequestType === 'Delete') return { Status: 'SUCCESS', PhysicalResourceId: keep ?? event.LogicalResourceId };
  if (event.RequestType === 'Update' && keep && event.OldResourceProperties?.SecretArn === props.SecretArn) {
    return { Status: 'SUCCESS', PhysicalResourceId: keep };
  }
  if (!props.SecretArn) throw new Error('SecretArn is required');
  const keys = createSshHostKeys();
  await secrets.send(new PutSecretValueCommand({ SecretId: props.SecretArn, SecretString: JSON.stringify(keys) }));
  const ecdsa = sshFingerprint(keys.ecdsa);
  const rsa = sshFingerprint(keys.rsa);
  console.log(`SFTP host keys created: ECDSA ${ecdsa}, RSA ${rsa}`);
  return { Status: 'SUCCESS', PhysicalResourceId: `${ecdsa} ${rsa}` };
}

/** What to do for one event; the secret client is passed in so tests can mock it at the SDK boundary. */
export async function apply(event: CustomResourceEvent, secrets: SecretsManagerClient): Promise<Response> {
  if (event.ResourceType === SSH_HOST_KEYS_RESOURCE_TYPE) return applyHostKeys(event, secrets);
  const props = event.ResourceProperties;
  const keep = event.PhysicalResourceId;
  if (event.RequestType === 'Delete') return { Status: 'SUCCESS', PhysicalResourceId: keep ?? event.LogicalResourceId };
  if (event.RequestType === 'Update' && keep && event.OldResourceProperties && sameNames(event.OldResourceProperties, props)) {
    return { Status: 'SUCCESS', PhysicalResourceId: keep };
  }
  if (!props.SecretArn || !props.CommonName) throw new Error('SecretArn and CommonName are required');
  const pair = createSelfSignedCertificate({ commonName: props.CommonName, names: props.Names ?? [] });
  await secrets.send(new PutSecretValueCommand({ SecretId: props.SecretArn, SecretString: JSON.stringify(pair) }));
  const fingerprint = leafFingerprint(pair.certificate);
  console.log(`FTPS certificate created for ${[props.CommonName, ...(props.Names ?? [])].join(', ')}: SHA-256 ${fingerprint}`);
  return { Status: 'SUCCESS', PhysicalResourceId: fingerprint };
}

/** PUT the result to CloudFormation's pre-signed URL (an empty content type, as S3 signed it). */
export function respond(event: CustomResourceEvent, r: Response): Promise<void> {
  const body = JSON.stringify({
    Status: r.Status,
    Reason: r.Reason ?? 'see the function log',
    PhysicalResourceId: r.PhysicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  });
  const url = new URL(event.ResponseURL);
  const transport = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      url,
      { method: 'PUT', headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) }, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode && res.statusCode < 300 ? resolve() : reject(new Error(`CloudFormation response got HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('CloudFormation response timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

const client = new SecretsManagerClient({});

export async function handler(event: CustomResourceEvent): Promise<void> {
  let result: Response;
  try {
    result = await apply(event, client);
  } catch (err) {
    // A failed Create must still answer, or CloudFormation waits an hour for the timeout.
    const reason = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 500);
    const what = event.ResourceType === SSH_HOST_KEYS_RESOURCE_TYPE ? 'SFTP host keys' : 'FTPS certificate';
    console.error(`${what} ${event.RequestType} failed: ${reason}`);
    result = { Status: 'FAILED', Reason: reason, PhysicalResourceId: event.PhysicalResourceId ?? event.LogicalResourceId };
  }
  await respond(event, result);
}
