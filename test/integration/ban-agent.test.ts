/**
 * The backends' ban agent (lib/backend/scripts/nlb-ftp-bans.py), run for real with python3 as two
 * backends would run it: each reads its own audit log and both share one bans table in the
 * sandbox's AWS endpoint (SigV4 checked, IAM enforced with the instance role's grant on that table
 * only), with credentials from the IMDSv2 stand-in. `iptables` and `iptables-restore` are stubs on
 * PATH that record what the agent asks of them (the booted drill in sandbox-e2e.test.ts uses the
 * real ones). One round per run (NLBFTP_BANS_ONCE=1); the agent keeps its state between runs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../harness/ftp-clients';
import { requireTools } from '../../harness/prerequisites';
import { SCRIPTS_DIR } from '../../lib/backend/user-data';
import type { AuditEvent } from '../../lib/shared/audit';
import { BAN_PARTITION, banOfItem, failurePartition } from '../../lib/shared/bans';
import { LocalAwsEndpoint } from '../../sandbox/aws/endpoint';
import { IamEnforcer } from '../../sandbox/aws/iam';
import { AwsModel } from '../../sandbox/aws/model';
import { LocalImds } from '../../sandbox/boot/imds';

const TABLE = 'NlbFtp-BanTable-TEST';
const TABLE_ARN = `arn:aws:dynamodb:eu-west-1:123456789012:table/${TABLE}`;
const AGENT = path.join(SCRIPTS_DIR, 'nlb-ftp-bans.py');
const ATTACKER = '198.18.1.2';
const CHECKER = '10.0.3.7';

describe('nlb-ftp-bans (the agent on every backend)', () => {
  let dir: string;
  const model = new AwsModel();
  const iam = new IamEnforcer({ region: 'eu-west-1', accountId: '123456789012' }, new Map());
  const grant = (actions: string[]) =>
    iam.setPolicies('BackendsRole', [
      {
        name: 'BackendsRoleDefaultPolicy',
        document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: [TABLE_ARN] }] },
      },
    ]);
  const endpoint = new LocalAwsEndpoint(model, iam);
  const imds = new LocalImds();
  let endpointUrl = '';
  let imdsUrl = '';
  const slotDir = (slot: number) => path.join(dir, `slot${slot}`);

  beforeAll(async () => {
    requireTools(['python3', 'curl'], { root: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-bans-'));
    grant(['dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:PutItem']);
    model.createTable(TABLE, ['pk', 'sk']);
    endpointUrl = await endpoint.start('127.0.0.1');
    imdsUrl = `http://127.0.0.1:${await imds.start('127.0.0.1')}`;
    imds.set('127.0.0.1', {
      instanceId: 'i-0bans',
      region: 'eu-west-1',
      availabilityZone: 'eu-west-1a',
      privateIp: '127.0.0.1',
      roleName: 'nlbftp-backends',
      credentials: endpoint.credentials.issue('BackendsRole', true),
    });
    fs.mkdirSync(path.join(dir, 'bin'));
    for (const slot of [0, 1]) {
      const d = slotDir(slot);
      fs.mkdirSync(d);
      // The stubs record each call; `iptables -S` answers as an empty chain would.
      fs.writeFileSync(
        path.join(d, 'settings.json'),
        JSON.stringify({
          version: 1,
          files: {},
          env: {
            BAN_TABLE: TABLE,
            BAN_FAILURES: 5,
            BAN_WINDOW_SECONDS: 600,
            BAN_SECONDS: 900,
            BAN_SYNC_SECONDS: 10,
            BAN_EXEMPT: '10.0.0.0/16 203.0.113.0/24',
            REGION: 'eu-west-1',
            URL_SUFFIX: 'amazonaws.com',
            SLOT: slot,
          },
        }),
      );
      fs.writeFileSync(path.join(d, 'audit.env'), `SERVER=vsftpd\nSTACK=NlbFtp\nSLOT=${slot}\nINSTANCE=i-0slot${slot}\n`);
      fs.writeFileSync(path.join(d, 'audit.log'), '');
    }
    fs.writeFileSync(
      path.join(dir, 'bin/iptables'),
      `#!/bin/bash\necho "iptables $*" >>"$NLBFTP_STUB_LOG"\n[ "$1" = -S ] && echo "-P $2 ACCEPT"\n[ "$1" = -D ] && exit 1\nexit 0\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(dir, 'bin/iptables-restore'), `#!/bin/bash\ncat >"$NLBFTP_STUB_CHAIN"\n`, { mode: 0o755 });
  });

  afterAll(async () => {
    await endpoint.stop();
    await imds.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const fail = (slot: number, ip: string, n: number) => {
    const line = (i: number) =>
      `${JSON.stringify({ time: new Date().toISOString(), event: 'login-failed', slot, clientIp: ip, user: null, result: 'fail', n: i })}\n`;
    fs.appendFileSync(path.join(slotDir(slot), 'audit.log'), Array.from({ length: n }, (_, i) => line(i)).join(''));
  };

  /** One round of slot's agent; what it printed and the chain it loaded (undefined: not reloaded). */
  async function round(slot: number) {
    const d = slotDir(slot);
    fs.rmSync(path.join(d, 'chain'), { force: true });
    const r = await run('python3', [AGENT], {
      env: {
        ...process.env,
        PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`,
        NLBFTP_SETTINGS_JSON: path.join(d, 'settings.json'),
        NLBFTP_AUDIT_LOG: path.join(d, 'audit.log'),
        NLBFTP_AUDIT_ENV: path.join(d, 'audit.env'),
        NLBFTP_STATE_DIR: path.join(d, 'state'),
        NLBFTP_LIB: SCRIPTS_DIR,
        NLBFTP_BANS_ONCE: '1',
        NLBFTP_STUB_LOG: path.join(d, 'iptables.log'),
        NLBFTP_STUB_CHAIN: path.join(d, 'chain'),
        AWS_ENDPOINT_URL: endpointUrl,
        AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl,
      },
    });
    const chainFile = path.join(d, 'chain');
    return {
      code: r.code,
      out: `${r.stdout}${r.stderr}`,
      chain: fs.existsSync(chainFile) ? fs.readFileSync(chainFile, 'utf8') : undefined,
    };
  }
  const events = (slot: number) =>
    fs
      .readFileSync(path.join(slotDir(slot), 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.event === 'ban' || e.event === 'unban');
  const bans = () =>
    model
      .query(TABLE, 'pk = :pk', { ':pk': { S: BAN_PARTITION } })
      .map((i) => banOfItem(i, Math.floor(Date.now() / 1000)))
      .filter(Boolean);

  it('first round: installs its chain first in INPUT and FORWARD, empty, and starts reading at the end of the log', async () => {
    fail(0, ATTACKER, 9); // before the agent ever ran: not counted
    for (const slot of [0, 1]) {
      const r = await round(slot);
      expect(r.code, r.out).toBe(0);
      expect(r.chain).toBe('*filter\n:NLBFTP-BANS - [0:0]\nCOMMIT\n');
      const calls = fs.readFileSync(path.join(slotDir(slot), 'iptables.log'), 'utf8');
      expect(calls).toContain('iptables -I INPUT 1 -p tcp -j NLBFTP-BANS');
      expect(calls).toContain('iptables -I FORWARD 1 -p tcp -j NLBFTP-BANS');
    }
    expect(model.query(TABLE, 'pk = :pk', { ':pk': { S: failurePartition(ATTACKER) } })).toEqual([]);
  });

  it('failures spread over two backends add up: the second backend to see them bans the address, once', async () => {
    fail(0, ATTACKER, 3);
    const first = await round(0);
    expect(first.code, first.out).toBe(0);
    expect(bans()).toEqual([]); // 3 of 5
    fail(1, ATTACKER, 2);
    const second = await round(1);
    expect(second.code, second.out).toBe(0);
    expect(second.out).toContain(`banned ${ATTACKER}: 5 failed logins in 600 s`);
    expect(second.chain).toContain(`-A NLBFTP-BANS -s ${ATTACKER}/32 -p tcp -j REJECT --reject-with tcp-reset`);
    expect(bans()).toEqual([expect.objectContaining({ address: ATTACKER, failures: 5, slot: 1 })]);
    const [ban] = events(1);
    expect(ban).toMatchObject({ event: 'ban', clientIp: ATTACKER, count: 5, slot: 1, stack: 'NlbFtp', instance: 'i-0slot1' });
    // The other backend loads it in its next round, and writes no event of its own.
    const other = await round(0);
    expect(other.chain).toContain(`-s ${ATTACKER}/32`);
    expect(events(0)).toEqual([]);
  });

  it('never counts or bans the VPC (the health checker) or neverBanCidrs, however often they fail', async () => {
    fail(0, CHECKER, 50);
    fail(0, '203.0.113.9', 50);
    const r = await round(0);
    expect(r.code, r.out).toBe(0);
    for (const ip of [CHECKER, '203.0.113.9'])
      expect(model.query(TABLE, 'pk = :pk', { ':pk': { S: failurePartition(ip) } }), ip).toEqual([]);
    expect(bans().map((b) => b?.address)).toEqual([ATTACKER]);
  });

  it('a ban lifted from the table (npm run unban) leaves every chain in one round; the deciding backend writes the unban', async () => {
    model.deleteItem(TABLE, { pk: { S: BAN_PARTITION }, sk: { S: ATTACKER } });
    const [zero, one] = [await round(0), await round(1)];
    expect(zero.chain).toBe('*filter\n:NLBFTP-BANS - [0:0]\nCOMMIT\n');
    expect(one.chain).toBe('*filter\n:NLBFTP-BANS - [0:0]\nCOMMIT\n');
    expect(events(1).map((e) => [e.event, e.reason])).toEqual([
      ['ban', '5 failed logins in 10 min over all backends; banned for 15 min'],
      ['unban', 'lifted before its end (npm run unban)'],
    ]);
    expect(events(0)).toEqual([]);
  });

  it('fails open when the table cannot be read: bans in force stay until their end, nothing new is banned, and it says so', async () => {
    fail(1, '198.18.1.3', 5);
    expect((await round(1)).chain).toContain('-s 198.18.1.3/32');
    grant(['dynamodb:UpdateItem']); // Query and PutItem now denied, as a broken policy or an outage would
    fail(1, '198.18.1.4', 5);
    const r = await round(1);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/cannot reach the bans table \(Query: AccessDeniedException .*dynamodb:Query.*\); failing open/);
    // (Each run restores the chain it knew at start, as a restarted agent does.) 198.18.1.3 is still
    // banned from what the agent knew; 198.18.1.4 is not, although it failed 5 times.
    expect(r.chain).toContain('-s 198.18.1.3/32');
    expect(r.chain).not.toContain('198.18.1.4');
    grant(['dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:PutItem']);
    const back = await round(1);
    expect(back.out).toContain('the bans table answers again');
  });
});
