/**
 * The self-signed FTPS certificate the stack creates once when you bring none (and the local
 * sandbox creates the same way). Pure: no aws-cdk-lib import.
 */
import { generateKeyPairSync } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface SelfSignedRequest {
  /** Subject CN; also the first DNS name. */
  readonly commonName: string;
  /** DNS names and IPv4/IPv6 addresses clients may connect to (the NLB's name and static IPs). */
  readonly names: readonly string[];
  /** @default 3650: a self-signed certificate is trusted by fingerprint, not by expiry policy. */
  readonly days?: number;
}

/**
 * A self-signed RSA-2048 certificate (SHA-256) for the given names. RSA rather than ECDSA:
 * every FTP client in use speaks it. Key generation uses Node's native crypto.
 */
export function createSelfSignedCertificate(req: SelfSignedRequest): { certificate: string; privateKey: string } {
  const { privateKey: keyPem } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  // 16 random bytes, first bit cleared: a positive serial, as RFC 5280 requires.
  cert.serialNumber = `0${forge.util.bytesToHex(forge.random.getBytesSync(16)).slice(1)}`;
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000); // tolerate clock skew
  cert.validity.notAfter = new Date(now.getTime() + (req.days ?? 3650) * 24 * 60 * 60 * 1000);
  const subject = [
    { name: 'commonName', value: req.commonName.slice(0, 64) },
    { name: 'organizationName', value: 'nlb-ftp (self-signed)' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  const names = [...new Set([req.commonName, ...req.names])].filter((n) => n.length > 0);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })),
    },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  // forge writes CRLF line ends; everything else here (and vsftpd's config) uses LF.
  return { certificate: forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'), privateKey: keyPem };
}
