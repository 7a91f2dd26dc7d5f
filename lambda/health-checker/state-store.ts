/**
 * Durable checker state: one DynamoDB item with the per-slot counters and a version number.
 * Writes are conditional on the version read, so two overlapping invocations can never both act
 * on the same round: the second one's write fails and it backs off.
 */
import { ConditionalCheckFailedException, type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { CounterState } from './decision';

export interface StoredState {
  readonly version: number;
  readonly counters: CounterState;
}

export interface StateStore {
  load(): Promise<StoredState>;
  /** Store `counters` as version `expected + 1`. Returns false if someone else wrote first. */
  save(expected: number, counters: CounterState): Promise<boolean>;
}

const KEY = { pk: { S: 'checker-state' } };

export class DynamoStateStore implements StateStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async load(): Promise<StoredState> {
    const out = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: KEY, ConsistentRead: true }));
    if (!out.Item) return { version: 0, counters: {} };
    return { version: Number(out.Item.version?.N ?? '0'), counters: JSON.parse(out.Item.counters?.S ?? '{}') as CounterState };
  }

  async save(expected: number, counters: CounterState): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { ...KEY, version: { N: String(expected + 1) }, counters: { S: JSON.stringify(counters) } },
          ConditionExpression: 'attribute_not_exists(pk) OR version = :v',
          ExpressionAttributeValues: { ':v': { N: String(expected) } },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException')
        return false;
      throw err;
    }
  }
}
