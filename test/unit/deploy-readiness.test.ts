/**
 * What a first `cdk deploy` in a fresh account needs from the template, read as data: every alarm
 * reaches someone, the NLB's health checks are valid, the NLB's security group reaches only the
 * backends, and resources are created after what they need (the template's dependency graph).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { bootSettingsOf, resourcesOfType, type Synthesized, synth } from '../../harness/synth';
import { refOf } from '../../harness/template';
import { SFTP_BACKEND_PORT } from '../../lib/backend/proftpd-conf';
import { settingsFile } from '../../lib/backend/user-data';
import { ConfigError, parseConfig, sftpEnabled } from '../../lib/config';
import { stackResources } from '../../lib/config/resource-budget';

type Resources = Synthesized['json']['Resources'];

/** Every logical ID a resource names: DependsOn, Ref, Fn::GetAtt (and ${X} in Fn::Sub). */
function directDependencies(res: Resources, id: string): Set<string> {
  const r = res[id] as { DependsOn?: string | string[]; Properties?: unknown };
  const out = new Set<string>([r.DependsOn ?? []].flat());
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.Ref === 'string' && res[o.Ref]) out.add(o.Ref);
      if (Array.isArray(o['Fn::GetAtt'])) out.add((o['Fn::GetAtt'] as string[])[0]);
      if (typeof o['Fn::Sub'] === 'string') for (const m of (o['Fn::Sub'] as string).matchAll(/\$\{([A-Za-z0-9]+)/g)) out.add(m[1]);
      Object.values(o).forEach(walk);
    }
  };
  walk(r.Properties);
  return new Set([...out].filter((d) => res[d]));
}

/** Everything CloudFormation must create before `id`. */
function createdBefore(res: Resources, id: string): Set<string> {
  const seen = new Set<string>();
  const stack = [id];
  while (stack.length) {
    for (const d of directDependencies(res, stack.pop() as string)) {
      if (!seen.has(d)) {
        seen.add(d);
        stack.push(d);
      }
    }
  }
  return seen;
}

const ofType = (res: Resources, type: string) => Object.keys(res).filter((id) => res[id].Type === type);

describe.each([
  ['defaults (ProFTPD, SFTP)', {}],
  ['vsftpd, 3 backends, checker off', { ftpServer: 'vsftpd' as const, backendCount: 3, healthCheck: { enabled: false } }],
])('deploy readiness: %s', (_name, config) => {
  let s: Synthesized;
  let res: Resources;
  beforeAll(() => {
    s = synth(config);
    res = s.json.Resources;
  });

  it('every alarm notifies the alarm topic, directly or through a composite alarm that does', () => {
    const topics = ofType(res, 'AWS::SNS::Topic');
    expect(topics).toHaveLength(1);
    const notifies = (id: string) =>
      ((res[id].Properties?.AlarmActions as unknown[]) ?? []).some((a) => {
        try {
          return refOf(a) === topics[0];
        } catch {
          return false;
        }
      });
    const composites = ofType(res, 'AWS::CloudWatch::CompositeAlarm');
    /** Alarm logical IDs that a composite's rule names (ALARM("arn") with a GetAtt inside the join). */
    const children = (id: string) => directDependencies(res, id);
    const reaches = (id: string, depth = 0): boolean =>
      notifies(id) || (depth < 5 && composites.some((c) => children(c).has(id) && reaches(c, depth + 1)));
    const alarms = [...ofType(res, 'AWS::CloudWatch::Alarm'), ...composites];
    expect(alarms.length).toBeGreaterThan(3);
    const silent = alarms.filter((a) => !reaches(a));
    expect(silent).toEqual([]);
    // The slot alarms that were silent before: one per slot, now paging.
    const noInstance = alarms.filter((a) => /NoInstanceAlarm/.test(a));
    expect(noInstance.length).toBe((config as { backendCount?: number }).backendCount ?? 2);
    for (const a of noInstance) expect(notifies(a)).toBe(true);
  });

  it('every NLB health check times out before its next check (ELBv2 refuses timeout >= interval)', () => {
    const groups = resourcesOfType(s, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(groups.length).toBeGreaterThan(2);
    for (const [id, p] of groups) {
      expect(p.HealthCheckTimeoutSeconds, id).toBeDefined();
      expect(Number(p.HealthCheckTimeoutSeconds), id).toBeLessThan(Number(p.HealthCheckIntervalSeconds));
    }
  });

  it("the NLB's security group reaches only the backends' FTP ports: no allow-all egress", () => {
    const [sgId] = Object.keys(res).filter(
      (id) => res[id].Type === 'AWS::EC2::SecurityGroup' && id.startsWith('LoadBalancerSecurityGroup'),
    );
    // Without inline egress, EC2 keeps its default allow-all rule whatever else is added.
    const [placeholder, ...inline] = (res[sgId].Properties?.SecurityGroupEgress ?? []) as Array<Record<string, unknown>>;
    expect(placeholder).toEqual({
      CidrIp: '255.255.255.255/32',
      IpProtocol: 'icmp',
      FromPort: 252,
      ToPort: 86,
      Description: 'Disallow all traffic',
    });
    // With SFTP, one inline rule more: the backends' SFTP port, within the VPC only.
    const sftp = sftpEnabled(parseConfig(config));
    expect(inline).toEqual(
      sftp
        ? [
            expect.objectContaining({
              IpProtocol: 'tcp',
              FromPort: SFTP_BACKEND_PORT,
              ToPort: SFTP_BACKEND_PORT,
              CidrIp: { 'Fn::GetAtt': [expect.stringMatching(/^Vpc/), 'CidrBlock'] },
            }),
          ]
        : [],
    );
    const egress = resourcesOfType(s, 'AWS::EC2::SecurityGroupEgress').filter(([, p]) => refOf(p.GroupId) === sgId);
    expect(egress.length).toBeGreaterThan(0);
    for (const [id, p] of egress) {
      expect(refOf(p.DestinationSecurityGroupId), id).toMatch(/^BackendsSlot\d+SecurityGroup/);
      expect(p.IpProtocol, id).toBe('tcp');
      expect(p.CidrIp, id).toBeUndefined();
    }
  });

  it('the internet-facing NLB is created after the internet gateway is attached', () => {
    const [nlb] = ofType(res, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    const [attachment] = ofType(res, 'AWS::EC2::VPCGatewayAttachment');
    expect(createdBefore(res, nlb).has(attachment)).toBe(true);
  });

  it("each slot's group launches only after its subnet's route to a NAT gateway exists", () => {
    const groups = ofType(res, 'AWS::AutoScaling::AutoScalingGroup');
    expect(groups.length).toBeGreaterThan(1);
    for (const g of groups) {
      const before = createdBefore(res, g);
      const natRoutes = [...before].filter((d) => res[d].Type === 'AWS::EC2::Route' && res[d].Properties?.NatGatewayId);
      expect(natRoutes.length, g).toBeGreaterThanOrEqual(1);
      // The route must be the one of the group's own subnet.
      const subnets = ((res[g].Properties?.VPCZoneIdentifier as unknown[]) ?? []).map(refOf);
      for (const subnet of subnets) {
        const table = Object.values(res).find(
          (r) => r.Type === 'AWS::EC2::SubnetRouteTableAssociation' && refOf(r.Properties?.SubnetId) === subnet,
        );
        const tableId = refOf(table?.Properties?.RouteTableId);
        expect(
          natRoutes.some((r) => refOf(res[r].Properties?.RouteTableId) === tableId),
          `${g} in ${subnet}`,
        ).toBe(true);
      }
    }
  });
});

describe('the resource model (the exhaustive grid is in test/slow/config-budget.test.ts)', () => {
  it('counts exactly what the defaults synthesize, AWS::CDK::Metadata included as the CLI adds it', () => {
    const s = synth({ backendCount: 3, passivePortsPerBackend: 3 });
    const types = Object.values(s.json.Resources).map((r) => r.Type);
    expect(types.filter((t) => t === 'AWS::CDK::Metadata')).toHaveLength(1);
    expect(stackResources(parseConfig({ backendCount: 3, passivePortsPerBackend: 3 }))).toBe(types.length);
  });
});

describe('secrets from elsewhere and reserved passive ports', () => {
  it('a secret named by ARN gets a CloudFormation Rule that stops the deploy outside its partition and region', () => {
    const arn = 'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:users-AbCdEf';
    const t = synth({ ftpUsersSecretArn: arn }).json as { Rules?: Record<string, { Assertions: unknown[] }> };
    const rule = t.Rules?.FtpUsersSecretArnInThisRegion;
    expect(rule).toBeDefined();
    const text = JSON.stringify(rule);
    expect(text).toContain('"aws-cn"');
    expect(text).toContain('"cn-north-1"');
    expect(text).toContain('AWS::Region');
    expect(text).toContain('AWS::Partition');
    // No rule without such a secret.
    expect((synth({}).json as { Rules?: Record<string, unknown> }).Rules?.FtpUsersSecretArnInThisRegion).toBeUndefined();
  });

  it.each(['vsftpd', 'proftpd'] as const)('every %s slot reserves its own passive range from outbound source ports', (server) => {
    const s = synth({ ftpServer: server, backendCount: 2, passivePortsPerBackend: 4 });
    const scripts = bootSettingsOf(s).map((x) => settingsFile(x, 'host-sysctl').text);
    expect(scripts).toHaveLength(2);
    const reserved = scripts.map((b) => /^net\.ipv4\.ip_local_reserved_ports = (\d+)-(\d+)$/m.exec(b)?.slice(1).map(Number));
    expect(reserved.sort()).toEqual([
      [40000, 40003],
      [40004, 40007],
    ]);
  });
});

describe('NLB health-check timeout setting', () => {
  it('defaults to 4 s, below the smallest interval allowed (5 s)', () => {
    expect(parseConfig({ nlbHealthCheck: { intervalSeconds: 5 } }).nlbHealthCheck.timeoutSeconds).toBe(4);
  });

  it('refuses a timeout that is not below the interval, naming the field and the value that works', () => {
    let err: unknown;
    try {
      parseConfig({ nlbHealthCheck: { intervalSeconds: 6, timeoutSeconds: 6 } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(/nlbHealthCheck\.(timeoutSeconds|intervalSeconds)/);
    expect(String((err as Error).message)).toMatch(/5/);
  });
});
