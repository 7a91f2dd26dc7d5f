/**
 * `npm run status`: one table of a deployed stack's backends (slot, AZ, current instance, launch
 * template version, passive range, NLB target health on port 21 and SFTP, last login probe, alarm state), then the
 * cluster alarms and the endpoint. Reads CloudFormation outputs, the slots' Auto Scaling groups,
 * ELBv2 target health and CloudWatch alarms and metrics.
 * No aws-cdk-lib import: it runs against a deployed stack, not a synthesized one.
 */
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { loadConfig } from '../config';
import { AUDIT_FILTERS, AUDIT_METRIC_NAMESPACE, auditLogGroupName } from '../shared/audit';
import type { Ban } from '../shared/bans';
import { CONTROL_PORT, MetricNames } from '../shared/contract';
import { AlarmNames, CLUSTER_ALARMS, OutputNames } from '../shared/names';
import { type CommandSpec, EXIT, explainAwsError, helpText, parseCommand } from './command';
import { activeBans, defaultClients, describeSlotGroups, readStackOutputs } from './fleet';

export interface StatusClients {
  readonly cfn: CloudFormationClient;
  readonly elb: ElasticLoadBalancingV2Client;
  readonly cw: CloudWatchClient;
  readonly asg: AutoScalingClient;
  readonly logs: CloudWatchLogsClient;
  /** The bans table's reads. */
  readonly ddb: DynamoDBClient;
}

export interface BackendStatus {
  readonly slot: number;
  readonly az: string;
  /** The slot's instance(s) now: `i-... v3`, with the lifecycle state unless in service. */
  readonly instance: string;
  /** `v3`, or `v2 -> v3` when a roll would move the slot to a newer launch template version. */
  readonly template: string;
  readonly passiveRange: string;
  readonly targetHealth: string;
  /** Its health in the SFTP target group; undefined when the stack has no SFTP. */
  readonly sftpHealth?: string;
  readonly lastProbe: string;
  readonly alarms: string;
  /** The backend's last users sync: users applied and skipped, each skipped one with its reason. */
  readonly users:
    | { readonly applied: number; readonly skipped: ReadonlyArray<{ readonly user: string; readonly reason: string }> }
    | undefined;
}

export interface StatusReport {
  readonly stackName: string;
  readonly endpoint: string;
  readonly staticIps: string;
  readonly backends: readonly BackendStatus[];
  readonly clusterAlarms: ReadonlyArray<{ readonly name: string; readonly state: string }>;
  /** Failed FTP logins over all backends in the last hour (the audit trail's metric filter). */
  readonly failedLoginsLastHour: number;
  /** The bans in force; undefined when the stack has no bans table (bans.enabled false). */
  readonly bans: readonly Ban[] | undefined;
}

/** An expected failure: printed as one sentence, never with a stack trace. */
export { FleetError as StatusError } from './fleet';

export async function collectStatus(clients: StatusClients, stackName: string, now = new Date()): Promise<StatusReport> {
  const stack = await readStackOutputs(clients.cfn, stackName);
  const { outputs, slots } = stack;

  const banTable = outputs[OutputNames.banTableName];
  const sftpArn = outputs[OutputNames.sftpTargetGroupArn];
  const [groups, health, sftpHealth, alarms, probes, failedLogins, syncs, bans] = await Promise.all([
    describeSlotGroups(clients.asg, stack),
    clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: outputs[OutputNames.controlTargetGroupArn] })),
    sftpArn ? clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: sftpArn })) : undefined,
    clients.cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: `${stackName}-`, AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] })),
    clients.cw.send(
      new GetMetricDataCommand({
        StartTime: new Date(now.getTime() - 10 * 60_000),
        EndTime: now,
        ScanBy: 'TimestampDescending',
        MetricDataQueries: slots.map((slot) => ({
          Id: `slot${slot}`,
          MetricStat: {
            Metric: {
              Namespace: MetricNames.namespace,
              MetricName: MetricNames.probeSuccess,
              Dimensions: [
                { Name: 'service', Value: stackName },
                { Name: 'Slot', Value: String(slot) },
              ],
            },
            Period: 60,
            Stat: 'Minimum',
          },
        })),
      }),
    ),
    clients.cw.send(
      new GetMetricDataCommand({
        StartTime: new Date(now.getTime() - 60 * 60_000),
        EndTime: now,
        MetricDataQueries: [
          {
            Id: 'failedLogins',
            MetricStat: {
              Metric: {
                Namespace: AUDIT_METRIC_NAMESPACE,
                MetricName: AUDIT_FILTERS.failedLogins.metric,
                Dimensions: [{ Name: 'Stack', Value: stackName }],
              },
              Period: 300,
              Stat: 'Sum',
            },
          },
        ],
      }),
    ),
    // Each backend's users syncs (every 5 minutes) of the last 15 minutes, from the audit trail.
    clients.logs.send(
      new FilterLogEventsCommand({
        logGroupName: auditLogGroupName(stackName),
        startTime: now.getTime() - 15 * 60_000,
        endTime: now.getTime(),
        filterPattern: USERS_SYNC_PATTERN,
        limit: 10_000,
      }),
    ),
    banTable ? activeBans(clients.ddb, banTable, now) : undefined,
  ]);

  const targetState = new Map<string, string>();
  for (const d of health.TargetHealthDescriptions ?? []) {
    if (d.Target?.Id && d.Target.Port === CONTROL_PORT) targetState.set(d.Target.Id, d.TargetHealth?.State ?? 'unknown');
  }
  // The SFTP group has one port (the backends' SFTP port): every target in it is the instance's.
  const sftpState = new Map<string, string>();
  for (const d of sftpHealth?.TargetHealthDescriptions ?? []) {
    if (d.Target?.Id) sftpState.set(d.Target.Id, d.TargetHealth?.State ?? 'unknown');
  }
  const alarmState = new Map<string, string>();
  for (const a of [...(alarms.MetricAlarms ?? []), ...(alarms.CompositeAlarms ?? [])]) {
    if (a.AlarmName) alarmState.set(a.AlarmName, a.StateValue ?? 'UNKNOWN');
  }
  const lastProbe = new Map<number, string>();
  for (const r of probes.MetricDataResults ?? []) {
    const slot = Number((r.Id ?? '').replace('slot', ''));
    const value = r.Values?.[0];
    const at = r.Timestamps?.[0];
    if (value === undefined || !at) {
      lastProbe.set(slot, 'no data');
    } else {
      const mins = Math.max(0, Math.round((now.getTime() - new Date(at).getTime()) / 60_000));
      lastProbe.set(slot, `${value >= 1 ? 'pass' : 'FAIL'} (${mins} min ago)`);
    }
  }

  const users = lastUsersSync((syncs.events ?? []).map((e) => e.message ?? ''));
  const backends = groups.map(({ slot, instances, version }): BackendStatus => {
    const serving = instances.find((i) => i.lifecycle === 'InService') ?? instances[0];
    const instance =
      instances.length === 0
        ? 'none (launching)'
        : instances.map((i) => `${i.id}${i.lifecycle === 'InService' ? '' : ` ${i.lifecycle}`}`).join(', ');
    const template =
      !serving?.version || !version || serving.version === version ? `v${version ?? '?'}` : `v${serving.version} -> v${version}`;
    const prefix = AlarmNames.slotPrefix(stackName, slot);
    const mine = [...alarmState].filter(([name]) => name.startsWith(prefix));
    const firing = mine.filter(([, s]) => s === 'ALARM').map(([n]) => n.replace(prefix, ''));
    return {
      slot,
      az: outputs[OutputNames.slotAz(slot)] ?? '?',
      instance,
      template,
      passiveRange: outputs[OutputNames.slotPassiveRange(slot)] ?? '?',
      targetHealth: serving ? (targetState.get(serving.id) ?? 'deregistered') : 'no instance',
      sftpHealth: sftpArn === undefined ? undefined : serving ? (sftpState.get(serving.id) ?? 'deregistered') : 'no instance',
      lastProbe: lastProbe.get(slot) ?? 'no data',
      alarms: mine.length === 0 ? 'none' : firing.length === 0 ? 'OK' : `ALARM: ${firing.join(', ')}`,
      users: users.get(slot),
    };
  });

  return {
    stackName,
    endpoint: outputs[OutputNames.nlbDnsName] ?? '?',
    staticIps: outputs[OutputNames.elasticIps] ?? '?',
    backends,
    clusterAlarms: CLUSTER_ALARMS.map((nameOf) => nameOf(stackName))
      .filter((n) => alarmState.has(n))
      .map((n) => ({ name: n.slice(stackName.length + 1), state: alarmState.get(n) as string })),
    failedLoginsLastHour: (failedLogins.MetricDataResults?.[0]?.Values ?? []).reduce((a, b) => a + b, 0),
    bans,
  };
}

/** The audit events of a users sync: its summary and each user it skipped. */
export const USERS_SYNC_PATTERN = '{ $.event = "users-synced" || $.event = "user-skipped" }';

/**
 * Each slot's last users sync from its audit events (JSON lines): the `users-synced` summary with
 * the most recent time, and the `user-skipped` events of that same sync (the same `time`).
 */
export function lastUsersSync(lines: readonly string[]): Map<number, NonNullable<BackendStatus['users']>> {
  type Ev = { time: string; event: string; slot: number; user: string | null; count: number | null; reason: string | null };
  const events = lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Ev];
    } catch {
      return [];
    }
  });
  const latest = new Map<number, Ev>();
  for (const e of events) {
    if (e.event === 'users-synced' && !(e.time <= (latest.get(e.slot)?.time ?? ''))) latest.set(e.slot, e);
  }
  const out = new Map<number, NonNullable<BackendStatus['users']>>();
  for (const [slot, sync] of latest) {
    const skipped = events
      .filter((x) => x.event === 'user-skipped' && x.slot === slot && x.time === sync.time)
      .map((x) => ({ user: x.user ?? '(an invalid name)', reason: x.reason ?? '?' }));
    out.set(slot, { applied: sync.count ?? 0, skipped });
  }
  return out;
}

/** `1961 applied, 41 skipped: user00123 (its UID ... is taken ...); ... and 38 more`. */
function usersLine(u: BackendStatus['users']): string {
  if (!u) return 'no users sync in the last 15 minutes';
  const shown = u.skipped.slice(0, 3).map((s) => `${s.user} (${s.reason})`);
  const more = u.skipped.length > 3 ? `; and ${u.skipped.length - 3} more` : '';
  return `${u.applied} applied, ${u.skipped.length} skipped${shown.length ? `: ${shown.join('; ')}${more}` : ''}`;
}

/** The bans in force, one line each, with how to lift one. */
function bansLines(bans: StatusReport['bans']): string[] {
  if (bans === undefined) return ['Bans: off (bans.enabled is false)'];
  if (bans.length === 0) return ['Bans: none in force'];
  return [
    `Bans in force (${bans.length}; lift one with npm run unban -- ADDRESS):`,
    ...bans.map(
      (b) =>
        `  ${b.address}  until ${new Date(b.endsAt * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')}  (${b.failures} failed logins; decided by slot ${b.slot})`,
    ),
  ];
}

export function renderStatus(r: StatusReport): string {
  // The SFTP column only for a stack with SFTP (its target group's health, beside port 21's).
  const sftp = r.backends.some((b) => b.sftpHealth !== undefined);
  const header = [
    'SLOT',
    'AZ',
    'INSTANCE',
    'TEMPLATE',
    'PASSIVE',
    'NLB TARGET (21)',
    ...(sftp ? ['SFTP'] : []),
    'LAST LOGIN PROBE',
    'ALARMS',
  ];
  const rows = r.backends.map((b) => [
    String(b.slot),
    b.az,
    b.instance,
    b.template,
    b.passiveRange,
    b.targetHealth,
    ...(sftp ? [b.sftpHealth ?? '?'] : []),
    b.lastProbe,
    b.alarms,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [
    `nlb-ftp stack ${r.stackName}`,
    '',
    line(header),
    ...rows.map(line),
    '',
    "FTP users (each backend's last sync):",
    ...r.backends.map((b) => `  slot ${b.slot}: ${usersLine(b.users)}`),
    `Cluster: ${r.clusterAlarms.map((a) => `${a.name} ${a.state}`).join(', ') || 'no alarms found'}`,
    `Failed logins in the last hour: ${r.failedLoginsLastHour} (audit log group ${auditLogGroupName(r.stackName)} names the clients)`,
    ...bansLines(r.bans),
    `Endpoint: ftp://${r.endpoint}/  (static IPs: ${r.staticIps})`,
    '',
  ].join('\n');
}

/** One sentence for the errors people actually hit (shared by every command). */
export const explain = explainAwsError;

export interface StatusRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export const STATUS_COMMAND: CommandSpec = {
  permissionsOf: 'status',
  usage: 'npm run status --',
  summary:
    "The health of a deployed nlb-ftp stack: each slot's instance, template version, NLB health (port 21 and SFTP), last login probe and alarms.",
  options: {
    stack: { type: 'string', value: 'NAME', help: 'the stack to read', default: 'stackName from nlb-ftp.config.json, else NlbFtp' },
  },
  examples: ['npm run status', 'npm run status -- --stack NlbFtp2'],
};

/** The whole command, without touching process: testable with mocked SDK clients. Exit 0 ok, 1 failed, 2 usage. */
export async function runStatus(argv: readonly string[], clients?: StatusClients, cwd = process.cwd()): Promise<StatusRun> {
  let parsed: ReturnType<typeof parseCommand>;
  try {
    parsed = parseCommand(STATUS_COMMAND, argv);
  } catch (err) {
    return { code: EXIT.usage, stdout: '', stderr: `${(err as Error).message}\n${helpText(STATUS_COMMAND)}` };
  }
  if (parsed.help) return { code: EXIT.ok, stdout: helpText(STATUS_COMMAND), stderr: '' };
  try {
    const stackName = (parsed.values.stack as string | undefined) ?? loadConfig({ context: {}, cwd }).stackName;
    const c = clients ?? {
      ...defaultClients(),
      elb: new ElasticLoadBalancingV2Client({}),
      cw: new CloudWatchClient({}),
      logs: new CloudWatchLogsClient({}),
      ddb: new DynamoDBClient({}),
    };
    return { code: EXIT.ok, stdout: renderStatus(await collectStatus(c, stackName)), stderr: '' };
  } catch (err) {
    return { code: EXIT.failed, stdout: '', stderr: `${explain(err)}\n` };
  }
}
