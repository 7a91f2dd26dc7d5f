/**
 * The FTPS certificate secret's format and how the health checker verifies backends against it.
 * Pure: no aws-cdk-lib import, and only node:crypto, so the checker's bundle stays small. Used by
 * the certificate custom resource, the checker and the local sandbox, so all agree on one format.
 */
import { X509Certificate } from 'node:crypto';

const PEM_CERT = /^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/;
const PEM_KEY = /^-----BEGIN (RSA |EC )?PRIVATE KEY-----[\s\S]+-----END (RSA |EC )?PRIVATE KEY-----\s*$/;

/**
 * The certificate secret's JSON. One certificate for every backend, so clients see the same
 * identity whichever backend the NLB picks. (Checked by hand rather than with zod: this module is
 * bundled into the checker Lambda, and zod would add ~450 KiB to it.)
 */
export interface CertificateSecret {
  /** PEM: the server certificate first, then any intermediates (vsftpd sends the whole file). */
  readonly certificate: string;
  /** PEM private key (PKCS#8 or PKCS#1), unencrypted: vsftpd cannot prompt for a passphrase. */
  readonly privateKey: string;
  /** PEM CA bundle the health checker trusts; unset trusts a self-signed certificate itself, else the public roots. */
  readonly ca?: string;
}

const FIELDS: ReadonlyArray<[keyof CertificateSecret, RegExp, string, boolean]> = [
  ['certificate', PEM_CERT, 'must be PEM: -----BEGIN CERTIFICATE----- ... (leaf first, then intermediates)', true],
  ['privateKey', PEM_KEY, 'must be an unencrypted PEM private key: -----BEGIN PRIVATE KEY----- ...', true],
  ['ca', PEM_CERT, 'must be PEM certificates', false],
];

/** Parse the secret's text; the error names each bad field and never echoes the key. */
export function parseCertificateSecret(text: string): CertificateSecret {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('FTPS certificate secret: not JSON; expected {"certificate": "<PEM>", "privateKey": "<PEM>", "ca"?: "<PEM>"}');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error('FTPS certificate secret: expected a JSON object {"certificate", "privateKey", "ca"?}');
  }
  const o = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const [field, re, message, required] of FIELDS) {
    const v = o[field];
    if (v === undefined && !required) continue;
    if (typeof v !== 'string') problems.push(`${field}: ${v === undefined ? 'missing; ' : ''}${message}`);
    else if (!re.test(v)) problems.push(`${field}: ${message}`);
  }
  if (problems.length > 0) throw new Error(`FTPS certificate secret: ${problems.join('; ')}`);
  return { certificate: o.certificate as string, privateKey: o.privateKey as string, ...(typeof o.ca === 'string' ? { ca: o.ca } : {}) };
}

/** Lower-case hex SHA-256 of the first (leaf) certificate of a PEM bundle, colon-separated like OpenSSL. */
export function leafFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * How the checker verifies a backend: which roots to trust, and the leaf every backend must
 * present. Pinning the leaf catches a backend still serving an old certificate after rotation.
 */
export interface CertificateVerification {
  /** PEM roots to trust; unset trusts the public roots (a certificate from a public CA). */
  readonly ca?: string;
  /** The leaf every backend must present (SHA-256, as node:crypto formats it). */
  readonly fingerprint256: string;
}

export function verificationFor(secret: CertificateSecret): CertificateVerification {
  const leaf = new X509Certificate(secret.certificate);
  const selfSigned = leaf.checkIssued(leaf) && leaf.verify(leaf.publicKey);
  return { ca: secret.ca ?? (selfSigned ? secret.certificate : undefined), fingerprint256: leaf.fingerprint256 };
}
