import { describe, expect, it } from 'vitest';
import { PASV_BIND_RACE, retryOnPasvRace, type SessionResult } from '../../harness/sessions';

const result = (ok: boolean, transcript: string, startedAt: number): SessionResult & { transcript: string } => ({
  kind: 'curl-epsv',
  ok,
  startedAt,
  endedAt: startedAt + 1,
  detail: ok ? '' : transcript,
  encrypted: false,
  transcript,
});

describe('the sessions retry only ProFTPD’s PASV bind race', () => {
  it('matches the PASV and EPSV forms of the reply, and nothing else', () => {
    expect(PASV_BIND_RACE.test('< 425 EPSV: Address already in use')).toBe(true);
    expect(PASV_BIND_RACE.test('<--- 425 PASV: Address already in use')).toBe(true);
    expect(PASV_BIND_RACE.test('< 425 Unable to build data connection: Connection refused')).toBe(false);
    expect(PASV_BIND_RACE.test('500 OOPS: vsf_sysutil_bind')).toBe(false);
  });

  it('retries the race once, keeps the first start time, and marks the result', async () => {
    const attempts = [result(false, '< 425 PASV: Address already in use', 10), result(true, '', 20)];
    let calls = 0;
    const r = await retryOnPasvRace(async () => attempts[calls++]);
    expect(calls).toBe(2);
    expect(r).toMatchObject({ ok: true, startedAt: 10, retriedAfterPasvRace: true });
    expect(r).not.toHaveProperty('transcript');
  });

  it('does not retry any other failure, nor the race twice', async () => {
    let calls = 0;
    const counted = (transcript: string) => async () => {
      calls++;
      return result(false, transcript, 1);
    };
    const other = await retryOnPasvRace(counted('< 530 Login incorrect.'));
    expect([calls, other.ok, other.retriedAfterPasvRace]).toEqual([1, false, undefined]);
    calls = 0;
    const twice = await retryOnPasvRace(counted('< 425 EPSV: Address already in use'));
    expect([calls, twice.ok, twice.retriedAfterPasvRace]).toEqual([2, false, true]);
  });
});
