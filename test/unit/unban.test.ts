/**
 * `npm run unban ADDRESS` against a fake deployed stack whose bans table is the sandbox's AWS model
 * (test/helpers/fake-fleet.ts): what it lifts, what it refuses, and what it says.
 */
import * as os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { runUnban } from '../../lib/cli/unban';
import { failurePartition } from '../../lib/shared/bans';
import { FAKE_BAN_TABLE, FakeFleet } from '../helpers/fake-fleet';

const fleet = new FakeFleet(2, 1, '1', '1');
afterAll(() => fleet.restore());
const now = Math.floor(Date.now() / 1000);
const unban = (...argv: string[]) => runUnban(argv, { cfn: fleet.clients.cfn, ddb: fleet.clients.ddb }, os.tmpdir());
const items = (pk: string) => fleet.model.query(FAKE_BAN_TABLE, 'pk = :pk', { ':pk': { S: pk } });

describe('npm run unban', () => {
  it("lifts a ban in force and forgets the address's failed logins, saying when it would have ended", async () => {
    fleet.model.putItem(FAKE_BAN_TABLE, {
      pk: { S: 'ban' },
      sk: { S: '198.51.100.4' },
      endsAt: { N: String(now + 600) },
      failures: { N: '11' },
    });
    fleet.model.putItem(FAKE_BAN_TABLE, {
      pk: { S: 'ban' },
      sk: { S: '198.51.100.5' },
      endsAt: { N: String(now + 600) },
      failures: { N: '10' },
    });
    for (const minute of [now - 120, now - 60])
      fleet.model.updateItem(
        FAKE_BAN_TABLE,
        { pk: { S: failurePartition('198.51.100.4') }, sk: { S: String(minute) } },
        'ADD failures :n SET expiresAt = :exp',
        {
          ':n': { N: '5' },
          ':exp': { N: String(now + 600) },
        },
      );
    const r = await unban('198.51.100.4', '--stack', 'NlbFtp');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^Lifted the ban on 198\.51\.100\.4 \(11 failed logins; it would have ended at \S+Z\)\. Every backend accepts it again/,
    );
    expect(items('ban').map((i) => i.sk.S)).toEqual(['198.51.100.5']); // the other ban stays
    expect(items(failurePartition('198.51.100.4'))).toEqual([]);
  });

  it('an address that is not banned: exit 0, and says so', async () => {
    const r = await unban('192.0.2.200');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('192.0.2.200 was not banned; its failed logins, if any, are forgotten.\n');
  });

  it('refuses what is not one IPv4 address, naming it, with exit 2 and the usage', async () => {
    for (const [argv, message] of [
      [['203.0.113.300'], 'ADDRESS 203.0.113.300 is not an IPv4 address such as 203.0.113.7'],
      [['203.0.113.0/24'], 'ADDRESS 203.0.113.0/24 is not an IPv4 address'],
      [[], 'ADDRESS is missing: the client IPv4 address'],
      [['203.0.113.7', '203.0.113.8'], 'unexpected argument 203.0.113.8 (one ADDRESS at a time)'],
    ] as const) {
      const r = await unban(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain('usage: npm run unban -- [options] ADDRESS');
    }
  });

  it('a stack deployed with bans off is named, with the setting', async () => {
    const outputs = fleet.model.stacks.get('NlbFtp') as Record<string, string>;
    const { BanTableName, ...without } = outputs;
    fleet.model.stacks.set('NlbFtp', without);
    try {
      const r = await unban('203.0.113.7');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Stack NlbFtp has no bans table: it was deployed with bans.enabled=false');
    } finally {
      fleet.model.stacks.set('NlbFtp', { ...without, BanTableName });
    }
  });
});
