import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { resourcesOfType, type Synthesized, synth } from '../../harness/synth';
import { flatten, refOf } from '../../harness/template';
import { planPorts } from '../../lib/shared/port-plan';

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

function targetsOf(s: Synthesized, tgId: string): Array<{ instance: string; port: number }> {
  const tg = s.json.Resources[tgId].Properties as Props;
  return (tg.Targets as Array<{ Id: unknown; Port: number }>).map((t) => ({ instance: refOf(t.Id), port: t.Port }));
}

/** Instance logical IDs by slot, found by their Name tag (the IDs carry a hash of the user data). */
function instanceIdsBySlot(s: Synthesized): string[] {
  const byName = new Map(
    resourcesOfType(s, 'AWS::EC2::Instance').map(([id, p]) => [
      (p.Tags as Array<{ Key: string; Value: string }>).find((t) => t.Key === 'Name')?.Value,
      id,
    ]),
  );
  return s.stack.backends.backends.map((b) => byName.get(`${s.stack.config.stackName}-slot${b.slot}`) as string);
}

describe.each([1, 2, 5])('stack with %i backend(s)', (n) => {
  const s = synth({ backendCount: n });
  const plan = planPorts(s.stack.config);
  const instances = instanceIdsBySlot(s);

  it('has exactly 1 + N*r listeners, all TCP', () => {
    s.template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1 + n * 8);
    for (const [, p] of resourcesOfType(s, 'AWS::ElasticLoadBalancingV2::Listener')) expect(p.Protocol).toBe('TCP');
  });

  it('forwards port 21 to one target group holding every instance', () => {
    const targets = targetsOf(s, listenerTargets(s).get(21) as string);
    expect(targets.map((t) => t.instance).sort()).toEqual([...instances].sort());
    expect(targets.every((t) => t.port === 21)).toBe(true);
  });

  it('forwards every passive port only to its own slot instance, on that port', () => {
    const byPort = listenerTargets(s);
    for (const slot of plan.slots) {
      for (const port of slot.ports) {
        const tgId = byPort.get(port);
        expect(tgId, `no listener on ${port}`).toBeDefined();
        expect(targetsOf(s, tgId as string)).toEqual([{ instance: instances[slot.slot], port }]);
      }
    }
    expect(byPort.size).toBe(1 + n * 8);
  });

  it('health-checks every target group on port 21, since passive ports are closed until PASV', () => {
    const tgs = resourcesOfType(s, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(tgs).toHaveLength(1 + n * 8);
    for (const [, p] of tgs) {
      expect(p).toMatchObject({ HealthCheckProtocol: 'TCP', HealthCheckPort: '21', TargetType: 'instance' });
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
    for (const b of s.stack.backends.backends) {
      const props = s.json.Resources[instances[b.slot]].Properties as Props;
      const ud = flatten(props.UserData);
      expect(ud).toContain(`pasv_min_port=${b.ports.minPort}\n`);
      expect(ud).toContain(`pasv_max_port=${b.ports.maxPort}\n`);
      expect(ud).toContain(`pasv_address=\${${eips[b.slot % 2]}.PublicIp}\n`);
      expect(ud).toContain(`ftpd_banner=nlb-ftp backend slot ${b.slot} ready`);
      // The backend's subnet is in the same AZ as the EIP it advertises.
      const subnet = refOf((props.NetworkInterfaces as Array<{ SubnetId: unknown }>)[0].SubnetId);
      expect(subnet).toBe(`VpcPrivateSubnet${(b.slot % 2) + 1}Subnet${subnet.slice(-8)}`);
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
    for (const id of instances) {
      const p = s.json.Resources[id].Properties as Props;
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

  it('recovers each instance on host failure', () => {
    const alarms = resourcesOfType(s, 'AWS::CloudWatch::Alarm').filter(([, p]) => p.MetricName === 'StatusCheckFailed_System');
    expect(alarms).toHaveLength(n);
    for (const [, p] of alarms) expect(flatten(p.AlarmActions)).toContain(':automate:');
  });
});

describe('security groups', () => {
  const s = synth({ backendCount: 2, allowedCidrs: ['198.51.100.0/24'] });

  it('opens each backend only on 21 and its own passive range', () => {
    for (const b of s.stack.backends.backends) {
      const sgId = s.stack.getLogicalId(b.securityGroup.node.defaultChild as never);
      const sg = s.json.Resources[sgId].Properties as Props;
      const inline = (sg.SecurityGroupIngress as Props[] | undefined) ?? [];
      const separate = resourcesOfType(s, 'AWS::EC2::SecurityGroupIngress')
        .filter(([, p]) => refOf(p.GroupId) === sgId)
        .map(([, p]) => p);
      const ports = [...inline, ...separate].map((r) => `${r.FromPort}-${r.ToPort}`);
      expect(new Set(ports)).toEqual(new Set(['21-21', `${b.ports.minPort}-${b.ports.maxPort}`]));
      for (const r of inline) expect(r.CidrIp).toBe('198.51.100.0/24');
      expect([...inline, ...separate].some((r) => r.FromPort === 22)).toBe(false);
    }
  });

  it('admits only the allowed clients at the NLB', () => {
    const sgId = s.stack.getLogicalId(s.stack.loadBalancer.securityGroup.node.defaultChild as never);
    const ingress = (s.json.Resources[sgId].Properties as Props).SecurityGroupIngress as Props[];
    expect(ingress.map((r) => [r.CidrIp, r.FromPort, r.ToPort])).toEqual([
      ['198.51.100.0/24', 21, 21],
      ['198.51.100.0/24', 40000, 40015],
    ]);
  });
});

describe('scaling', () => {
  it('adding a backend (2 -> 3) keeps every logical ID and resource of the first two slots unchanged', () => {
    const two = synth({ backendCount: 2 }).json.Resources;
    const three = synth({ backendCount: 3 }).json.Resources;
    const kinds = [
      'AWS::EC2::Instance',
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
    // The only change allowed: slot 2 joins the port-21 target group.
    expect(changed).toEqual([expect.stringMatching(/^LoadBalancerControlTargetGroup/)]);
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
    const plain = synth({ backendCount: 2, ftps: 'off' }).template.toJSON().Outputs as Record<string, { Value: unknown }>;
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
    const s = synth({ ftpUsersSecretArn: arn, ftps: 'off' });
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
