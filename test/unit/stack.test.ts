import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { countOfType, resourcesOfType, type Synthesized, synth } from '../../harness/synth';
import { flatten, refOf } from '../../harness/template';
import { SFTP_BACKEND_PORT } from '../../lib/backend/proftpd-conf';
import { readBootSettings, settingsFile } from '../../lib/backend/user-data';

type Props = Record<string, unknown>;

/** Listener port -> logical ID of the target group it forwards to. */
function listenerTargets(s: Synthesized): Map<number, string> {
  const out = new Map<number, string>();
  for (const [, p] of resourcesOfType(s, 'AWS::ElasticLoadBalancingV2::Listener')) {
    const actions = p.DefaultActions as Array<{ Type: string; TargetGroupArn: unknown }>;
    expect(actions).toHaveLength(1);
    expect(actions[0].Type).toBe('forward');
    out.set(p.Port as number, refOf(actions[0].TargetGroupArn));
  }
  return out;
}

/**
 * What the defaults must give, written out here rather than computed by the code under test:
 * 8 passive ports per backend from 40000, slot i owning 40000 + 8i to 40000 + 8i + 7.
 */
function expectedSlots(n: number): Array<{ slot: number; minPort: number; maxPort: number; ports: number[] }> {
  return Array.from({ length: n }, (_, slot) => {
    const minPort = 40000 + 8 * slot;
    return { slot, minPort, maxPort: minPort + 7, ports: Array.from({ length: 8 }, (_, i) => minPort + i) };
  });
}

/** Each slot's Auto Scaling group logical ID, by slot (found by the group name, NlbFtp-slotN). */
function groupIdsBySlot(s: Synthesized, n: number): string[] {
  const byName = new Map(resourcesOfType(s, 'AWS::AutoScaling::AutoScalingGroup').map(([id, p]) => [p.AutoScalingGroupName, id]));
  expect(byName.size).toBe(n);
  return expectedSlots(n).map((b) => {
    const id = byName.get(`NlbFtp-slot${b.slot}`);
    expect(id, `no group NlbFtp-slot${b.slot}`).toBeDefined();
    return id as string;
  });
}

/** The target groups (logical IDs) a group registers its instance in. */
function targetGroupsOf(s: Synthesized, groupId: string): string[] {
  return ((s.json.Resources[groupId].Properties as Props).TargetGroupARNs as unknown[]).map(refOf);
}

/** The launch template data of a group's launch template. */
function launchDataOf(s: Synthesized, groupId: string): Props {
  const lt = refOf(((s.json.Resources[groupId].Properties as Props).LaunchTemplate as Props).LaunchTemplateId);
  return (s.json.Resources[lt].Properties as Props).LaunchTemplateData as Props;
}

describe.each([1, 2, 5])('stack with %i backend(s)', (n) => {
  const s = synth({ backendCount: n });
  const slots = expectedSlots(n);
  const groups = groupIdsBySlot(s, n);

  it('has exactly 1 + 1 + N*r listeners (21, SFTP, passive), all TCP', () => {
    s.template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2 + n * 8);
    for (const [, p] of resourcesOfType(s, 'AWS::ElasticLoadBalancingV2::Listener')) expect(p.Protocol).toBe('TCP');
  });

  it('forwards port 21 to one target group that every slot registers in', () => {
    const control = listenerTargets(s).get(21) as string;
    expect((s.json.Resources[control].Properties as Props).Port).toBe(21);
    for (const g of groups) expect(targetGroupsOf(s, g)).toContain(control);
  });

  it("forwards SFTP (22) to one target group of every slot, on the backends' port 2222", () => {
    const sftp = listenerTargets(s).get(22) as string;
    expect((s.json.Resources[sftp].Properties as Props).Port).toBe(SFTP_BACKEND_PORT);
    // Its own health check: a backend whose SFTP is down leaves only this group.
    expect(s.json.Resources[sftp].Properties).toMatchObject({ HealthCheckProtocol: 'TCP', HealthCheckPort: String(SFTP_BACKEND_PORT) });
    for (const g of groups) expect(targetGroupsOf(s, g)).toContain(sftp);
  });

  it('forwards every passive port only to its own slot, on that port: each slot registers in exactly 21, SFTP and its own range', () => {
    const byPort = listenerTargets(s);
    for (const slot of slots) {
      const own = slot.ports.map((port) => {
        const tgId = byPort.get(port);
        expect(tgId, `no listener on ${port}`).toBeDefined();
        expect((s.json.Resources[tgId as string].Properties as Props).Port).toBe(port);
        return tgId as string;
      });
      expect(targetGroupsOf(s, groups[slot.slot]).sort()).toEqual([byPort.get(21) as string, byPort.get(22) as string, ...own].sort());
    }
    expect(byPort.size).toBe(2 + n * 8);
  });

  it('health-checks every FTP target group on port 21, since passive ports are closed until PASV', () => {
    const tgs = resourcesOfType(s, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(tgs).toHaveLength(2 + n * 8);
    for (const [, p] of tgs) {
      const port = p.Port === SFTP_BACKEND_PORT ? String(SFTP_BACKEND_PORT) : '21';
      expect(p).toMatchObject({ HealthCheckProtocol: 'TCP', HealthCheckPort: port, TargetType: 'instance' });
      expect(p.TargetGroupAttributes).toEqual(
        expect.arrayContaining([
          { Key: 'preserve_client_ip.enabled', Value: 'true' },
          { Key: 'deregistration_delay.timeout_seconds', Value: '300' },
        ]),
      );
    }
  });

  it("writes each slot's own range and its AZ's Elastic IP into its user data", () => {
    const eips = resourcesOfType(s, 'AWS::EC2::EIP')
      .map(([id]) => id)
      .filter((id) => id.startsWith('LoadBalancerEip'))
      .sort();
    expect(eips).toHaveLength(2);
    for (const b of slots) {
      const settings = readBootSettings(flatten(launchDataOf(s, groups[b.slot]).UserData));
      expect(settings.env).toMatchObject({ SLOT: b.slot, PASV_MIN: b.minPort, PASV_MAX: b.maxPort });
      const ud = settingsFile(settings, 'server-conf').text;
      // ProFTPD, the default server.
      expect(ud).toContain(`\nPassivePorts ${b.minPort} ${b.maxPort}\n`);
      expect(ud).toContain(`\nMasqueradeAddress \${${eips[b.slot % 2]}.PublicIp}\n`);
      expect(ud).toContain(`\nServerIdent on "nlb-ftp backend slot ${b.slot} ready`);
      // The backend's group launches in one subnet, in the same AZ as the EIP it advertises.
      const subnets = ((s.json.Resources[groups[b.slot]].Properties as Props).VPCZoneIdentifier as unknown[]).map(refOf);
      expect(subnets).toHaveLength(1);
      expect(subnets[0]).toBe(`VpcPrivateSubnet${(b.slot % 2) + 1}Subnet${subnets[0].slice(-8)}`);
    }
  });

  it('maps one Elastic IP per AZ onto the NLB', () => {
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      Type: 'network',
      SubnetMappings: [
        { AllocationId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LoadBalancerEip0'), 'AllocationId'] }, SubnetId: Match.anyValue() },
        { AllocationId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LoadBalancerEip1'), 'AllocationId'] }, SubnetId: Match.anyValue() },
      ],
      SecurityGroups: Match.anyValue(),
    });
  });

  it('sets the TCP idle timeout on the port-21 listener', () => {
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 21,
      ListenerAttributes: [{ Key: 'tcp.idle_timeout.seconds', Value: '350' }],
    });
  });

  it('requires IMDSv2 with hop limit 1, encrypts the root volume and uses no SSH key', () => {
    for (const id of groups) {
      const p = launchDataOf(s, id);
      expect(p.MetadataOptions).toEqual({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
      expect(p.BlockDeviceMappings).toEqual([{ DeviceName: '/dev/xvda', Ebs: expect.objectContaining({ Encrypted: true }) }]);
      expect(p.KeyName).toBeUndefined();
    }
  });

  it('keeps EFS encrypted, backed up and retained', () => {
    s.template.hasResource('AWS::EFS::FileSystem', {
      Properties: Match.objectLike({ Encrypted: true, BackupPolicy: { Status: 'ENABLED' } }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('runs each slot as an Auto Scaling group of exactly one instance that replaces a failed one, and no bare instance', () => {
    expect(countOfType(s, 'AWS::EC2::Instance')).toBe(0);
    expect(resourcesOfType(s, 'AWS::AutoScaling::AutoScalingGroup')).toHaveLength(n);
    for (const id of groups) {
      const r = s.json.Resources[id] as { Properties: Props; UpdatePolicy?: Props; CreationPolicy?: Props };
      expect(r.Properties).toMatchObject({ MinSize: '1', MaxSize: '1', HealthCheckType: 'ELB', HealthCheckGracePeriod: 120 });
      expect(r.Properties.DesiredCapacity ?? '1').toBe('1');
      // New instances stay out of the target groups until their boot script's FTP login passed.
      expect(r.Properties.LifecycleHookSpecificationList).toEqual([
        {
          LifecycleHookName: 'nlbftp-ready',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
          HeartbeatTimeout: 900,
          DefaultResult: 'ABANDON',
        },
      ]);
      // No rolling or replacing update: a deploy never replaces a running backend.
      expect(r.UpdatePolicy?.AutoScalingRollingUpdate).toBeUndefined();
      expect(r.UpdatePolicy?.AutoScalingReplacingUpdate).toBeUndefined();
    }
  });

  it('alarms when a slot has no in-service instance for longer than a boot', () => {
    const alarms = resourcesOfType(s, 'AWS::CloudWatch::Alarm').filter(([, p]) => p.MetricName === 'GroupInServiceInstances');
    expect(alarms.map(([, p]) => p.AlarmName).sort()).toEqual(slots.map((p) => `NlbFtp-slot${p.slot}-no-instance`).sort());
    for (const [, p] of alarms)
      expect(p).toMatchObject({ Threshold: 1, ComparisonOperator: 'LessThanThreshold', TreatMissingData: 'breaching' });
  });

  it('lets each boot script report readiness to its own group only', () => {
    const statements = resourcesOfType(s, 'AWS::IAM::Policy').flatMap(
      ([, p]) => (p.PolicyDocument as { Statement: Array<{ Action: unknown; Resource: unknown }> }).Statement,
    );
    const lifecycle = statements.filter((st) => JSON.stringify(st.Action).includes('autoscaling:'));
    expect(lifecycle).toHaveLength(1);
    expect(lifecycle[0].Action).toBe('autoscaling:CompleteLifecycleAction');
    const arns = (Array.isArray(lifecycle[0].Resource) ? lifecycle[0].Resource : [lifecycle[0].Resource]).map(flatten);
    expect(arns.map((a) => a.replace(/^.*autoScalingGroupName\//, '')).sort()).toEqual(slots.map((p) => `NlbFtp-slot${p.slot}`).sort());
  });
});

describe('security groups', () => {
  const s = synth({ backendCount: 2, allowedCidrs: ['198.51.100.0/24'] });

  it('opens each backend only on 21, SFTP (2222) and its own passive range; never on its own sshd port 22', () => {
    const backends = s.stack.backends.backends;
    expect(backends.map((b) => b.slot)).toEqual([0, 1]);
    for (const [i, b] of expectedSlots(2).entries()) {
      const sgId = s.stack.getLogicalId(backends[i].securityGroup.node.defaultChild as never);
      const sg = s.json.Resources[sgId].Properties as Props;
      const inline = (sg.SecurityGroupIngress as Props[] | undefined) ?? [];
      const separate = resourcesOfType(s, 'AWS::EC2::SecurityGroupIngress')
        .filter(([, p]) => refOf(p.GroupId) === sgId)
        .map(([, p]) => p);
      const ports = [...inline, ...separate].map((r) => `${r.FromPort}-${r.ToPort}`);
      expect(new Set(ports)).toEqual(new Set(['21-21', `${SFTP_BACKEND_PORT}-${SFTP_BACKEND_PORT}`, `${b.minPort}-${b.maxPort}`]));
      // Clients from allowedCidrs; on the SFTP port also the VPC (the NLB's health checks), by range.
      for (const r of inline) {
        if (r.FromPort === SFTP_BACKEND_PORT && typeof r.CidrIp !== 'string') expect(JSON.stringify(r.CidrIp)).toContain('CidrBlock');
        else expect(r.CidrIp).toBe('198.51.100.0/24');
      }
      expect([...inline, ...separate].some((r) => r.FromPort === 22)).toBe(false);
    }
  });

  it('admits only the allowed clients at the NLB', () => {
    const sgId = s.stack.getLogicalId(s.stack.loadBalancer.securityGroup.node.defaultChild as never);
    const ingress = (s.json.Resources[sgId].Properties as Props).SecurityGroupIngress as Props[];
    expect(ingress.map((r) => [r.CidrIp, r.FromPort, r.ToPort])).toEqual([
      ['198.51.100.0/24', 21, 21],
      ['198.51.100.0/24', 40000, 40015],
      ['198.51.100.0/24', 22, 22],
    ]);
  });
});

describe('scaling', () => {
  it('adding a backend (2 -> 3) keeps every logical ID and resource of the first two slots unchanged', () => {
    const two = synth({ backendCount: 2 }).json.Resources;
    const three = synth({ backendCount: 3 }).json.Resources;
    const kinds = [
      'AWS::AutoScaling::AutoScalingGroup',
      'AWS::EC2::LaunchTemplate',
      'AWS::ElasticLoadBalancingV2::Listener',
      'AWS::ElasticLoadBalancingV2::TargetGroup',
      'AWS::EC2::EIP',
      'AWS::ElasticLoadBalancingV2::LoadBalancer',
      'AWS::EFS::FileSystem',
    ];
    const ids = Object.keys(two).filter((id) => kinds.includes(two[id].Type));
    expect(ids.length).toBeGreaterThan(30);
    const changed: string[] = [];
    for (const id of ids) {
      expect(three[id], `${id} disappeared when scaling to 3`).toBeDefined();
      if (JSON.stringify(three[id]) !== JSON.stringify(two[id])) changed.push(id);
    }
    // Slot 2's group names the target groups it joins, so nothing existing changes at all.
    expect(changed).toEqual([]);
  });

  it.each([
    ['tcpKeepaliveSeconds', { tcpKeepaliveSeconds: 120 }],
    ['ftpsMaxTlsVersion', { ftpsMaxTlsVersion: '1.3' as const }],
    ['ftpsRequireSslReuse', { ftpsRequireSslReuse: false }],
    ['maxClientsPerBackend', { maxClientsPerBackend: 150 }],
  ])('changing %s changes only the launch templates: no group, target group or listener is touched', (_name, change) => {
    const before = synth({}).json.Resources;
    const after = synth(change).json.Resources;
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    const changed = Object.keys(before).filter((id) => JSON.stringify(before[id]) !== JSON.stringify(after[id]));
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.map((id) => before[id].Type)).toEqual(changed.map(() => 'AWS::EC2::LaunchTemplate'));
  });
});

describe('outputs', () => {
  it('gives the endpoint, static IPs, passive ranges, users secret and example commands', () => {
    const s = synth({ backendCount: 2 });
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'NlbDnsName',
        'ElasticIps',
        'Slot0PassiveRange',
        'Slot1PassiveRange',
        'UsersSecretArn',
        'ExampleCurl',
        'ExampleLftp',
      ]),
    );
    expect(outputs.Slot1PassiveRange.Value).toBe('40008-40015');
    expect(flatten(outputs.ExampleCurl.Value)).toMatch(
      /^curl -v --ssl-reqd --cacert nlb-ftp\.pem --user ftpuser ftp:\/\/\$\{LoadBalancerEip0\w+\.PublicIp\}\/$/,
    );
    expect(flatten(outputs.ExampleLftp.Value)).toContain('set ftp:ssl-force true; set ftp:ssl-protect-data true;');
    const plain = synth({ backendCount: 2, ftps: 'off', allowPlaintextFromInternet: true }).template.toJSON().Outputs as Record<
      string,
      { Value: unknown }
    >;
    expect(flatten(plain.ExampleCurl.Value)).toMatch(/^curl -v --user ftpuser ftp:\/\//);
    expect(Object.keys(plain).filter((k) => k.startsWith('Ftps'))).toEqual([]);
  });
});

describe('secrets', () => {
  it('generates passwords in Secrets Manager, never in the template', () => {
    const s = synth({});
    s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ SecretStringTemplate: '{}', GenerateStringKey: 'ftpuser' }),
    });
    s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ SecretStringTemplate: '{"username":"nlbftp-health"}', GenerateStringKey: 'password' }),
    });
    for (const [, p] of resourcesOfType(s, 'AWS::SecretsManager::Secret')) expect(p.SecretString).toBeUndefined();
  });

  it('uses an existing users secret by ARN and grants read on exactly that ARN', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ftp-users-AbCdEf';
    const s = synth({ ftpUsersSecretArn: arn, ftps: 'off', allowPlaintextFromInternet: true, sftp: 'off' });
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
            Resource: [arn, { Ref: Match.stringLikeRegexp('^SecretsHealthCheckSecret') }],
          }),
        ]),
      },
    });
  });
});
