/**
 * The load balancer and monitoring constructs built alone in a bare Stack, from their own narrow
 * props: their defaults are the documented ones, and nothing needs the whole nlb-ftp config.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { scratchOutdir } from '../../harness/synth';
import { FtpLoadBalancer } from '../../lib/infra/ftp-load-balancer';
import { FtpMonitoring } from '../../lib/infra/monitoring/ftp-monitoring';

function bareStack(): { stack: Stack; vpc: ec2.Vpc } {
  const stack = new Stack(new App({ outdir: scratchOutdir() }), 'Bare', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  return { stack, vpc };
}

/** A load balancer with two slots attached, each with a bare instance. */
function loadBalancerWithSlots(props: Partial<ConstructorParameters<typeof FtpLoadBalancer>[2]> = {}) {
  const { stack, vpc } = bareStack();
  const lb = new FtpLoadBalancer(stack, 'Lb', { vpc, passivePorts: { minPort: 40000, maxPort: 40003 }, namePrefix: 'Bare', ...props });
  for (const slot of [0, 1]) {
    const securityGroup = new ec2.SecurityGroup(stack, `Sg${slot}`, { vpc });
    const group = new autoscaling.AutoScalingGroup(stack, `G${slot}`, {
      vpc,
      instanceType: new ec2.InstanceType('t4g.small'),
      machineImage: ec2.MachineImage.genericLinux({ 'eu-west-1': 'ami-12345678' }),
      securityGroup,
    });
    const minPort = 40000 + slot * 2;
    lb.attach({ ports: { slot, minPort, maxPort: minPort + 1, ports: [minPort, minPort + 1] }, group, securityGroup });
  }
  return { stack, lb, template: () => Template.fromStack(stack) };
}

describe('FtpLoadBalancer alone', () => {
  it('uses its documented defaults: 350 s idle timeout, 300 s deregistration, port-21 checks every 10 s, open to the internet', () => {
    const template = loadBalancerWithSlots().template();
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 5);
    template.resourceCountIs('AWS::EC2::EIP', 2);
    template.allResourcesProperties('AWS::ElasticLoadBalancingV2::Listener', {
      ListenerAttributes: [{ Key: 'tcp.idle_timeout.seconds', Value: '350' }],
    });
    template.allResourcesProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPort: '21',
      HealthCheckIntervalSeconds: 10,
      HealthyThresholdCount: 3,
      UnhealthyThresholdCount: 2,
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '300' }]),
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }]),
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: Match.arrayWith([Match.objectLike({ CidrIp: '0.0.0.0/0', FromPort: 40000, ToPort: 40003 })]),
    });
  });

  it('gives every passive port a target group that holds only its own slot', () => {
    const { lb } = loadBalancerWithSlots();
    expect([...lb.passiveTargetGroups.keys()]).toEqual([40000, 40001, 40002, 40003]);
    const template = loadBalancerWithSlots().template();
    const groups = template.findResources('AWS::ElasticLoadBalancingV2::TargetGroup');
    const passive = Object.entries(groups).filter(([, g]) => g.Properties.Port !== 21);
    expect(passive).toHaveLength(4);
    // The slots' Auto Scaling groups name the target groups; each passive group is named by exactly one.
    const asgs = Object.values(template.findResources('AWS::AutoScaling::AutoScalingGroup'));
    for (const [id] of passive) {
      const holders = asgs.filter((a) => (a.Properties.TargetGroupARNs as Array<{ Ref: string }>).some((r) => r.Ref === id));
      expect(holders, id).toHaveLength(1);
    }
  });

  it('applies the props it is given', () => {
    const template = loadBalancerWithSlots({
      allowedCidrs: ['198.51.100.0/24'],
      idleTimeout: Duration.seconds(1200),
      deregistrationDelay: Duration.seconds(30),
      crossZone: false,
      healthCheck: { interval: Duration.seconds(30), healthyThreshold: 5 },
    }).template();
    template.allResourcesProperties('AWS::ElasticLoadBalancingV2::Listener', {
      ListenerAttributes: [{ Key: 'tcp.idle_timeout.seconds', Value: '1200' }],
    });
    template.allResourcesProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckIntervalSeconds: 30,
      HealthyThresholdCount: 5,
      UnhealthyThresholdCount: 2,
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }]),
    });
    const [lbGroup] = Object.entries(template.findResources('AWS::EC2::SecurityGroup')).filter(([id]) => id.startsWith('LbSecurityGroup'));
    const sources = (lbGroup[1].Properties.SecurityGroupIngress as Array<{ CidrIp: string }>).map((r) => r.CidrIp);
    expect(new Set(sources)).toEqual(new Set(['198.51.100.0/24']));
  });
});

describe('FtpMonitoring alone', () => {
  function monitoring(props: Partial<ConstructorParameters<typeof FtpMonitoring>[2]> = {}, slotCount = 2) {
    const { stack, lb } = loadBalancerWithSlots();
    const slots = Array.from({ length: slotCount }, (_, slot) => ({
      slot,
      minPort: 40000 + slot * 2,
      maxPort: 40001 + slot * 2,
      targetGroup: lb.passiveTargetGroup(40000 + (slot % 2) * 2),
    }));
    new FtpMonitoring(stack, 'Mon', {
      stackName: 'Bare',
      slots,
      controlTargetGroup: lb.controlTargetGroup,
      loadBalancer: lb.nlb,
      ...props,
    });
    return Template.fromStack(stack);
  }

  it('without a checker: NLB alarms per slot, the cluster alarm and the composite, no login alarms', () => {
    const t = monitoring();
    const names = Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName);
    expect(names.sort()).toEqual(['Bare-slot0-nlb-target-unhealthy', 'Bare-slot1-nlb-target-unhealthy', 'Bare-too-few-healthy-backends']);
    t.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 1);
    t.resourceCountIs('AWS::SNS::Subscription', 0);
    // Default floor: 1 healthy backend when N < 3.
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'Bare-too-few-healthy-backends', Threshold: 1 });
  });

  it('with a checker: login alarms at the fall threshold, checker alarms, and the N-1 default floor from 3 slots', () => {
    const { stack: other } = bareStack();
    const fn = lambda.Function.fromFunctionName(other, 'Fn', 'checker');
    const t = monitoring({ checkerFunction: fn, alarmEmail: 'ops@example.com', fallThreshold: 3 }, 3);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'Bare-slot2-ftp-login-failing', Threshold: 3 });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'Bare-checker-heartbeat-missing' });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'Bare-too-few-healthy-backends', Threshold: 2 });
    t.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 2);
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });
});
