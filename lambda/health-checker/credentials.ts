/**
 * Secrets the checker reads from Secrets Manager (the health-check account, the FTPS
 * certificate), parsed once and cached across invocations of a warm Lambda. Values are held in
 * memory only; nothing here logs them, and parse errors never echo the secret.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type CertificateVerification, parseCertificateSecret, verificationFor } from '../../lib/shared/certificate';
import type { HealthCheckCredentials } from '../../lib/shared/contract';

export class CachedSecret<T> {
  private cached?: { value: T; at: number };
  /** The read in flight: callers that ask meanwhile (a round's FTP and SFTP probes) share it. */
  private pending?: Promise<T>;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretArn: string,
    private readonly parse: (secretString: string) => T,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The value: cached, or one read shared by every caller until it ends (a failed read is not kept). */
  get(): Promise<T> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return Promise.resolve(this.cached.value);
    if (!this.pending) {
      const read: Promise<T> = this.read().finally(() => {
        if (this.pending === read) this.pending = undefined;
      });
      this.pending = read;
    }
    return this.pending;
  }

  private async read(): Promise<T> {
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretArn }));
    const value = this.parse(out.SecretString ?? '');
    this.cached = { value, at: this.now() };
    return value;
  }

  /** Forget the cached value, e.g. after every login failed (the password may have rotated). */
  invalidate(): void {
    this.cached = undefined;
    this.pending = undefined;
  }
}

export function parseHealthCheckSecret(text: string): HealthCheckCredentials {
  let parsed: Partial<HealthCheckCredentials> = {};
  try {
    parsed = JSON.parse(text) as Partial<HealthCheckCredentials>;
  } catch {
    // reported below without the text
  }
  if (typeof parsed.username !== 'string' || typeof parsed.password !== 'string') {
    throw new Error('the health-check secret must be JSON with string "username" and "password"');
  }
  return { username: parsed.username, password: parsed.password };
}

/** The health-check account's credentials. */
export function cachedCredentials(client: SecretsManagerClient, secretArn: string): CachedSecret<HealthCheckCredentials> {
  return new CachedSecret(client, secretArn, parseHealthCheckSecret);
}

/** What the probe trusts and pins, from the FTPS certificate secret (the private key is dropped). */
export function cachedCertificate(client: SecretsManagerClient, secretArn: string): CachedSecret<CertificateVerification> {
  return new CachedSecret(client, secretArn, (text) => verificationFor(parseCertificateSecret(text)));
}
