/**
 * The operator commands behave alike: `--help` (usage, each option with its default, an example),
 * an unknown flag refused with exit 2 and a did-you-mean, and the same one sentence for each AWS
 * problem, through mocked SDK clients, never an SDK class name. And bin/docs.ts has no side
 * effect on import.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { runPreflight } from '../../lib/cli/preflight';
import { runRoll } from '../../lib/cli/roll';
import { runStatus } from '../../lib/cli/status';
import { runUnban } from '../../lib/cli/unban';

const cfn = mockClient(CloudFormationClient);
beforeEach(() => cfn.reset());
// The unit project shares modules between files (isolate: false): leave no stub behind.
afterAll(() => cfn.restore());

const region = { region: 'eu-west-1' };
const commands = {
  status: async (argv: string[]) => {
    const r = await runStatus(
      argv,
      {
        cfn: new CloudFormationClient(region),
        elb: new ElasticLoadBalancingV2Client(region),
        cw: new CloudWatchClient(region),
        asg: new AutoScalingClient(region),
        logs: new CloudWatchLogsClient(region),
        ddb: new DynamoDBClient(region),
      },
      os.tmpdir(),
    );
    return { code: r.code, out: r.stdout, err: r.stderr };
  },
  roll: async (argv: string[]) => {
    const r = await runRoll(
      argv,
      { sleep: async () => undefined },
      {
        cfn: new CloudFormationClient(region),
        asg: new AutoScalingClient(region),
        elb: new ElasticLoadBalancingV2Client(region),
        ec2: new EC2Client(region),
      },
      os.tmpdir(),
    );
    return { code: r.code, out: r.code === 0 ? r.output : '', err: r.code === 0 ? '' : r.output };
  },
  // unban takes an address besides its options: the same parser, the same errors.
  unban: async (argv: string[]) => {
    const r = await runUnban(
      [...argv, '203.0.113.7'],
      { cfn: new CloudFormationClient(region), ddb: new DynamoDBClient(region) },
      os.tmpdir(),
    );
    return { code: r.code, out: r.stdout, err: r.stderr };
  },
  preflight: async (argv: string[]) => {
    const r = await runPreflight(
      argv,
      {
        cfn: new CloudFormationClient(region),
        ec2: new EC2Client(region),
        elb: new ElasticLoadBalancingV2Client(region),
        lambda: new LambdaClient(region),
        ssm: new SSMClient(region),
      },
      os.tmpdir(),
    );
    return { code: r.code, out: r.stdout, err: r.stderr };
  },
};
const names = Object.keys(commands) as Array<keyof typeof commands>;

describe.each(names)('npm run %s', (name) => {
  const run = commands[name];

  it('answers --help (and -h) with the usage, every option with its default, and an example; exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await run([flag]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`usage: npm run ${name} -- [options]`);
      expect(r.out).toMatch(/^options:$/m);
      expect(r.out).toMatch(/^examples:\n {2}npm run /m);
      expect(r.out).toContain('-h, --help');
    }
    if (name !== 'preflight') expect((await run(['--help'])).out).toMatch(/--stack NAME +the stack to \w+ \[default: /);
  });

  it('refuses an unknown flag with exit 2, naming it, with a did-you-mean when one is close', async () => {
    const r = await run(['--stak', 'NlbFtp']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown option --stak');
    if (name !== 'preflight') expect(r.err).toContain('did you mean --stack?');
    const far = await run(['--zzzzzzzz']);
    expect(far.code).toBe(2);
    expect(far.err).toContain('unknown option --zzzzzzzz');
    expect(far.err).not.toContain('did you mean');
  });

  it.each([
    [
      'no region',
      Object.assign(new Error('Region is missing'), { name: 'Error' }),
      'No AWS region set: export AWS_REGION (or AWS_DEFAULT_REGION) and try again.',
    ],
    [
      'no credentials',
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
      'No AWS credentials found: configure them (aws configure, AWS_PROFILE or the AWS_* environment variables) and try again.',
    ],
    [
      'expired credentials',
      Object.assign(new Error('The security token included in the request is expired'), { name: 'ExpiredToken' }),
      'Your AWS credentials have expired: refresh them (aws sso login, or new keys) and try again.',
    ],
    [
      'access denied',
      Object.assign(
        new Error('User: arn:aws:iam::123456789012:user/ops is not authorized to perform: cloudformation:DescribeStacks on resource: x'),
        { name: 'AccessDenied' },
      ),
      'Access denied: your AWS identity may not call cloudformation:DescribeStacks; allow it in your IAM policy and try again.',
    ],
    [
      'throttling',
      Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }),
      'AWS is throttling these calls: wait a minute and try again.',
    ],
  ])('%s: one sentence that says what to do, exit 1, no SDK class name', async (_case, error, sentence) => {
    cfn.on(DescribeStacksCommand).rejects(error);
    const r = await run(name === 'preflight' ? [] : ['--stack', 'NlbFtp']);
    expect(r.code).toBe(1);
    expect(r.err).toContain(sentence);
    expect(r.err).not.toMatch(/CredentialsProviderError|ExpiredToken\b|AccessDenied\b|Throttling\b|\bat \w+ \(/);
  });

  if (name !== 'preflight') {
    it('a stack that does not exist, and one that is not an nlb-ftp stack, are named', async () => {
      cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' }));
      const missing = await run(['--stack', 'Nope']);
      expect(missing.code).toBe(1);
      expect(missing.err).toContain('Stack Nope does not exist in this account and region; deploy it or pass --stack NAME.');
      cfn.on(DescribeStacksCommand).resolves({
        Stacks: [{ StackName: 'Other', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(0), Outputs: [] }],
      });
      const other = await run(['--stack', 'Other']);
      expect(other.code).toBe(1);
      expect(other.err).toContain('Stack Other has no nlb-ftp outputs; is it an nlb-ftp stack?');
    });
  }
});

describe('bin/docs.ts', () => {
  it('rewrites the docs only when run, never when imported', async () => {
    const files = ['../../docs/configuration.md', '../../docs/iam.md'].map((f) => path.resolve(__dirname, f));
    const before = files.map((f) => fs.statSync(f).mtimeMs);
    const docs = await import('../../bin/docs');
    expect(files.map((f) => fs.statSync(f).mtimeMs)).toEqual(before);
    expect([docs.SETTINGS_DOC, docs.IAM_DOC]).toEqual(files);
    // Run on a copy: the table between the markers is rewritten, the rest kept.
    const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-docs-')), 'configuration.md');
    fs.writeFileSync(copy, `intro\n${docs.START}\nold table\n${docs.END}\noutro\n`);
    docs.writeSettingsTable(copy);
    const text = fs.readFileSync(copy, 'utf8');
    expect(text).toMatch(/^intro\n/);
    expect(text).toContain('| `backendCount` |');
    expect(text).not.toContain('old table');
    expect(text).toMatch(/outro\n$/);
    fs.rmSync(path.dirname(copy), { recursive: true, force: true });
  });
});
