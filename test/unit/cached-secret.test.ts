/**
 * The checker's secrets cache (lambda/health-checker/credentials.ts): one GetSecretValue per
 * expiry, shared by the round's FTP and SFTP probes that ask at the same moment; a failed read is
 * not kept; invalidate() makes the next round read again. The client is mocked (aws-sdk-client-mock).
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { cachedCredentials } from '../../lambda/health-checker/credentials';

const ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:NlbFtpHealth-AbCdEf';
const sm = mockClient(SecretsManagerClient);
afterEach(() => sm.reset());
const secret = (password: string) => ({ SecretString: JSON.stringify({ username: 'nlbftp-health', password }) });
const reads = () => sm.commandCalls(GetSecretValueCommand).length;

describe('the checker reads the health-check secret once for a round', () => {
  it('two callers at the same moment (FTP and SFTP probes) share one read, and later ones use the cache', async () => {
    sm.on(GetSecretValueCommand, { SecretId: ARN }).resolves(secret('first'));
    const creds = cachedCredentials(new SecretsManagerClient({ region: 'us-east-1' }), ARN);
    const [a, b] = await Promise.all([creds.get(), creds.get()]);
    expect([a.password, b.password]).toEqual(['first', 'first']);
    expect(reads()).toBe(1);
    await creds.get();
    expect(reads()).toBe(1);
  });

  it('a failed read is shared by its callers and not kept: the next call reads again', async () => {
    sm.on(GetSecretValueCommand).rejectsOnce(new Error('AccessDeniedException')).resolves(secret('second'));
    const creds = cachedCredentials(new SecretsManagerClient({ region: 'us-east-1' }), ARN);
    const both = await Promise.allSettled([creds.get(), creds.get()]);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(reads()).toBe(1);
    expect((await creds.get()).password).toBe('second');
    expect(reads()).toBe(2);
  });

  it('invalidate() (every login failed: the password may have rotated) makes the next call read the new value', async () => {
    sm.on(GetSecretValueCommand).resolvesOnce(secret('old')).resolves(secret('rotated'));
    const creds = cachedCredentials(new SecretsManagerClient({ region: 'us-east-1' }), ARN);
    expect((await creds.get()).password).toBe('old');
    creds.invalidate();
    expect((await creds.get()).password).toBe('rotated');
    expect(reads()).toBe(2);
  });
});
