/**
 * The FTPS certificate secret's format and how the health checker verifies backends against it.
 * Pure: no aws-cdk-lib import, and only node:crypto, so the checker's bundle stays small. Used by
 * the certificate custom resource, the checker and the local sandbox, so all agree on one format.
 */
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';

const PEM_CERT = /^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/;
const PEM_KEY = /^-----BEGIN (RSA |EC )?PRIVATE KEY-----[\s\S]+-----END (RSA |EC )?PRIVATE KEY-----\s*$/;

/**
 * The certificate secret's JSON. One certificate for every backend, so clients see the same
 * identity whichever backend the NLB picks.
 */
export const CertificateSecretSchema = z.object({
  /** PEM: the server certificate first, then any intermediates (vsftpd sends the whole file). */
  certificate: z.string().regex(PEM_CERT, 'must be PEM: -----BEGIN CERTIFICATE----- ... (leaf first, then intermediates)'),
  /** PEM private key (PKCS#8 or PKCS#1), unencrypted: vsftpd cannot prompt for a passphrase. */
  privateKey: z.string().regex(PEM_KEY, 'must be an unencrypted PEM private key: -----BEGIN PRIVATE KEY----- ...'),
  /** PEM CA bundle the health checker trusts; unset trusts a self-signed certificate itself, else the public roots. */
  ca: z.string().regex(PEM_CERT, 'must be PEM certificates').optional(),
});
export type CertificateSecret = z.infer<typeof CertificateSecretSchema>;

/** Parse the secret's text; the error names each bad field and never echoes the key. */
export function parseCertificateSecret(text: string): CertificateSecret {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('FTPS certificate secret: not JSON; expected {"certificate": "<PEM>", "privateKey": "<PEM>", "ca"?: "<PEM>"}');
  }
  const r = CertificateSecretSchema.safeParse(raw);
  if (!r.success) {
    const fields = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`FTPS certificate secret: ${fields}`);
  }
  return r.data;
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
