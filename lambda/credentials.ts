/**
 * The health-check account's credentials from Secrets Manager, cached across invocations of a
 * warm Lambda. The password is held in memory only; nothing here logs it.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { HealthCheckCredentials } from '../lib/contract';

export class CachedCredentials {
  private cached?: { value: HealthCheckCredentials; at: number };

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretArn: string,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(): Promise<HealthCheckCredentials> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.value;
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretArn }));
    const parsed = JSON.parse(out.SecretString ?? '{}') as Partial<HealthCheckCredentials>;
    if (typeof parsed.username !== 'string' || typeof parsed.password !== 'string') {
      throw new Error('the health-check secret must be JSON with string "username" and "password"');
    }
    this.cached = { value: { username: parsed.username, password: parsed.password }, at: this.now() };
    return this.cached.value;
  }

  /** Forget the cached value, e.g. after every login failed (the password may have rotated). */
  invalidate(): void {
    this.cached = undefined;
  }
}
