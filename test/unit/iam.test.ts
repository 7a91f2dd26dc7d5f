/**
 * IAM in the sandbox's AWS (sandbox/aws/iam.ts): the template's own policies, resolved as
 * CloudFormation resolves them, evaluated by a maintained IAM engine. Every call the boot and the
 * checker make is allowed to the principal that makes it on AWS; the calls no principal should be
 * able to make are denied; and a denial reaches the caller in AWS's own shape and wording.
 */
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { synth } from '../../harness/synth';
import { LocalAwsEndpoint } from '../../sandbox/aws/endpoint';
import { IamEnforcer, resourceArn } from '../../sandbox/aws/iam';
import { AwsModel } from '../../sandbox/aws/model';
import { functionRoleOf, instanceRoleOf } from '../../sandbox/aws/principals';
import { sandboxGetAtt, sandboxRef } from '../../sandbox/boot/resolve';
import { SANDBOX_VALUES } from '../../sandbox/synthesis';
import type { TemplateJson } from '../../sandbox/template-plan';

const s = synth({ backendCount: 2, ftps: 'required', stackName: 'Iam' });
const t = s.json as unknown as TemplateJson;
const V = SANDBOX_VALUES;
const iam = IamEnforcer.fromTemplate(t, V);
const idOf = (prefix: string, type: string): string => {
  const id = Object.keys(t.Resources).find((k) => k.startsWith(prefix) && t.Resources[k].Type === type);
  if (!id) throw new Error(`no ${type} ${prefix}*`);
  return id;
};
const groups = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::AutoScaling::AutoScalingGroup');
const instanceRole = instanceRoleOf(t, groups[0][0]);
const checkerRole = functionRoleOf(t, 'HealthCheckerFunction');
const certificateRole = functionRoleOf(t, 'FtpsCertificateGenerator');
const secret = (prefix: string) => sandboxRef(t, V, idOf(prefix, 'AWS::SecretsManager::Secret'));
const usersSecret = secret('SecretsUsersSecret');
const healthSecret = secret('SecretsHealthCheckSecret');
const certificateSecret = secret('FtpsCertificateSecret');
const controlTg = sandboxRef(t, V, idOf('LoadBalancerControlTargetGroup', 'AWS::ElasticLoadBalancingV2::TargetGroup'));
const sftpTg = sandboxRef(t, V, idOf('LoadBalancerSftpTargetGroup', 'AWS::ElasticLoadBalancingV2::TargetGroup'));
const passiveTg = Object.keys(t.Resources)
  .filter((k) => t.Resources[k].Type === 'AWS::ElasticLoadBalancingV2::TargetGroup')
  .map((k) => sandboxRef(t, V, k))
  .find((arn) => arn !== controlTg && arn !== sftpTg) as string;
const hostKeysSecret = secret('SftpHostKeysSecret');
const stateTable = sandboxRef(t, V, idOf('HealthCheckerState', 'AWS::DynamoDB::Table'));
/** The boot-scripts object, as the instance role's resolved policy names it. */
const bootAsset = (() => {
  const statement = iam
    .policiesOf(instanceRole)
    .flatMap((p) => p.document.Statement)
    .find((x) => x.Sid === 'ReadTheBootScriptsAsset');
  if (!statement) throw new Error('the instance role has no ReadTheBootScriptsAsset statement');
  return statement.Resource as string;
})();
const groupName = String(t.Resources[groups[0][0]].Properties?.AutoScalingGroupName);
const otherGroupName = 'SomeoneElses-slot0';

describe("the template's principals, evaluated", () => {
  it('resolves every principal of the template with its policies, and refs name what the sandbox serves', () => {
    expect(iam.principalNames()).toEqual(expect.arrayContaining([instanceRole, checkerRole, certificateRole]));
    expect(controlTg).toMatch(/^arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup\/[\w-]{1,32}\/[0-9a-f]{16}$/);
    // The checker builds a passive group's ARN from the control ARN and the full name it is given.
    const fullName = sandboxGetAtt(
      t,
      V,
      idOf('LoadBalancerControlTargetGroup', 'AWS::ElasticLoadBalancingV2::TargetGroup'),
      'TargetGroupFullName',
    );
    expect(controlTg.endsWith(`:${fullName}`)).toBe(true);
    expect(bootAsset).toMatch(/^arn:aws:s3:::cdk-hnb659fds-assets-000000000000-us-east-1\/[0-9a-f]{64}\.zip$/);
  });

  const must: Array<[string, string, string, string]> = [
    ['the boot', instanceRole, 'secretsmanager:GetSecretValue', usersSecret],
    ['the boot', instanceRole, 'secretsmanager:GetSecretValue', healthSecret],
    ['the boot', instanceRole, 'secretsmanager:GetSecretValue', certificateSecret],
    ['the boot', instanceRole, 's3:GetObject', bootAsset],
    ['the boot', instanceRole, 'autoscaling:CompleteLifecycleAction', resourceArn.group(V, groupName)],
    ['the checker', checkerRole, 'elasticloadbalancing:DescribeTargetHealth', '*'],
    ['the checker', checkerRole, 'elasticloadbalancing:RegisterTargets', controlTg],
    ['the checker', checkerRole, 'elasticloadbalancing:DeregisterTargets', controlTg],
    ['the checker', checkerRole, 'elasticloadbalancing:RegisterTargets', sftpTg],
    ['the checker', checkerRole, 'elasticloadbalancing:DeregisterTargets', sftpTg],
    ['the boot', instanceRole, 'secretsmanager:GetSecretValue', hostKeysSecret],
    ['the key generator', certificateRole, 'secretsmanager:PutSecretValue', hostKeysSecret],
    ['the checker', checkerRole, 'ec2:DescribeInstances', '*'],
    ['the checker', checkerRole, 'secretsmanager:GetSecretValue', healthSecret],
    ['the checker', checkerRole, 'secretsmanager:GetSecretValue', certificateSecret],
    ['the checker', checkerRole, 'dynamodb:GetItem', resourceArn.table(V, stateTable)],
    ['the checker', checkerRole, 'dynamodb:PutItem', resourceArn.table(V, stateTable)],
    ['the certificate', certificateRole, 'secretsmanager:PutSecretValue', certificateSecret],
  ];
  it.each(must)('%s may: %s %s on %s', async (_who, principal, action, resource) => {
    const d = await iam.evaluate(principal, action, resource);
    expect(d.allowed, `${principal} ${action} ${resource}`).toBe(true);
    expect(d.allowedBy.length).toBeGreaterThan(0);
  });

  const mustNot: Array<[string, string, string, string]> = [
    ['an instance', instanceRole, 'elasticloadbalancing:DeregisterTargets', controlTg],
    ['an instance', instanceRole, 'elasticloadbalancing:RegisterTargets', passiveTg],
    ['an instance', instanceRole, 'secretsmanager:PutSecretValue', usersSecret],
    ['an instance', instanceRole, 'secretsmanager:PutSecretValue', hostKeysSecret],
    ['the checker', checkerRole, 'secretsmanager:GetSecretValue', hostKeysSecret],
    ['the key generator', certificateRole, 'secretsmanager:GetSecretValue', hostKeysSecret],
    ['an instance', instanceRole, 's3:GetObject', `${bootAsset.replace(/[0-9a-f]{64}\.zip$/, '')}another-key.zip`],
    ['an instance', instanceRole, 'autoscaling:CompleteLifecycleAction', resourceArn.group(V, otherGroupName)],
    ['an instance', instanceRole, 'autoscaling:TerminateInstanceInAutoScalingGroup', resourceArn.group(V, groupName)],
    ['an instance', instanceRole, 'dynamodb:PutItem', resourceArn.table(V, stateTable)],
    ['the checker', checkerRole, 'secretsmanager:GetSecretValue', usersSecret],
    ['the checker', checkerRole, 'elasticloadbalancing:RegisterTargets', passiveTg],
    ['the checker', checkerRole, 'dynamodb:DeleteItem', resourceArn.table(V, stateTable)],
    ['the checker', checkerRole, 'autoscaling:TerminateInstanceInAutoScalingGroup', resourceArn.group(V, groupName)],
    ['the certificate', certificateRole, 'secretsmanager:GetSecretValue', usersSecret],
    ['the certificate', certificateRole, 'secretsmanager:PutSecretValue', usersSecret],
    ['the certificate', certificateRole, 'secretsmanager:GetSecretValue', certificateSecret],
  ];
  it.each(mustNot)('%s may not: %s %s on %s', async (_who, principal, action, resource) => {
    const d = await iam.evaluate(principal, action, resource);
    expect(d.allowed, `${principal} ${action} ${resource}`).toBe(false);
  });

  it('refuses a role the template does not define, and an AWS managed policy it has no document for, by name', async () => {
    await expect(iam.evaluate('NoSuchRole', 'ec2:DescribeInstances', '*')).rejects.toThrow(/no principal NoSuchRole/);
    const edited = structuredClone(t) as TemplateJson;
    const role = edited.Resources[checkerRole].Properties as { ManagedPolicyArns: unknown[] };
    role.ManagedPolicyArns = [...role.ManagedPolicyArns, 'arn:aws:iam::aws:policy/AdministratorAccess'];
    expect(() => IamEnforcer.fromTemplate(edited, V)).toThrow(`${checkerRole} attaches arn:aws:iam::aws:policy/AdministratorAccess`);
  });
});

describe('a denial as AWS gives it', () => {
  it("reaches the SDK as the service's AccessDenied error, naming the action and the resource, and the model never sees the call", async () => {
    const model = new AwsModel();
    model.targetGroups.set(controlTg, new Map());
    model.secrets.set(usersSecret, '{"alice":"x"}');
    model.instances.set('i-0iam', { privateIp: '198.18.16.2', state: 'running', tags: {} });
    const endpoint = new LocalAwsEndpoint(model, iam);
    const url = await endpoint.start('127.0.0.1');
    try {
      const creds = endpoint.credentials.issue(checkerRole);
      const o = { region: 'us-east-1', endpoint: url, credentials: creds, maxAttempts: 1 };
      const sm = new SecretsManagerClient(o);
      const err = await sm
        .send(new GetSecretValueCommand({ SecretId: usersSecret }))
        .catch((e: Error & { $metadata?: { httpStatusCode?: number } }) => e);
      expect((err as Error).name).toBe('AccessDeniedException');
      expect((err as Error).message).toBe(
        `User: arn:aws:sts::000000000000:assumed-role/${checkerRole}/nlb-ftp-sandbox is not authorized to perform: secretsmanager:GetSecretValue on resource: ${usersSecret} because no identity-based policy allows the secretsmanager:GetSecretValue action`,
      );
      const elb = new ElasticLoadBalancingV2Client(o);
      // Allowed: DescribeTargetHealth on *, RegisterTargets on the control group.
      await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: controlTg }));
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: controlTg, Targets: [{ Id: 'i-0iam' }] }));
      // The instance role may not register anything.
      const instance = endpoint.credentials.issue(instanceRole, true);
      const asInstance = new ElasticLoadBalancingV2Client({ ...o, credentials: instance });
      const denied = await asInstance
        .send(new RegisterTargetsCommand({ TargetGroupArn: controlTg, Targets: [{ Id: 'i-0iam' }] }))
        .catch((e: Error & { $metadata: { httpStatusCode?: number } }) => e);
      expect((denied as Error).name).toBe('AccessDenied');
      expect((denied as Error & { $metadata: { httpStatusCode?: number } }).$metadata.httpStatusCode).toBe(403);
      expect((denied as Error).message).toContain(`elasticloadbalancing:RegisterTargets on resource: ${controlTg}`);
      expect(endpoint.calls.map((c) => `${c.principal} ${c.action}${c.denied ? ' denied' : ''}`)).toEqual([
        `${checkerRole} GetSecretValue denied`,
        `${checkerRole} DescribeTargetHealth`,
        `${checkerRole} RegisterTargets`,
        `${instanceRole} RegisterTargets denied`,
      ]);
      expect([...(model.targetGroups.get(controlTg)?.keys() ?? [])]).toEqual(['i-0iam']);
    } finally {
      await endpoint.stop();
    }
  });
});
