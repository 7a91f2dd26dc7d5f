import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { countOfType, resourcesOfType, synth } from '../../harness/synth';
import { flatten, refOf } from '../../harness/template';
import { parseConfig } from '../../lib/config';
import { largestBackendCount } from '../../lib/config/resource-budget';
import { CheckerEnv, checkerEnvironment, decodeInventory, encodeInventory, targetGroupArn } from '../../lib/shared/contract';

type Props = Record<string, unknown>;
type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

describe('health checker in the stack', () => {
  const s = synth({ backendCount: 3 });
  const [fnId, fn] = resourcesOfType(s, 'AWS::Lambda::Function').find(([id]) => id.startsWith('HealthCheckerFunction')) as [string, Props];
  const statements = resourcesOfType(s, 'AWS::IAM::Policy')
    .filter(([id]) => id.startsWith('HealthCheckerFunction'))
    .flatMap(([, p]) => (p.PolicyDocument as { Statement: Statement[] }).Statement);
  const actions = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);

  it('runs on Node.js 22, ARM64, inside the VPC, and reserves no concurrency', () => {
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
    // Lambda: an account keeps at least 10 unreserved concurrent executions, so on an account whose
    // quota is 10 any ReservedConcurrentExecutions fails the deploy. One-at-a-time is the lease's job.
    expect(fn.ReservedConcurrentExecutions).toBeUndefined();
    const vpc = fn.VpcConfig as { SubnetIds: unknown[]; SecurityGroupIds: unknown[] };
    expect(vpc.SubnetIds.map(refOf).every((id) => id.startsWith('VpcPrivateSubnet'))).toBe(true);
    expect(vpc.SecurityGroupIds.map(refOf)).toEqual([expect.stringMatching(/^HealthCheckerSecurityGroup/)]);
  });

  it('is scheduled every minute and drops stale events instead of piling them up', () => {
    s.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } }),
      ],
    });
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 });
  });

  it('may register and deregister only on the port-21 target group and the SFTP one, which follows it', () => {
    const reg = statements.filter((st) => actions(st).some((a) => /RegisterTargets|DeregisterTargets/.test(a)));
    expect(reg).toHaveLength(2);
    for (const st of reg)
      expect(actions(st).sort()).toEqual(['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets']);
    expect(reg.map((st) => refOf(st.Resource)).sort()).toEqual([
      expect.stringMatching(/^LoadBalancerControlTargetGroup/),
      expect.stringMatching(/^LoadBalancerSftpTargetGroup/),
    ]);
    // Only the two Describe actions are on "*", because those APIs have no resource-level permissions.
    const star = statements.filter((st) => JSON.stringify(st.Resource) === '"*"');
    expect(star.flatMap(actions).sort()).toEqual(['ec2:DescribeInstances', 'elasticloadbalancing:DescribeTargetHealth']);
  });

  it('reads only the health-check and FTPS certificate secrets, and only its own state table', () => {
    const secret = statements.filter((st) => actions(st).includes('secretsmanager:GetSecretValue'));
    const resources = secret.flatMap((st) => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]));
    expect(resources.map(refOf).sort()).toEqual([
      expect.stringMatching(/^FtpsCertificateSecret/),
      expect.stringMatching(/^SecretsHealthCheckSecret/),
    ]);
    const ddb = statements.filter((st) => actions(st).some((a) => a.startsWith('dynamodb:')));
    expect(ddb.flatMap(actions).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
    expect(flatten(ddb[0].Resource)).toMatch(/HealthCheckerState\w+\.Arn/);
  });

  it('may reach each backend on 21 and on that backend passive range only', () => {
    const sgId = refOf((fn.VpcConfig as { SecurityGroupIds: unknown[] }).SecurityGroupIds[0]);
    const ingress = resourcesOfType(s, 'AWS::EC2::SecurityGroupIngress').filter(([, p]) => refOf(p.SourceSecurityGroupId) === sgId);
    const bySlot = ingress.map(([, p]) => `${refOf(p.GroupId).replace(/SecurityGroup.*/, '')}:${p.FromPort}-${p.ToPort}`).sort();
    expect(bySlot).toEqual([
      'BackendsSlot0:21-21',
      'BackendsSlot0:40000-40007',
      'BackendsSlot1:21-21',
      'BackendsSlot1:40008-40015',
      'BackendsSlot2:21-21',
      'BackendsSlot2:40016-40023',
    ]);
  });

  it('keeps its logs for a month', () => {
    const logGroupId = refOf((fn.LoggingConfig as { LogGroup: unknown }).LogGroup);
    expect((s.json.Resources[logGroupId].Properties as Props).RetentionInDays).toBe(30);
  });

  it('gets the inventory (each slot by its first passive target group), thresholds and target group from the stack', () => {
    const env = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env[CheckerEnv.fallThreshold]).toBe('2');
    expect(env[CheckerEnv.riseThreshold]).toBe('2');
    expect(env[CheckerEnv.intervalSeconds]).toBe('10');
    expect(env[CheckerEnv.timeoutSeconds]).toBe('5');
    expect(refOf(env[CheckerEnv.controlTargetGroupArn])).toMatch(/^LoadBalancerControlTargetGroup/);
    const inv = flatten(env[CheckerEnv.inventory]);
    for (const slot of [0, 1, 2])
      expect(inv).toMatch(
        new RegExp(
          `\\[${slot},"\\$\\{LoadBalancerPassive${40000 + slot * 8}TargetGroup\\w+\\.TargetGroupFullName\\}",${40000 + slot * 8},${40007 + slot * 8}\\]`,
        ),
      );
  });

  it('is left out when healthCheck.enabled is false', () => {
    const off = synth({ healthCheck: { enabled: false } });
    expect(countOfType(off, 'AWS::Events::Rule')).toBe(0);
    // Only the bans table (its own setting) remains: the checker's state table is gone.
    expect(resourcesOfType(off, 'AWS::DynamoDB::Table').map(([id]) => id)).toEqual([expect.stringMatching(/^BanTable/)]);
  });
});

describe('inventory encoding', () => {
  it('fits Lambda 4 KB environment at the most slots one stack can hold, with the longest target group names', () => {
    // 23 slots is the largest deployable N (config-budget.test.ts); a target group's full name is at most
    // `targetgroup/` + 32 characters + `/` + 16 hex digits.
    const worst = Array.from({ length: largestBackendCount(parseConfig({ ftpServer: 'vsftpd' }), 1) }, (_, i) => ({
      slot: i,
      passiveTargetGroup: `targetgroup/${'N'.repeat(32)}/0123456789abcdef`,
      passivePorts: { min: 65000 + i, max: 65000 + i },
    }));
    expect(worst).toHaveLength(23);
    const arn = (name: string) => `arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:${name}-AbCdEf`;
    const env = checkerEnvironment({
      slots: worst,
      controlTargetGroupArn:
        'arn:aws:elasticloadbalancing:us-gov-west-1:123456789012:targetgroup/NlbFtp-Contr-ABCDEFGHIJKL/0123456789abcdef',
      healthSecretArn: arn('NlbFtpSecretsHealthCheckSecret0123456789AB'),
      stateTable: 'NlbFtp-HealthCheckerState0123456789AB-ABCDEFGHIJKL',
      intervalSeconds: 60,
      timeoutSeconds: 30,
      fallThreshold: 10,
      riseThreshold: 10,
      budgetSeconds: 60,
      ftps: { mode: 'required', certificateSecretArn: arn('NlbFtpFtpsCertificateSecret0123456789AB') },
    });
    // Lambda: 4 KB for all environment variables, names and values together.
    const total = Object.entries(env).reduce((n, [k, v]) => n + k.length + v.length, 0) + 'POWERTOOLS_SERVICE_NAME'.length + 64;
    expect(total).toBeLessThan(4096);
    expect(decodeInventory(encodeInventory(worst))).toEqual(worst);
  });

  it('rejects a malformed inventory with the entry index', () => {
    expect(() => decodeInventory('[[0,"i-1"]]')).toThrow(/entry 0/);
    expect(() => decodeInventory('[[0,"i-0123",40000,40003]]')).toThrow(/entry 0 must be \[slot, "targetgroup/);
  });

  it('rebuilds a passive target group ARN from the port-21 group ARN and a full name', () => {
    const control = 'arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/NlbFtp-Contr/0123456789abcdef';
    expect(targetGroupArn(control, 'targetgroup/NlbFtp-P4000/fedcba9876543210')).toBe(
      'arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/NlbFtp-P4000/fedcba9876543210',
    );
    expect(() => targetGroupArn('arn:aws:s3:::bucket', 'targetgroup/x/0')).toThrow(/not a target group ARN/);
  });
});
