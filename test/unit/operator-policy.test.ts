/**
 * The operator's least-privilege policy (lib/cli/operator-policy.ts, shipped as
 * iam/operator-policy.json): each command runs with exactly that policy, every call evaluated by
 * the sandbox's IAM engine (sandbox/aws/iam.ts) and every one allowed, and every action of the
 * command's statements used; with any one statement removed, the command stops with its one
 * sentence naming the missing action.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { POLICY_FILE, policyFileText } from '../../bin/operator-policy';
import { helpText } from '../../lib/cli/command';
import { OPERATOR_PERMISSIONS, type OperatorCommand, operatorPolicy } from '../../lib/cli/operator-policy';
import { PREFLIGHT_COMMAND, runPreflight } from '../../lib/cli/preflight';
import { ROLL_COMMAND, runRoll } from '../../lib/cli/roll';
import { runStatus, STATUS_COMMAND } from '../../lib/cli/status';
import { runUnban, UNBAN_COMMAND } from '../../lib/cli/unban';
import { IamEnforcer } from '../../sandbox/aws/iam';
import { withIam } from '../../sandbox/aws/sdk-iam';
import { FAKE_BAN_TABLE, FakeFleet } from '../helpers/fake-fleet';
import { readyAccount } from '../helpers/ready-account';

const OPERATOR = 'NlbFtpOperator';
const where = { region: 'eu-west-1', accountId: '123456789012' };

/** An IAM engine where the operator holds exactly the shipped policy, less `omit`. */
function operatorIam(omit: readonly string[] = []): IamEnforcer {
  const iam = new IamEnforcer(where, new Map());
  iam.setPolicies(OPERATOR, [{ name: 'nlb-ftp-operator', document: operatorPolicy('NlbFtp', omit) }]);
  return iam;
}

let restore: Array<() => void> = [];
afterEach(() => {
  for (const r of restore) r();
  restore = [];
});

/** Run one command against a fake deployed stack (or a ready account, for preflight) as the operator. */
async function run(command: OperatorCommand, iam: IamEnforcer, neverHealthy = false): Promise<{ code: number; out: string }> {
  if (command === 'preflight') {
    const stubs = {
      cfn: mockClient(CloudFormationClient),
      ec2: mockClient(EC2Client),
      elb: mockClient(ElasticLoadBalancingV2Client),
      lambda: mockClient(LambdaClient),
      ssm: mockClient(SSMClient),
    };
    restore.push(() => {
      for (const s of Object.values(stubs)) s.restore();
    });
    readyAccount(stubs);
    const guard = <C extends Parameters<typeof withIam>[0]>(c: C): C => withIam(c, iam, OPERATOR);
    const r = await runPreflight(
      [],
      {
        cfn: guard(new CloudFormationClient(where)),
        ec2: guard(new EC2Client(where)),
        elb: guard(new ElasticLoadBalancingV2Client(where)),
        lambda: guard(new LambdaClient(where)),
        ssm: guard(new SSMClient(where)),
      },
      os.tmpdir(),
    );
    return { code: r.code, out: r.stdout + r.stderr };
  }
  const fleet = new FakeFleet(2, 1, '4', '5');
  restore.push(() => fleet.restore());
  if (neverHealthy) fleet.newTargetHealth = () => 'unhealthy';
  const groupOfInstance = (id: string) => [...fleet.model.groups.values()].find((g) => g.instances.some((i) => i.id === id))?.name;
  const c = fleet.clients;
  const guarded = {
    cfn: withIam(c.cfn, iam, OPERATOR),
    asg: withIam(c.asg, iam, OPERATOR, { groupOfInstance }),
    elb: withIam(c.elb, iam, OPERATOR),
    ec2: withIam(c.ec2, iam, OPERATOR),
  };
  if (command === 'unban') {
    const endsAt = String(Math.floor(Date.now() / 1000) + 600);
    fleet.model.putItem(FAKE_BAN_TABLE, { pk: { S: 'ban' }, sk: { S: '203.0.113.7' }, endsAt: { N: endsAt }, failures: { N: '10' } });
    const r = await runUnban(['203.0.113.7', '--stack', 'NlbFtp'], { cfn: guarded.cfn, ddb: withIam(c.ddb, iam, OPERATOR) }, os.tmpdir());
    return { code: r.code, out: r.stdout + r.stderr };
  }
  if (command === 'roll') {
    let now = 0;
    const r = await runRoll(
      ['--stack', 'NlbFtp'],
      {
        log: () => undefined,
        sleep: async (ms) => {
          now += ms;
        },
        now: () => now,
      },
      guarded,
      os.tmpdir(),
    );
    return { code: r.code, out: r.output };
  }
  const cw = mockClient(CloudWatchClient);
  const logs = mockClient(CloudWatchLogsClient);
  restore.push(
    () => cw.restore(),
    () => logs.restore(),
  );
  cw.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], CompositeAlarms: [] });
  cw.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
  logs.on(FilterLogEventsCommand).resolves({ events: [] });
  const r = await runStatus(
    ['--stack', 'NlbFtp'],
    {
      cfn: guarded.cfn,
      asg: guarded.asg,
      elb: guarded.elb,
      cw: withIam(new CloudWatchClient(where), iam, OPERATOR),
      logs: withIam(new CloudWatchLogsClient(where), iam, OPERATOR),
      ddb: withIam(c.ddb, iam, OPERATOR),
    },
    os.tmpdir(),
  );
  return { code: r.code, out: r.stdout + r.stderr };
}

const COMMANDS: readonly OperatorCommand[] = ['status', 'roll', 'preflight', 'unban'];

describe('the operator policy', () => {
  it('iam/operator-policy.json is the policy the source generates (npm run operator-policy)', () => {
    expect(fs.readFileSync(POLICY_FILE, 'utf8')).toBe(policyFileText());
  });

  it.each(COMMANDS)('npm run %s with exactly that policy: every call allowed, every action of its statements used', async (command) => {
    const iam = operatorIam();
    const r = await run(command, iam);
    expect(r.code, r.out).toBe(0);
    expect(iam.decisions.length).toBeGreaterThan(0);
    expect(iam.decisions.filter((d) => !d.allowed)).toEqual([]);
    // The roll's undo path (a new instance the NLB never reports healthy: swap back) makes calls the happy path does not.
    if (command === 'roll') {
      const failed = await run(command, iam, true);
      expect(failed.code, failed.out).toBe(1);
      expect(failed.out).toContain('swapped back');
      expect(iam.decisions.filter((d) => !d.allowed)).toEqual([]);
    }
    const used = new Set(iam.decisions.map((d) => d.action));
    const needed = OPERATOR_PERMISSIONS.filter((p) => p.usedBy.includes(command)).flatMap((p) => p.actions);
    expect([...used].sort(), r.out).toEqual([...new Set(needed)].sort());
  });

  const cases = OPERATOR_PERMISSIONS.flatMap((p) =>
    p.usedBy.map((command): [string, OperatorCommand, readonly string[]] => [p.sid, command, p.actions]),
  );
  it.each(cases)('without %s, npm run %s stops and names the action it may not call', async (sid, command, actions) => {
    const iam = operatorIam([sid]);
    const r = await run(command, iam);
    expect(r.code, r.out).not.toBe(0);
    const denied = iam.decisions.filter((d) => !d.allowed);
    expect(denied.length).toBeGreaterThan(0);
    expect(actions).toContain(denied[0].action);
    expect(r.out).toContain(`Access denied: your AWS identity may not call ${denied[0].action}`);
  });

  it("each command's --help lists the actions it needs", () => {
    for (const [command, spec] of [
      ['status', STATUS_COMMAND],
      ['roll', ROLL_COMMAND],
      ['preflight', PREFLIGHT_COMMAND],
      ['unban', UNBAN_COMMAND],
    ] as const) {
      const help = helpText(spec);
      for (const p of OPERATOR_PERMISSIONS.filter((x) => x.usedBy.includes(command))) {
        for (const a of p.actions) expect(help, `${command} --help`).toContain(a);
      }
    }
  });
});
