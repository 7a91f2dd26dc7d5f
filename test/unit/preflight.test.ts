/**
 * `npm run preflight` against mocked SDK clients: a ready account passes every check; each problem
 * a first deploy would hit is named with what to do; AWS errors are one sentence; and the AMI it
 * checks is the one the template resolves.
 */
import * as os from 'node:os';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeAddressesCommand, DescribeInstanceTypeOfferingsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeTargetGroupsCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { synth } from '../../harness/synth';
import { needs, runPreflight } from '../../lib/cli/preflight';
import { parseConfig } from '../../lib/config';
import { isArmInstanceType } from '../../lib/config/instance-types';
import { amiParameter } from '../../lib/shared/images';
import { notExist, readyAccount } from '../helpers/ready-account';

const cfn = mockClient(CloudFormationClient);
const ec2 = mockClient(EC2Client);
const elb = mockClient(ElasticLoadBalancingV2Client);
const lambda = mockClient(LambdaClient);
const ssm = mockClient(SSMClient);
const clients = {
  cfn: new CloudFormationClient({ region: 'eu-west-1' }),
  ec2: new EC2Client({ region: 'eu-west-1' }),
  elb: new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }),
  lambda: new LambdaClient({ region: 'eu-west-1' }),
  ssm: new SSMClient({ region: 'eu-west-1' }),
};

beforeEach(() => {
  for (const m of [cfn, ec2, elb, lambda, ssm]) m.reset();
  readyAccount({ cfn, ec2, elb, lambda, ssm });
});
// The unit project shares modules between files (isolate: false): leave no stub behind.
afterAll(() => {
  for (const m of [cfn, ec2, elb, lambda, ssm]) m.restore();
});

const run = (argv: string[] = []) => runPreflight(argv, clients, os.tmpdir());

describe('npm run preflight', () => {
  it('passes every check on a ready account, including a new account whose Lambda quota is 10, and changes nothing', async () => {
    const r = await run();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const name of [
      'CDK bootstrap',
      'Elastic IPs',
      'Lambda concurrency',
      'Instance type',
      'AMI',
      'Target groups',
      'Listeners per NLB',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^ok +${name}`, 'm'));
    }
    expect(r.stdout).toContain('3 needed (2 NLB static IPs, 1 NAT), 5 of 5 free');
    expect(r.stdout).toContain('ready: run `npx cdk deploy`');
    // Read-only: only Describe/Get calls were made.
    const names = [cfn, ec2, elb, lambda, ssm].flatMap((m) => m.calls().map((c) => c.args[0].constructor.name));
    expect(names.every((n) => /^(Describe|Get)/.test(n))).toBe(true);
  });

  it('says to bootstrap when there is no CDKToolkit stack, and to update an old one', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).rejects(notExist('CDKToolkit'));
    let r = await run();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL CDK bootstrap .*no CDKToolkit stack/m);
    expect(r.stdout).toContain('run `npx cdk bootstrap` once');
    cfn.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).resolves({
      Stacks: [
        {
          StackName: 'CDKToolkit',
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(0),
          Outputs: [{ OutputKey: 'BootstrapVersion', OutputValue: '3' }],
        },
      ],
    });
    r = await run();
    expect(r.stdout).toMatch(/^FAIL CDK bootstrap .*version 3, older than 6/m);
  });

  it('counts Elastic IPs against the quota: a second stack in a default account needs an increase', async () => {
    // The first stack holds 3 of the default 5; the second needs 2 (NLB) + 1 (NAT).
    ec2.on(DescribeAddressesCommand).resolves({ Addresses: [{}, {}, {}] });
    cfn.on(DescribeStacksCommand, { StackName: 'NlbFtp2' }).rejects(notExist('NlbFtp2'));
    const r = await run(['-c', 'stackName=NlbFtp2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL Elastic IPs +3 needed \(2 for the NLB, 1 for NAT\), only 2 of 5 free/m);
    expect(r.stdout).toContain('quota (Service Quotas, L-0263D0A3) of at least 6');
  });

  it('names the AZs where the instance type is not offered', async () => {
    ec2.on(DescribeInstanceTypeOfferingsCommand).resolves({ InstanceTypeOfferings: [{ Location: 'eu-west-1a' }] });
    const r = await run();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL Instance type +t4g.small is not offered in eu-west-1b$/m);
  });

  it('says when the AMI parameter does not resolve, naming it', async () => {
    ssm.on(GetParameterCommand).rejects(Object.assign(new Error('not found'), { name: 'ParameterNotFound' }));
    const r = await run(['-c', 'ftpServer=proftpd']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('/aws/service/debian/release/13/latest/arm64 does not resolve');
  });

  it('checks target groups and NLBs against the quotas for what the config makes', async () => {
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: Array.from({ length: 2990 }, () => ({})) });
    const r = await run(['-c', 'backendCount=3']);
    expect(needs(parseConfig({ backendCount: 3 })).targetGroups).toBe(25);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL Target groups +25 needed, 2990 of 3000 in use/m);
  });

  it('explains missing credentials in one sentence, with no SDK class name', async () => {
    cfn
      .on(DescribeStacksCommand)
      .rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
    const r = await run();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'No AWS credentials found: configure them (aws configure, AWS_PROFILE or the AWS_* environment variables) and try again.\n',
    );
  });

  it('refuses an unknown argument with exit 2, and a bad setting like cdk synth does', async () => {
    expect((await run(['--stak', 'x'])).code).toBe(2);
    const bad = await run(['-c', 'backendCount=0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('backendCount = 0 (from -c context): must be a whole number from 1 to 49');
  });

  it.each([
    ['vsftpd', 't3.small'],
    ['proftpd', 't4g.small'],
  ] as const)('checks the very AMI parameter the %s template resolves on %s', (server, instanceType) => {
    const t = synth({ ftpServer: server, instanceType, backendCount: 1 }).json as { Parameters?: Record<string, { Default?: string }> };
    const defaults = Object.values(t.Parameters ?? {}).map((p) => p.Default);
    expect(defaults).toContain(amiParameter(server, isArmInstanceType(instanceType)));
  });
});
