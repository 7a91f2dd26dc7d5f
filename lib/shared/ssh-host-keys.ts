/**
 * The SFTP host keys every backend presents: one set, generated once at deploy (or brought by the
 * user), so a client sees the same key whichever backend the NLB picks. Pure: no aws-cdk-lib import.
 *
 * Keys are PEM in the traditional forms ProFTPD's mod_sftp reads (`SFTPHostKey`): PKCS#1 for RSA,
 * SEC1 for ECDSA P-256. Fingerprints are what OpenSSH prints (`ssh-keygen -lf`, the "key
 * fingerprint is" line): SHA-256 of the public key's SSH wire form, base64 without padding.
 */
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** The custom resource type that generates them (lambda/certificate-resource serves it too). */
export const SSH_HOST_KEYS_RESOURCE_TYPE = 'Custom::NlbFtpSshHostKeys';

/** The secret's JSON: one PEM private key per algorithm. */
export interface SshHostKeys {
  readonly ecdsa: string;
  readonly rsa: string;
}

/** The algorithms, in the order clients prefer them; each is a key of SshHostKeys. */
export const SSH_HOST_KEY_TYPES = ['ecdsa', 'rsa'] as const;

/** A new set: ECDSA P-256 (what OpenSSH prefers of the two) and RSA 3072 (for older clients). */
export function createSshHostKeys(): SshHostKeys {
  const ecdsa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'sec1', format: 'pem' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey.export({ type: 'pkcs1', format: 'pem' });
  return { ecdsa: String(ecdsa), rsa: String(rsa) };
}

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** An SSH mpint: big-endian, with a leading zero byte when the top bit is set. */
function mpint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const trimmed = b.subarray(i);
  return sshString(trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

/** The public key in SSH wire form (RFC 4253 6.6, RFC 5656 3.1), and its algorithm name. */
export function sshPublicKey(key: string | KeyObject): { readonly algorithm: string; readonly blob: Buffer } {
  const pub = createPublicKey(key);
  const jwk = pub.export({ format: 'jwk' });
  const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64url');
  if (jwk.kty === 'RSA') {
    const algorithm = 'ssh-rsa';
    return { algorithm, blob: Buffer.concat([sshString(Buffer.from(algorithm)), mpint(b64(jwk.e)), mpint(b64(jwk.n))]) };
  }
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') {
    const algorithm = 'ecdsa-sha2-nistp256';
    const point = Buffer.concat([Buffer.from([4]), b64(jwk.x), b64(jwk.y)]);
    return { algorithm, blob: Buffer.concat([sshString(Buffer.from(algorithm)), sshString(Buffer.from('nistp256')), sshString(point)]) };
  }
  throw new Error(`unsupported SSH host key type ${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ''}: use RSA or ECDSA P-256`);
}

/** OpenSSH's fingerprint of a key: `SHA256:` and the unpadded base64 of the SHA-256 of its blob. */
export function sshFingerprint(key: string | KeyObject): string {
  return `SHA256:${createHash('sha256').update(sshPublicKey(key).blob).digest('base64').replace(/=+$/, '')}`;
}

/** A known_hosts line for a host and port (`[host]:port` unless the port is 22). */
export function knownHostsLine(host: string, port: number, key: string | KeyObject): string {
  const { algorithm, blob } = sshPublicKey(key);
  return `${port === 22 ? host : `[${host}]:${port}`} ${algorithm} ${blob.toString('base64')}`;
}

/** Parse and check the secret's JSON: each key present and of its type. Throws naming what is wrong. */
export function parseSshHostKeys(text: string): SshHostKeys {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('the SFTP host keys secret must be JSON {"ecdsa": PEM, "rsa": PEM}');
  }
  const o = v as Record<string, unknown>;
  for (const t of SSH_HOST_KEY_TYPES) {
    if (typeof o?.[t] !== 'string') throw new Error(`the SFTP host keys secret has no "${t}" private key (PEM)`);
    const alg = sshPublicKey(o[t] as string).algorithm;
    if ((t === 'rsa') !== (alg === 'ssh-rsa')) throw new Error(`the SFTP host keys secret's "${t}" key is ${alg}`);
  }
  return { ecdsa: o.ecdsa as string, rsa: o.rsa as string };
}
