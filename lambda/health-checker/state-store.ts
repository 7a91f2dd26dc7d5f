/**
 * Durable checker state: one DynamoDB item with the per-slot counters and a version number.
 * Writes are conditional on the version read, so two overlapping invocations can never both act
 * on the same round: the second one's write fails and it backs off.
 *
 * A second item is the round lease: the invocation that holds it runs rounds; one that finds it
 * held (an earlier invocation still inside its budget) skips quietly. That keeps one checker at a
 * time without reserved concurrency, which accounts with a concurrency quota of 10 cannot grant.
 */
import { ConditionalCheckFailedException, type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { CounterState } from './decision';

export interface StoredState {
  readonly version: number;
  /** Port 21's counters. */
  readonly counters: CounterState;
  /** With SFTP: the SFTP probe's counters, which decide the SFTP target group. */
  readonly sftpCounters?: CounterState;
}

export interface StateStore {
  load(): Promise<StoredState>;
  /** Store the counters as version `expected + 1`. Returns false if someone else wrote first. */
  save(expected: number, counters: CounterState, sftpCounters?: CounterState): Promise<boolean>;
}

/** The round lease: at most one holder until its expiry (epoch ms). */
export interface RoundLease {
  /** Take the lease until `untilMs` unless another holder's lease is still in force at `nowMs`. */
  acquire(holder: string, nowMs: number, untilMs: number): Promise<boolean>;
  /** Give it back early (only if still ours), so the next invocation need not wait for expiry. */
  release(holder: string): Promise<void>;
}

const KEY = { pk: { S: 'checker-state' } };
const LEASE_KEY = { pk: { S: 'checker-lease' } };

function conditionFailed(err: unknown): boolean {
  return err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException';
}

export class DynamoRoundLease implements RoundLease {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async acquire(holder: string, nowMs: number, untilMs: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { ...LEASE_KEY, holder: { S: holder }, expiresAt: { N: String(untilMs) } },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': { N: String(nowMs) } },
        }),
      );
      return true;
    } catch (err) {
      if (conditionFailed(err)) return false;
      throw err;
    }
  }

  async release(holder: string): Promise<void> {
    try {
      // An expired lease, not a deleted item: the same PutItem permission, no DeleteItem grant.
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { ...LEASE_KEY, holder: { S: holder }, expiresAt: { N: '0' } },
          ConditionExpression: 'holder = :me',
          ExpressionAttributeValues: { ':me': { S: holder } },
        }),
      );
    } catch (err) {
      if (!conditionFailed(err)) throw err;
    }
  }
}

export class DynamoStateStore implements StateStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async load(): Promise<StoredState> {
    const out = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: KEY, ConsistentRead: true }));
    if (!out.Item) return { version: 0, counters: {} };
    return {
      version: Number(out.Item.version?.N ?? '0'),
      counters: JSON.parse(out.Item.counters?.S ?? '{}') as CounterState,
      sftpCounters: out.Item.sftpCounters?.S ? (JSON.parse(out.Item.sftpCounters.S) as CounterState) : undefined,
    };
  }

  async save(expected: number, counters: CounterState, sftpCounters?: CounterState): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            ...KEY,
            version: { N: String(expected + 1) },
            counters: { S: JSON.stringify(counters) },
            ...(sftpCounters ? { sftpCounters: { S: JSON.stringify(sftpCounters) } } : {}),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR version = :v',
          ExpressionAttributeValues: { ':v': { N: String(expected) } },
        }),
      );
      return true;
    } catch (err) {
      if (conditionFailed(err)) return false;
      throw err;
    }
  }
}
