import * as os from 'node:os';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { runStatus } from '../../lib/cli/status';
import { AwsModel } from '../../sandbox/aws/model';
import { modelDynamoClient } from '../../sandbox/aws/sdk-mock';

const BAN_TABLE = 'NlbFtp-BanTableAA2440F5-1Q2W3E4R5T6Y';
const bansModel = new AwsModel();
bansModel.createTable(BAN_TABLE, ['pk', 'sk']);

const cfn = mockClient(CloudFormationClient);
const elb = mockClient(ElasticLoadBalancingV2Client);
const cw = mockClient(CloudWatchClient);
const asg = mockClient(AutoScalingClient);
const logs = mockClient(CloudWatchLogsClient);
// The unit project shares modules between files (isolate: false): leave no stub behind.
afterAll(() => {
  for (const m of [cfn, elb, cw, asg, logs]) m.restore();
});
const clients = {
  cfn: new CloudFormationClient({ region: 'eu-west-1' }),
  elb: new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }),
  cw: new CloudWatchClient({ region: 'eu-west-1' }),
  asg: new AutoScalingClient({ region: 'eu-west-1' }),
  logs: new CloudWatchLogsClient({ region: 'eu-west-1' }),
  // The bans table: the sandbox's AWS model behind a real DynamoDB client.
  ddb: modelDynamoClient(bansModel),
};
const TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/ctl/abc';
const SFTP_TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/sftp/def';
const NOW = new Date();

const outputs = {
  NlbDnsName: 'NlbFtp-abc.elb.eu-west-1.amazonaws.com',
  ElasticIps: '203.0.113.10,203.0.113.11',
  ControlTargetGroupArn: TG,
  Slot0Group: 'NlbFtp-slot0',
  Slot0Az: 'eu-west-1a',
  Slot0PassiveRange: '40000-40007',
  Slot1Group: 'NlbFtp-slot1',
  Slot1Az: 'eu-west-1b',
  Slot1PassiveRange: '40008-40015',
  BanTableName: BAN_TABLE,
};

type Instance = { id: string; state?: string; version?: string };

function cluster(opts: {
  registered: string[];
  alarms: Record<string, string>;
  probe: Record<number, number>;
  failedLogins?: number[];
  /** Each slot's instances; default one in-service instance on the group's version 3. */
  groups?: Record<number, Instance[]>;
  /** The audit trail's users-sync events (JSON lines). */
  syncEvents?: string[];
  /** A stack with SFTP: each instance's state in the SFTP target group. */
  sftp?: Record<string, string>;
}) {
  logs.on(FilterLogEventsCommand).resolves({ events: (opts.syncEvents ?? []).map((message) => ({ message })) });
  const groups = opts.groups ?? { 0: [{ id: 'i-0aaa' }], 1: [{ id: 'i-0bbb' }] };
  asg.on(DescribeAutoScalingGroupsCommand).resolves({
    AutoScalingGroups: Object.entries(groups).map(([slot, instances]) => ({
      AutoScalingGroupName: `NlbFtp-slot${slot}`,
      LaunchTemplate: { LaunchTemplateId: `lt-${slot}`, Version: '3' },
      MinSize: 1,
      MaxSize: 1,
      DesiredCapacity: 1,
      DefaultCooldown: 300,
      AvailabilityZones: ['eu-west-1a'],
      HealthCheckType: 'ELB',
      CreatedTime: NOW,
      Instances: instances.map((i) => ({
        InstanceId: i.id,
        LifecycleState: (i.state ?? 'InService') as 'InService',
        HealthStatus: 'Healthy',
        AvailabilityZone: 'eu-west-1a',
        ProtectedFromScaleIn: false,
        LaunchTemplate: { LaunchTemplateId: `lt-${slot}`, Version: i.version ?? '3' },
      })),
    })),
  });
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: 'NlbFtp',
        CreationTime: NOW,
        StackStatus: 'UPDATE_COMPLETE',
        Outputs: Object.entries({ ...outputs, ...(opts.sftp ? { SftpTargetGroupArn: SFTP_TG } : {}) }).map(([OutputKey, OutputValue]) => ({
          OutputKey,
          OutputValue,
        })),
      },
    ],
  });
  elb.on(DescribeTargetHealthCommand, { TargetGroupArn: TG }).resolves({
    TargetHealthDescriptions: opts.registered.map((Id) => ({ Target: { Id, Port: 21 }, TargetHealth: { State: 'healthy' } })),
  });
  elb.on(DescribeTargetHealthCommand, { TargetGroupArn: SFTP_TG }).resolves({
    TargetHealthDescriptions: Object.entries(opts.sftp ?? {}).map(([Id, State]) => ({
      Target: { Id, Port: 2222 },
      TargetHealth: { State: State as 'healthy' },
    })),
  });
  cw.on(DescribeAlarmsCommand).resolves({
    MetricAlarms: Object.entries(opts.alarms)
      .filter(([n]) => !/degraded|checker-broken/.test(n))
      .map(([n, s]) => ({ AlarmName: `NlbFtp-${n}`, StateValue: s as 'OK' })),
    CompositeAlarms: Object.entries(opts.alarms)
      .filter(([n]) => /degraded|checker-broken/.test(n))
      .map(([n, s]) => ({ AlarmName: `NlbFtp-${n}`, StateValue: s as 'OK' })),
  });
  cw.on(GetMetricDataCommand).callsFake((input: { MetricDataQueries?: Array<{ Id?: string }> }) =>
    input.MetricDataQueries?.[0]?.Id === 'failedLogins'
      ? // The audit trail's failed logins: 5-minute sums over the last hour.
        { MetricDataResults: [{ Id: 'failedLogins', Values: opts.failedLogins ?? [], Timestamps: [] }] }
      : {
          MetricDataResults: Object.entries(opts.probe).map(([slot, v]) => ({
            Id: `slot${slot}`,
            Values: [v],
            Timestamps: [new Date(Date.now() - 60_000)],
          })),
        },
  );
}

const allOk = {
  'slot0-ftp-login-failing': 'OK',
  'slot0-nlb-target-unhealthy': 'OK',
  'slot1-ftp-login-failing': 'OK',
  'slot1-nlb-target-unhealthy': 'OK',
  'too-few-healthy-backends': 'OK',
  'checker-broken': 'OK',
  'ftp-service-degraded': 'OK',
};

const rowOf = (out: string, slot: number) => out.split('\n').find((l) => l.startsWith(`${slot} `)) ?? '';

describe('npm run status', () => {
  beforeEach(() => {
    cfn.reset();
    elb.reset();
    cw.reset();
    asg.reset();
    logs.reset();
  });

  it("shows each backend's last users sync: users applied and skipped, each with its reason", async () => {
    const ev = (slot: number, time: string, event: string, extra: object) =>
      JSON.stringify({ time, event, stack: 'NlbFtp', slot, user: null, result: 'ok', reason: null, count: null, ...extra });
    cluster({
      registered: ['i-0aaa', 'i-0bbb'],
      alarms: allOk,
      probe: { 0: 1, 1: 1 },
      syncEvents: [
        ev(0, '2026-12-06T08:00:00.000Z', 'users-synced', { count: 3 }),
        ev(0, '2026-12-06T08:05:00.000Z', 'user-skipped', {
          user: 'cwagent',
          result: 'fail',
          reason: 'an account of that name already exists (UID 996)',
        }),
        ev(0, '2026-12-06T08:05:00.000Z', 'users-synced', { count: 2 }),
        ev(1, '2026-12-06T08:04:00.000Z', 'users-synced', { count: 3 }),
      ],
    });
    const r = await runStatus(['--stack', 'NlbFtp'], clients, os.tmpdir());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('  slot 0: 2 applied, 1 skipped: cwagent (an account of that name already exists (UID 996))');
    expect(r.stdout).toContain('  slot 1: 3 applied, 0 skipped');
    const input = logs.commandCalls(FilterLogEventsCommand)[0].args[0].input;
    expect(input.logGroupName).toBe('/nlb-ftp/NlbFtp/audit');
    expect(input.filterPattern).toContain('user-skipped');
  });

  it("with SFTP: a column of each slot's health in the SFTP target group, beside port 21's", async () => {
    cluster({
      registered: ['i-0aaa', 'i-0bbb'],
      alarms: allOk,
      probe: { 0: 1, 1: 1 },
      sftp: { 'i-0aaa': 'healthy', 'i-0bbb': 'unhealthy' },
    });
    const r = await runStatus(['--stack', 'NlbFtp'], clients, os.tmpdir());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^SLOT\s+AZ\s+INSTANCE\s+TEMPLATE\s+PASSIVE\s+NLB TARGET \(21\)\s+SFTP\s+LAST LOGIN PROBE\s+ALARMS$/m);
    expect(rowOf(r.stdout, 0)).toMatch(/^0\s+eu-west-1a\s+i-0aaa\s+v3\s+40000-40007\s+healthy\s+healthy\s+pass/);
    expect(rowOf(r.stdout, 1)).toMatch(/^1\s+eu-west-1b\s+i-0bbb\s+v3\s+40008-40015\s+healthy\s+unhealthy\s+pass/);
    expect(elb.commandCalls(DescribeTargetHealthCommand).map((c) => c.args[0].input.TargetGroupArn)).toContain(SFTP_TG);
  });

  it('shows a healthy cluster with every alarm OK', async () => {
    cluster({ registered: ['i-0aaa', 'i-0bbb'], alarms: allOk, probe: { 0: 1, 1: 1 } });
    const r = await runStatus(['--stack', 'NlbFtp'], clients, os.tmpdir());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^SLOT\s+AZ\s+INSTANCE\s+TEMPLATE\s+PASSIVE\s+NLB TARGET \(21\)\s+LAST LOGIN PROBE\s+ALARMS$/m);
    expect(rowOf(r.stdout, 0)).toMatch(/^0\s+eu-west-1a\s+i-0aaa\s+v3\s+40000-40007\s+healthy\s+pass \(1 min ago\)\s+OK$/);
    expect(rowOf(r.stdout, 1)).toMatch(/^1\s+eu-west-1b\s+i-0bbb\s+v3\s+40008-40015\s+healthy\s+pass \(1 min ago\)\s+OK$/);
    expect(r.stdout).toContain('Cluster: ftp-service-degraded OK, too-few-healthy-backends OK, checker-broken OK');
    expect(r.stdout).toContain('Failed logins in the last hour: 0 (audit log group /nlb-ftp/NlbFtp/audit names the clients)');
    expect(r.stdout).toContain('Endpoint: ftp://NlbFtp-abc.elb.eu-west-1.amazonaws.com/  (static IPs: 203.0.113.10,203.0.113.11)');
  });

  it('adds up the failed logins of the last hour, and shows the brute-force alarm with the cluster alarms', async () => {
    cluster({
      registered: ['i-0aaa', 'i-0bbb'],
      alarms: { ...allOk, 'ftp-failed-logins': 'ALARM' },
      probe: { 0: 1, 1: 1 },
      failedLogins: [4, 31, 2],
    });
    const r = await runStatus(['--stack', 'NlbFtp'], clients, os.tmpdir());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Failed logins in the last hour: 37 ');
    expect(r.stdout).toMatch(/Cluster: .*ftp-failed-logins ALARM/);
    const query = cw
      .commandCalls(GetMetricDataCommand)
      .map((c) => c.args[0].input)
      .find((i) => i.MetricDataQueries?.[0].Id === 'failedLogins');
    expect(query?.MetricDataQueries?.[0].MetricStat?.Metric).toEqual({
      Namespace: 'NlbFtp/Audit',
      MetricName: 'FailedLogins',
      Dimensions: [{ Name: 'Stack', Value: 'NlbFtp' }],
    });
    expect(Number(query?.EndTime) - Number(query?.StartTime)).toBe(3_600_000);
  });

  it('shows a deregistered backend, its failing probe and its alarm', async () => {
    cluster({
      registered: ['i-0aaa'],
      alarms: { ...allOk, 'slot1-ftp-login-failing': 'ALARM', 'ftp-service-degraded': 'ALARM' },
      probe: { 0: 1, 1: 0 },
    });
    const r = await runStatus(['--stack=NlbFtp'], clients, os.tmpdir());
    expect(r.code).toBe(0);
    expect(rowOf(r.stdout, 1)).toMatch(/deregistered\s+FAIL \(1 min ago\)\s+ALARM: ftp-login-failing$/);
    expect(rowOf(r.stdout, 0)).toMatch(/healthy\s+pass/);
    expect(r.stdout).toContain('ftp-service-degraded ALARM');
  });

  it('shows the current instance of each slot from its group, a replacement booting, and a slot a roll would update', async () => {
    cluster({
      registered: ['i-0new'],
      alarms: allOk,
      probe: { 0: 1, 1: 1 },
      groups: {
        0: [{ id: 'i-0new' }],
        1: [
          { id: 'i-0old', version: '2' },
          { id: 'i-0next', state: 'Pending:Wait' },
        ],
      },
    });
    const r = await runStatus(['--stack', 'NlbFtp'], clients, os.tmpdir());
    expect(r.code, r.stderr).toBe(0);
    expect(rowOf(r.stdout, 0)).toMatch(/^0\s+eu-west-1a\s+i-0new\s+v3\s+40000-40007\s+healthy/);
    expect(rowOf(r.stdout, 1)).toMatch(/^1\s+eu-west-1b\s+i-0old, i-0next Pending:Wait\s+v2 -> v3\s+40008-40015\s+deregistered/);
  });

  it('for a stack of the instance-based version: says to deploy this version first', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'NlbFtp',
          CreationTime: NOW,
          StackStatus: 'UPDATE_COMPLETE',
          Outputs: [
            { OutputKey: 'ControlTargetGroupArn', OutputValue: TG },
            { OutputKey: 'Slot0InstanceId', OutputValue: 'i-0aaa' },
          ],
        },
      ],
    });
    const r = await runStatus(['--stack', 'NlbFtp'], clients, os.tmpdir());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('still has instance-based backends');
  });

  it('without credentials: exits 1 with one sentence and no stack trace', async () => {
    const err = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    cfn.on(DescribeStacksCommand).rejects(err);
    const r = await runStatus([], clients, os.tmpdir());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'No AWS credentials found: configure them (aws configure, AWS_PROFILE or the AWS_* environment variables) and try again.\n',
    );
  });

  it('for a stack that does not exist: exits 1 naming it', async () => {
    cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' }));
    const r = await runStatus(['--stack', 'Nope'], clients, os.tmpdir());
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('Stack Nope does not exist');
    expect(r.stderr).not.toMatch(/\bat \w+ \(/);
  });

  it('rejects an unknown argument with exit 2, a did-you-mean and the usage', async () => {
    const r = await runStatus(['--stak', 'x'], clients, os.tmpdir());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown option --stak; did you mean --stack?');
    expect(r.stderr).toContain('usage: npm run status -- [options]');
  });
});

describe('npm run status: bans', () => {
  beforeEach(() => {
    for (const m of [cfn, elb, cw, asg, logs]) m.reset();
  });

  it('lists the bans in force, soonest end first, and never an ended one or a failure counter', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ban = (address: string, endsAt: number, slot: number) =>
      bansModel.putItem(BAN_TABLE, {
        pk: { S: 'ban' },
        sk: { S: address },
        endsAt: { N: String(endsAt) },
        failures: { N: '12' },
        slot: { N: String(slot) },
      });
    ban('198.51.100.9', now + 900, 1);
    ban('203.0.113.7', now + 300, 0);
    ban('192.0.2.1', now - 5, 0); // ended; DynamoDB's TTL deletes it some time later
    bansModel.updateItem(
      BAN_TABLE,
      { pk: { S: 'fail#192.0.2.44' }, sk: { S: String(now - (now % 60)) } },
      'ADD failures :n SET expiresAt = :exp',
      {
        ':n': { N: '3' },
        ':exp': { N: String(now + 660) },
      },
    );
    cluster({ registered: ['i-0aaa', 'i-0bbb'], alarms: allOk, probe: { 0: 1, 1: 1 } });
    const r = await runStatus(['--stack', 'NlbFtp'], clients, os.tmpdir());
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('Bans in force (2; lift one with npm run unban -- ADDRESS):'));
    expect(at, r.stdout).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(/^ {2}203\.0\.113\.7 {2}until \S+Z {2}\(12 failed logins; decided by slot 0\)$/);
    expect(lines[at + 2]).toMatch(/^ {2}198\.51\.100\.9 /);
    expect(r.stdout).not.toContain('192.0.2.');
  });
});
