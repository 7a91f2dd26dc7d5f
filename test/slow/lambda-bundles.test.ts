/**
 * The Lambda code `cdk deploy` would upload is the esbuild bundle, not the TypeScript the other
 * tests import. These tests synthesize with bundling (the local esbuild, as in a deploy) and run
 * the bundles themselves in fresh node processes: each loads and exports its handler, and the
 * checker's bundle runs a whole round whose SDK calls (ELBv2, EC2, Secrets Manager, DynamoDB)
 * reach a local endpoint on 127.0.0.1 and are understood there. This is what catches a bundling
 * option (module fields, tree shaking, externals) that breaks a client at run time.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../harness/synth';
import { parseConfig } from '../../lib/config';
import { checkerEnvironment, targetGroupArn } from '../../lib/shared/contract';
import { LocalAwsEndpoint } from '../../sandbox/aws/endpoint';
import { IamEnforcer } from '../../sandbox/aws/iam';
import { AwsModel } from '../../sandbox/aws/model';

const run = promisify(execFile);

const controlArn = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/b-control/0000000000000000';
const passive = 'targetgroup/b-s0p/1111111111111111';
const healthSecretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:b-health-AbCdEf';

/** A bare environment (no node_modules on any path) plus what the stack gives the checker. */
const lambdaEnv = {
  PATH: process.env.PATH ?? '',
  NODE_NO_WARNINGS: '1',
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_EC2_METADATA_DISABLED: 'true',
  POWERTOOLS_SERVICE_NAME: 'bundle-test',
  POWERTOOLS_METRICS_NAMESPACE: 'NlbFtp',
  ...checkerEnvironment({
    slots: [{ slot: 0, passiveTargetGroup: passive, passivePorts: { min: 40000, max: 40003 } }],
    controlTargetGroupArn: controlArn,
    healthSecretArn,
    stateTable: 'b-state',
    intervalSeconds: 1,
    timeoutSeconds: 2,
    fallThreshold: 2,
    riseThreshold: 2,
    budgetSeconds: 1,
  }),
};

let outdir: string;
/** Logical ID prefix -> the bundled index.js of that function's asset. */
const bundles = new Map<string, string>();

beforeAll(() => {
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-bundles-'));
  const { app, stack } = buildApp(parseConfig({}), { outdir, bundle: true });
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).template as {
    Resources: Record<string, { Type: string; Properties?: { Code?: { S3Key?: string } } }>;
  };
  for (const prefix of ['HealthCheckerFunction', 'FtpsCertificateGenerator']) {
    const fn = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(prefix));
    const key = fn?.[1].Properties?.Code?.S3Key;
    if (key) bundles.set(prefix, path.join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`, 'index.js'));
  }
}, 120_000);

afterAll(() => {
  if (outdir) fs.rmSync(outdir, { recursive: true, force: true });
});

describe('the bundled Lambda code', () => {
  it('holds none of the sandbox and test tools: the AGPL IAM engine, the SDK mocks, the SigV4 verifier', () => {
    expect(bundles.size).toBe(2);
    for (const [name, file] of bundles) {
      const code = fs.readFileSync(file, 'utf8');
      for (const devOnly of ['@cloud-copilot', 'iam-simulate', 'aws-sdk-client-mock', 'sandbox/aws/']) {
        expect(code.includes(devOnly), `${name} bundles ${devOnly}`).toBe(false);
      }
    }
  });

  it('exists for both functions and each bundle loads alone and exports a handler', async () => {
    expect([...bundles.keys()].sort()).toEqual(['FtpsCertificateGenerator', 'HealthCheckerFunction']);
    for (const [name, file] of bundles) {
      // A fresh process outside the repository: everything must be inside the bundle.
      const { stdout } = await run(process.execPath, ['-e', `process.stdout.write(typeof require(${JSON.stringify(file)}).handler)`], {
        cwd: path.dirname(file),
        env: lambdaEnv,
      });
      expect(stdout, name).toBe('function');
    }
  });

  it("the checker's bundle runs a round: its SDK calls reach the endpoint and it probes the slot's instance", async () => {
    const model = new AwsModel();
    model.targetGroups.set(controlArn, new Map([['i-0bundle', 'healthy']]));
    model.targetGroups.set(targetGroupArn(controlArn, passive), new Map([['i-0bundle', 'healthy']]));
    // Loopback only: the probe's connection never leaves the machine.
    model.instances.set('i-0bundle', { privateIp: '127.0.0.1', state: 'running', tags: {} });
    model.secrets.set(healthSecretArn, JSON.stringify({ username: 'nlbftp-health', password: 'not-a-real-password-0' }));
    model.createTable('b-state');
    // The checker's actions on any resource: this test is about the bundle; the template's own
    // policy is what every sandbox test enforces.
    const checkerActions = [
      'elasticloadbalancing:DescribeTargetHealth',
      'elasticloadbalancing:RegisterTargets',
      'elasticloadbalancing:DeregisterTargets',
      'ec2:DescribeInstances',
      'secretsmanager:GetSecretValue',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
    ];
    const iam = IamEnforcer.allowing({ region: 'us-east-1', accountId: '000000000000' }, { HealthCheckerFunctionRole: checkerActions });
    const endpoint = new LocalAwsEndpoint(model, iam);
    const url = await endpoint.start();
    try {
      // Signed as the checker's role would sign: credentials the endpoint issued.
      const c = endpoint.credentials.issue('HealthCheckerFunctionRole');
      const env = { ...lambdaEnv, AWS_ENDPOINT_URL: url, AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey };
      const file = bundles.get('HealthCheckerFunction') as string;
      const script = `require(${JSON.stringify(file)}).handler({}, { getRemainingTimeInMillis: () => 30000 }).then((r) => console.log('RESULT ' + JSON.stringify(r)))`;
      const { stdout } = await run(process.execPath, ['-e', script], { cwd: path.dirname(file), env, timeout: 60_000 });
      expect(endpoint.refused).toEqual([]);
      expect(new Set(endpoint.calls.map((x) => x.principal))).toEqual(new Set(['HealthCheckerFunctionRole']));
      const called = new Set(endpoint.calls.map((x) => `${x.service}:${x.action}`));
      expect(called).toEqual(
        new Set([
          'elbv2:DescribeTargetHealth',
          'ec2:DescribeInstances',
          'secretsmanager:GetSecretValue',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
        ]),
      );
      // The located instance was probed (and failed: nothing serves FTP as its account here).
      const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
      const probe = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((o) => o.slot === 0 && o.instanceId === 'i-0bundle');
      expect(probe, stdout).toBeDefined();
      expect(stdout).toMatch(/^RESULT \{"rounds":1/m);
      expect(stdout).not.toContain('not-a-real-password-0');
    } finally {
      await endpoint.stop();
    }
  }, 90_000);
});
