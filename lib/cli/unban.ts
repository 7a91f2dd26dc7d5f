/**
 * `npm run unban ADDRESS`: lift a ban before its end. Deletes the address's ban from the stack's
 * bans table and its failure counts (so its next typo does not ban it again at once); every
 * backend's ban agent drops it from its firewall chain at its next round (bans.syncSeconds). The
 * backend that decided the ban writes an `unban` audit event. No aws-cdk-lib import.
 */

import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { loadConfig } from '../config';
import { BAN_PARTITION, type Ban, failurePartition, isIpv4Address } from '../shared/bans';
import { OutputNames } from '../shared/names';
import { type CommandSpec, EXIT, explainAwsError, helpText, parseCommand, UsageError } from './command';
import { activeBans, defaultClients, FleetError, partitionItems, readStackOutputs } from './fleet';

/** Delete the address's ban (if any) and its failure counts; the ban that was lifted, if one was in force. */
export async function liftBan(ddb: DynamoDBClient, table: string, address: string, now = new Date()): Promise<Ban | undefined> {
  const ban = (await activeBans(ddb, table, now)).find((b) => b.address === address);
  await ddb.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: BAN_PARTITION }, sk: { S: address } } }));
  for (const counter of await partitionItems(ddb, table, failurePartition(address))) {
    await ddb.send(new DeleteItemCommand({ TableName: table, Key: { pk: counter.pk as never, sk: counter.sk as never } }));
  }
  return ban;
}

/** The stack's bans table from its outputs; an error naming the setting when the stack has none. */
export function banTableOf(outputs: Readonly<Record<string, string>>, stackName: string): string {
  const table = outputs[OutputNames.banTableName];
  if (!table)
    throw new FleetError(`Stack ${stackName} has no bans table: it was deployed with bans.enabled=false (or before bans existed).`);
  return table;
}

export const UNBAN_COMMAND: CommandSpec = {
  permissionsOf: 'unban',
  usage: 'npm run unban --',
  summary:
    'Lift the ban on a client address before its end: every backend accepts it again within bans.syncSeconds, and its failed logins are forgotten.',
  argument: { name: 'ADDRESS', help: 'the client IPv4 address, as `npm run status` lists it (e.g. 203.0.113.7)' },
  options: {
    stack: { type: 'string', value: 'NAME', help: 'the stack to change', default: 'stackName from nlb-ftp.config.json, else NlbFtp' },
  },
  examples: ['npm run unban -- 203.0.113.7', 'npm run unban -- 203.0.113.7 --stack NlbFtp2'],
};

export interface UnbanClients {
  readonly cfn: CloudFormationClient;
  readonly ddb: DynamoDBClient;
}

/** The whole command, without touching process. Exit 0 lifted (or nothing to lift), 1 failed, 2 usage. */
export async function runUnban(
  argv: readonly string[],
  clients?: UnbanClients,
  cwd = process.cwd(),
  now = new Date(),
): Promise<{ code: number; stdout: string; stderr: string }> {
  let parsed: ReturnType<typeof parseCommand>;
  try {
    parsed = parseCommand(UNBAN_COMMAND, argv);
    if (!parsed.help && !isIpv4Address(parsed.argument ?? ''))
      throw new UsageError(`ADDRESS ${parsed.argument} is not an IPv4 address such as 203.0.113.7`);
  } catch (err) {
    return { code: EXIT.usage, stdout: '', stderr: `${(err as Error).message}\n${helpText(UNBAN_COMMAND)}` };
  }
  if (parsed.help) return { code: EXIT.ok, stdout: helpText(UNBAN_COMMAND), stderr: '' };
  const address = parsed.argument as string;
  try {
    const stackName = (parsed.values.stack as string | undefined) ?? loadConfig({ context: {}, cwd }).stackName;
    const c = clients ?? { cfn: defaultClients().cfn, ddb: new DynamoDBClient({}) };
    const { outputs } = await readStackOutputs(c.cfn, stackName);
    const table = banTableOf(outputs, stackName);
    const ban = await liftBan(c.ddb, table, address, now);
    const stdout = ban
      ? `Lifted the ban on ${address} (${ban.failures} failed logins; it would have ended at ${new Date(ban.endsAt * 1000).toISOString()}). ` +
        'Every backend accepts it again at its next ban round (bans.syncSeconds); its failed logins are forgotten.\n'
      : `${address} was not banned; its failed logins, if any, are forgotten.\n`;
    return { code: EXIT.ok, stdout, stderr: '' };
  } catch (err) {
    return { code: EXIT.failed, stdout: '', stderr: `${explainAwsError(err)}\n` };
  }
}
