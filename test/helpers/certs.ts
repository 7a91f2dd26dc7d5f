import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A self-signed certificate for the given IP addresses, made with openssl, in `dir`. */
export function selfSignedCert(dir: string, ips: readonly string[], name = 'server'): { certFile: string; keyFile: string; pem: string } {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '2',
      '-subj',
      `/CN=nlb-ftp ${name}`,
      '-addext',
      `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}`,
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  fs.chmodSync(keyFile, 0o600);
  return { certFile, keyFile, pem: fs.readFileSync(certFile, 'utf8') };
}
