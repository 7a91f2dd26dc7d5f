/**
 * One checker at a time without reserved concurrency: the round lease in the state table, through
 * the real DynamoDB adapter against a mocked client (the conditions it sends), and the handler's
 * use of it (an overlapping invocation skips quietly: no rounds, no error, no page).
 */
import { ConditionalCheckFailedException, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type CheckerDeps, runRoundsUnderLease } from '../../lambda/health-checker/checker';
import { fixedLocator, slotsOf } from '../../lambda/health-checker/slot-locator';
import { DynamoRoundLease, type RoundLease } from '../../lambda/health-checker/state-store';
import { AwsModel } from '../../sandbox/aws/model';
import { modelDynamoClient } from '../../sandbox/aws/sdk-mock';

const ddb = mockClient(DynamoDBClient);
beforeEach(() => ddb.reset());
// The unit project shares modules between files (isolate: false): leave no stub behind.
afterAll(() => ddb.restore());

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

describe('DynamoRoundLease', () => {
  it('takes the lease only when nobody holds it or the holder has expired', async () => {
    ddb.on(PutItemCommand).resolves({});
    const lease = new DynamoRoundLease(new DynamoDBClient({}), 'T');
    expect(await lease.acquire('inv-1', 1_000, 76_000)).toBe(true);
    const input = ddb.commandCalls(PutItemCommand)[0].args[0].input;
    expect(input).toMatchObject({
      TableName: 'T',
      Item: { pk: { S: 'checker-lease' }, holder: { S: 'inv-1' }, expiresAt: { N: '76000' } },
      ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
      ExpressionAttributeValues: { ':now': { N: '1000' } },
    });
  });

  it('reports a lease held by another invocation as not acquired, not as an error', async () => {
    ddb.on(PutItemCommand).rejects(conditionFailed());
    expect(await new DynamoRoundLease(new DynamoDBClient({}), 'T').acquire('inv-2', 1_000, 76_000)).toBe(false);
  });

  it('passes any other error on (throttling is not "someone else holds it")', async () => {
    ddb.on(PutItemCommand).rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    await expect(new DynamoRoundLease(new DynamoDBClient({}), 'T').acquire('inv-3', 1, 2)).rejects.toThrow('slow down');
  });

  it('releases only its own lease, by expiring it (no DeleteItem permission needed)', async () => {
    ddb.on(PutItemCommand).rejects(conditionFailed());
    await new DynamoRoundLease(new DynamoDBClient({}), 'T').release('inv-1');
    expect(ddb.commandCalls(PutItemCommand)[0].args[0].input).toMatchObject({
      Item: { pk: { S: 'checker-lease' }, expiresAt: { N: '0' } },
      ConditionExpression: 'holder = :me',
      ExpressionAttributeValues: { ':me': { S: 'inv-1' } },
    });
  });
});

/**
 * The real lease on the AWS model's state table (sandbox/aws/model.ts): DynamoDB's condition
 * rules as the sandbox's endpoint and every other test see them, not a copy of them.
 */
function modelLease(): DynamoRoundLease & { readonly holder: string | undefined } {
  const model = new AwsModel();
  model.createTable('T');
  const lease = new DynamoRoundLease(modelDynamoClient(model), 'T');
  return Object.defineProperty(lease, 'holder', {
    get: () => model.getItem('T', { pk: { S: 'checker-lease' } })?.holder?.S,
  }) as DynamoRoundLease & {
    readonly holder: string | undefined;
  };
}

function deps(lease: RoundLease, logs: string[], counters: { heartbeats: number; probes: number }) {
  const inventory = [{ slot: 0, instanceId: 'i-0', privateIp: '10.0.0.10' }];
  const d: CheckerDeps & { lease: RoundLease } = {
    lease,
    registry: { describe: async () => new Map([['i-0', 'healthy']]), register: async () => undefined, deregister: async () => undefined },
    locator: fixedLocator(inventory),
    store: { load: async () => ({ version: 0, counters: {} }), save: async () => true },
    credentials: { get: async () => ({ username: 'u', password: 'p' }), invalidate() {} },
    probe: async (t) => {
      counters.probes++;
      return { slot: t.slot, ok: true, step: 'quit', latencyMs: 1 };
    },
    log: {
      info: (m) => void logs.push(`INFO ${m}`),
      warn: (m) => void logs.push(`WARN ${m}`),
      error: (m) => void logs.push(`ERROR ${m}`),
    },
    metrics: {
      probe() {},
      round() {},
      heartbeat() {
        counters.heartbeats++;
      },
      flush() {},
    },
  };
  return { d, settings: { slots: slotsOf(inventory), thresholds: { fall: 2, rise: 2 }, intervalMs: 10_000, stepTimeoutMs: 5_000 } };
}

describe('checker rounds under the lease', () => {
  it('an invocation that overlaps another skips quietly: no rounds, no probe, no error line', async () => {
    const lease = modelLease();
    await lease.acquire('earlier', Date.now(), Date.now() + 60_000);
    const logs: string[] = [];
    const c = { heartbeats: 0, probes: 0 };
    const { d, settings } = deps(lease, logs, c);
    const out = await runRoundsUnderLease(d, settings, 1_000, 'later');
    expect(out).toEqual({ outcomes: [], skipped: true });
    expect(c.probes).toBe(0);
    expect(logs).toEqual(['INFO another invocation holds the round lease; skipping']);
  });

  it('the holder runs its rounds and gives the lease back, so the next invocation runs at once', async () => {
    const lease = modelLease();
    const logs: string[] = [];
    const c = { heartbeats: 0, probes: 0 };
    const { d, settings } = deps(lease, logs, c);
    const first = await runRoundsUnderLease(d, settings, 1_000, 'one');
    expect(first.skipped).toBe(false);
    expect(first.outcomes).toHaveLength(1);
    expect(c.heartbeats).toBe(1);
    const second = await runRoundsUnderLease(d, settings, 1_000, 'two');
    expect(second.skipped).toBe(false);
    expect(lease.holder).toBe('two');
    expect(logs.filter((l) => l.startsWith('ERROR'))).toEqual([]);
  });

  it('a holder that died keeps others out only until its lease expires (budget plus grace)', async () => {
    const lease = modelLease();
    const t0 = 1_000_000;
    const logs: string[] = [];
    const c = { heartbeats: 0, probes: 0 };
    const { d, settings } = deps(lease, logs, c);
    await lease.acquire('dead', t0, t0 + 75_000);
    expect((await runRoundsUnderLease({ ...d, now: () => t0 + 74_000 }, settings, 1_000, 'a')).skipped).toBe(true);
    expect((await runRoundsUnderLease({ ...d, now: () => t0 + 76_000 }, settings, 1_000, 'b')).skipped).toBe(false);
  });
});
