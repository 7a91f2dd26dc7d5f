/**
 * The one AWS model behind every stand-in (sandbox/aws/model.ts), and its two faces: the same calls
 * through the real SDK clients get the same answers and the same errors (by the SDK's error name)
 * whether they reach the model through the HTTP endpoint (as the sandbox and the AWS CLI do) or
 * through the mocked clients (as unit tests do).
 */

import { spawn } from 'node:child_process';
import { AutoScalingClient, CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { resourcesOfType, synth } from '../../harness/synth';
import { LocalAwsEndpoint } from '../../sandbox/aws/endpoint';
import { IamEnforcer } from '../../sandbox/aws/iam';
import { AwsError, AwsModel } from '../../sandbox/aws/model';
import { functionRoleOf, instanceRoleOf } from '../../sandbox/aws/principals';
import { mockAwsClients } from '../../sandbox/aws/sdk-mock';

const TG = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/ctl/0000000000000000';
const PASSIVE = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/p0/0000000000000001';
const SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:health-SbXaBc';

/** A deployed stack's worth of AWS: one slot's group with its launch hook, its instance waiting on it. */
/** The principals these tests sign as, each allowed what its calls need (IAM itself is iam.test.ts's). */
const iam = () =>
  IamEnforcer.allowing(
    { region: 'us-east-1', accountId: '000000000000' },
    {
      test: [
        'elasticloadbalancing:DescribeTargetHealth',
        'elasticloadbalancing:RegisterTargets',
        'elasticloadbalancing:DeregisterTargets',
        'ec2:DescribeInstances',
        'autoscaling:CompleteLifecycleAction',
        'secretsmanager:GetSecretValue',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
      ],
      InstanceRole: ['secretsmanager:GetSecretValue', 's3:GetObject'],
    },
  );

function seeded(): AwsModel {
  const m = new AwsModel();
  m.targetGroups.set(TG, new Map());
  m.targetGroups.set(PASSIVE, new Map());
  m.addGroup({ name: 'stack-slot0', launchTemplateId: 'lt-0', version: '1', targetGroups: [TG, PASSIVE], launchHook: 'nlbftp-ready' });
  m.launch('stack-slot0', 'i-0a', '10.0.0.10');
  m.secrets.set(SECRET, '{"username":"u","password":"p"}');
  m.createTable('state');
  return m;
}

/** One script of calls, each answered or failed: what a face returns is compared across faces. */
async function script(clients: {
  elb: ElasticLoadBalancingV2Client;
  ec2: EC2Client;
  asg: AutoScalingClient;
  ddb: DynamoDBClient;
  sm: SecretsManagerClient;
}): Promise<string[]> {
  const out: string[] = [];
  const step = async (name: string, call: () => Promise<unknown>, pick: (r: never) => unknown = () => 'ok') => {
    try {
      out.push(`${name}: ${JSON.stringify(pick((await call()) as never))}`);
    } catch (err) {
      out.push(`${name}: ${(err as Error).name}`);
    }
  };
  const health = (r: { TargetHealthDescriptions?: Array<{ Target?: { Id?: string }; TargetHealth?: { State?: string } }> }) =>
    r.TargetHealthDescriptions?.map((d) => `${d.Target?.Id}=${d.TargetHealth?.State}`);
  const hook = (instanceId: string, result: string) =>
    clients.asg.send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: 'stack-slot0',
        LifecycleHookName: 'nlbftp-ready',
        InstanceId: instanceId,
        LifecycleActionResult: result,
      }),
    );
  await step('no target group', () => clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: `${TG}x` })));
  await step('port 21 before the hook', () => clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: TG })), health);
  await step('hook for an unknown instance', () => hook('i-0zz', 'CONTINUE'));
  await step('hook CONTINUE', () => hook('i-0a', 'CONTINUE'));
  await step('hook again', () => hook('i-0a', 'CONTINUE'));
  await step('passive after the hook', () => clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: PASSIVE })), health);
  await step('deregister', () => clients.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: TG, Targets: [{ Id: 'i-0a' }] })));
  await step('register an unknown instance', () =>
    clients.elb.send(new RegisterTargetsCommand({ TargetGroupArn: TG, Targets: [{ Id: 'i-0nope' }] })),
  );
  await step('port 21 after', () => clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: TG })), health);
  await step(
    'instance',
    () => clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ['i-0a', 'i-0gone'] }] })),
    (r: { Reservations?: Array<{ Instances?: Array<{ InstanceId?: string; PrivateIpAddress?: string; State?: { Name?: string } }> }> }) =>
      r.Reservations?.flatMap((x) => x.Instances?.map((i) => [i.InstanceId, i.PrivateIpAddress, i.State?.Name])),
  );
  await step(
    'secret',
    () => clients.sm.send(new GetSecretValueCommand({ SecretId: SECRET })),
    (r: { SecretString?: string }) => r.SecretString,
  );
  await step('missing secret', () => clients.sm.send(new GetSecretValueCommand({ SecretId: `${SECRET}x` })));
  const lease = (holder: string, now: number) =>
    clients.ddb.send(
      new PutItemCommand({
        TableName: 'state',
        Item: { pk: { S: 'checker-lease' }, holder: { S: holder }, expiresAt: { N: String(now + 100) } },
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
        ExpressionAttributeValues: { ':now': { N: String(now) } },
      }),
    );
  await step('lease taken', () => lease('a', 1000));
  await step('lease held', () => lease('b', 1050));
  await step('lease expired', () => lease('b', 1101));
  await step(
    'lease read',
    () => clients.ddb.send(new GetItemCommand({ TableName: 'state', Key: { pk: { S: 'checker-lease' } } })),
    (r: { Item?: Record<string, { S?: string }> }) => r.Item?.holder?.S,
  );
  await step('unknown condition', () =>
    clients.ddb.send(
      new PutItemCommand({
        TableName: 'state',
        Item: { pk: { S: 'x' } },
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: {},
      }),
    ),
  );
  await step('unknown table', () => clients.ddb.send(new GetItemCommand({ TableName: 'nope', Key: { pk: { S: 'x' } } })));
  return out;
}

const sdkClients = (endpoint?: string, credentials = { accessKeyId: 'AKIDMOCKED', secretAccessKey: 'mocked' }) => {
  const o = { region: 'us-east-1', endpoint, credentials, maxAttempts: 1 };
  return {
    elb: new ElasticLoadBalancingV2Client(o),
    ec2: new EC2Client(o),
    asg: new AutoScalingClient(o),
    ddb: new DynamoDBClient(o),
    sm: new SecretsManagerClient(o),
  };
};

let cleanup: () => Promise<void> = async () => undefined;
afterEach(async () => {
  await cleanup();
  cleanup = async () => undefined;
});

describe('the AWS model', () => {
  it('answers the same script the same way through the HTTP endpoint and through the mocked SDK clients', async () => {
    const endpoint = new LocalAwsEndpoint(seeded(), iam());
    const url = await endpoint.start('127.0.0.1');
    let viaHttp: string[];
    try {
      viaHttp = await script(sdkClients(url, endpoint.credentials.issue('test')));
      expect(endpoint.refused).toEqual([]);
    } finally {
      await endpoint.stop();
    }
    const mocks = mockAwsClients(seeded());
    cleanup = async () => mocks.restore();
    const viaMocks = await script(sdkClients());
    expect(viaMocks).toEqual(viaHttp);
    // And the answers are AWS's: the errors by the names the SDK gives them.
    expect(viaHttp).toEqual([
      'no target group: TargetGroupNotFoundException',
      'port 21 before the hook: []',
      'hook for an unknown instance: ValidationError',
      'hook CONTINUE: "ok"',
      'hook again: ValidationError',
      'passive after the hook: ["i-0a=initial"]',
      'deregister: "ok"',
      'register an unknown instance: InvalidTargetException',
      'port 21 after: []',
      'instance: [["i-0a","10.0.0.10","running"]]',
      'secret: "{\\"username\\":\\"u\\",\\"password\\":\\"p\\"}"',
      'missing secret: ResourceNotFoundException',
      'lease taken: "ok"',
      'lease held: ConditionalCheckFailedException',
      'lease expired: "ok"',
      'lease read: "b"',
      'unknown condition: ValidationException',
      'unknown table: ResourceNotFoundException',
    ]);
  });

  it('ABANDON terminates the instance: out of every target group, and gone from its group once settled', () => {
    const m = seeded();
    m.completeLifecycleAction({ group: 'stack-slot0', hook: 'nlbftp-ready', instanceId: 'i-0a', result: 'ABANDON' });
    expect(m.group('stack-slot0').instances.map((i) => i.lifecycle)).toEqual(['Terminating']);
    expect([...(m.targetGroups.get(TG)?.keys() ?? [])]).toEqual([]);
    m.settle();
    expect(m.group('stack-slot0').instances).toEqual([]);
    expect(m.instances.get('i-0a')?.state).toBe('terminated');
  });

  it('a wrong hook name or result is refused, as Auto Scaling refuses it', () => {
    const m = seeded();
    expect(() => m.completeLifecycleAction({ group: 'stack-slot0', hook: 'other', instanceId: 'i-0a', result: 'CONTINUE' })).toThrow(
      AwsError,
    );
    expect(() => m.completeLifecycleAction({ group: 'stack-slot0', hook: 'nlbftp-ready', instanceId: 'i-0a', result: 'MAYBE' })).toThrow(
      /Invalid lifecycle action result/,
    );
    expect(() => m.completeLifecycleAction({ group: 'nope', hook: 'nlbftp-ready', instanceId: 'i-0a', result: 'CONTINUE' })).toThrow(
      /AutoScalingGroup name not found/,
    );
  });
});

describe("the endpoint checks every signature (SigV4, with AWS's own signer)", () => {
  /** curl, asynchronously: the endpoint answers from this very process. */
  const curl = (args: string[], input = ''): Promise<{ status: number | null; stdout: string }> =>
    new Promise((resolve, reject) => {
      const p = spawn('curl', ['-sS', '--max-time', '10', ...args], { stdio: ['pipe', 'pipe', 'ignore'] });
      let stdout = '';
      p.stdout.on('data', (d: Buffer) => {
        stdout += d;
      });
      p.on('error', reject);
      p.on('close', (status) => resolve({ status, stdout }));
      p.stdin.end(input);
    });

  it('serves a call signed with issued credentials, and says whose it was', async () => {
    const endpoint = new LocalAwsEndpoint(seeded(), iam());
    const url = await endpoint.start('127.0.0.1');
    cleanup = () => endpoint.stop();
    const role = endpoint.credentials.issue('InstanceRole', true);
    const sm = new SecretsManagerClient({ region: 'us-east-1', endpoint: url, credentials: role, maxAttempts: 1 });
    expect((await sm.send(new GetSecretValueCommand({ SecretId: SECRET }))).SecretString).toContain('username');
    expect(endpoint.calls.map((c) => [c.action, c.principal])).toEqual([['GetSecretValue', 'InstanceRole']]);
  });

  it('refuses, as AWS does: unsigned, an unknown key, a wrong secret, a missing session token, a stale date', async () => {
    const endpoint = new LocalAwsEndpoint(seeded(), iam());
    const url = await endpoint.start('127.0.0.1');
    cleanup = () => endpoint.stop();
    const good = endpoint.credentials.issue('InstanceRole', true);
    const call = async (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, systemClockOffset = 0) => {
      const sm = new SecretsManagerClient({ region: 'us-east-1', endpoint: url, credentials, maxAttempts: 1, systemClockOffset });
      try {
        await sm.send(new GetSecretValueCommand({ SecretId: SECRET }));
        return 'served';
      } catch (err) {
        return (err as Error).name;
      }
    };
    expect(await call({ accessKeyId: 'AKIANOTISSUED0000000', secretAccessKey: 'x' })).toBe('UnrecognizedClientException');
    expect(await call({ ...good, secretAccessKey: `${good.secretAccessKey}x` })).toBe('InvalidSignatureException');
    expect(await call({ accessKeyId: good.accessKeyId, secretAccessKey: good.secretAccessKey })).toBe('UnrecognizedClientException');
    expect(await call(good, -20 * 60_000)).toBe('InvalidSignatureException');
    expect(await call(good)).toBe('served');
    // Unsigned, with curl: Secrets Manager's JSON protocol and ELBv2's query protocol.
    const unsigned = await curl([
      '-H',
      'x-amz-target: secretsmanager.GetSecretValue',
      '-H',
      'content-type: application/x-amz-json-1.1',
      '-d',
      `{"SecretId":"${SECRET}"}`,
      `${url}/`,
    ]);
    expect(unsigned.stdout).toContain('MissingAuthenticationTokenException');
    const query = await curl(['-d', 'Action=DescribeTargetHealth&Version=2015-12-01', `${url}/`]);
    expect(query.stdout).toContain('<Code>MissingAuthenticationToken</Code>');
    expect(endpoint.refused.map((r) => r.failure)).toEqual(['unknown-key', 'mismatch', 'bad-token', 'expired', 'missing', 'missing']);
    expect(endpoint.calls).toHaveLength(1);
  });

  it("accepts curl's own SigV4 as the boot sends it (S3 with an unsigned payload, a role's session token); anonymous reads only of a public bucket", async () => {
    const model = seeded();
    model.objects.set('assets-bucket/boot.zip', Buffer.from('zip bytes'));
    model.objects.set('amazon-ssm-us-east-1/agent.deb', Buffer.from('deb bytes'));
    model.publicBuckets.add('amazon-ssm-us-east-1');
    const endpoint = new LocalAwsEndpoint(model, iam());
    const url = await endpoint.start('127.0.0.1');
    cleanup = () => endpoint.stop();
    const role = endpoint.credentials.issue('InstanceRole', true);
    // What bootstrap.sh's signed_curl does: the credentials on stdin, never on a command line.
    const config = `user = "${role.accessKeyId}:${role.secretAccessKey}"\nheader = "X-Amz-Security-Token: ${role.sessionToken}"\n`;
    const signed = (u: string, cfg = config) =>
      curl(['--fail', '-K', '-', '--aws-sigv4', 'aws:amz:us-east-1:s3', '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', u], cfg);
    expect((await signed(`${url}/assets-bucket/boot.zip`)).stdout).toBe('zip bytes');
    // Without its session token the same key is refused.
    expect((await signed(`${url}/assets-bucket/boot.zip`, `user = "${role.accessKeyId}:${role.secretAccessKey}"\n`)).status).not.toBe(0);
    expect((await curl([`${url}/amazon-ssm-us-east-1/agent.deb`])).stdout).toBe('deb bytes');
    expect((await curl([`${url}/assets-bucket/boot.zip`])).stdout).toContain('<Code>AccessDenied</Code>');
    expect(endpoint.calls.map((c) => `${c.principal} ${c.targets?.[0]}`)).toEqual([
      'InstanceRole assets-bucket/boot.zip',
      'anonymous amazon-ssm-us-east-1/agent.deb',
    ]);
  });
});

describe("the template's principals, as the sandbox issues credentials to them", () => {
  it("finds each slot's instance role and the checker's function role in the synthesized template", () => {
    const s = synth({ backendCount: 2 });
    expect(resourcesOfType(s, 'AWS::EC2::LaunchTemplate')).toHaveLength(2);
    const groups = resourcesOfType(s, 'AWS::AutoScaling::AutoScalingGroup');
    expect(groups).toHaveLength(2);
    const instanceRoles = new Set(groups.map(([id]) => instanceRoleOf(s.json, id)));
    expect(instanceRoles.size).toBe(1);
    const [instanceRole] = instanceRoles;
    expect(s.json.Resources[instanceRole].Type).toBe('AWS::IAM::Role');
    const checkerRole = functionRoleOf(s.json, 'HealthCheckerFunction');
    expect(s.json.Resources[checkerRole].Type).toBe('AWS::IAM::Role');
    expect(checkerRole).not.toBe(instanceRole);
    expect(() => functionRoleOf(s.json, 'NoSuchFunction')).toThrow(/no Lambda function NoSuchFunction/);
  });
});
