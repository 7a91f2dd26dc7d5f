import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { resourcesOfType, type Synthesized, synth } from '../../harness/synth';
import { flatten, refOf } from '../../harness/template';
import { minHealthyBackendsOf, parseConfig } from '../../lib/config';

type Props = Record<string, unknown>;

/** The alarm topic's logical ID (there is one topic). */
function topicOf(s: Synthesized): string {
  const topics = resourcesOfType(s, 'AWS::SNS::Topic');
  expect(topics).toHaveLength(1);
  return topics[0][0];
}

/** An alarm's actions (alarm and OK) are exactly the topic. */
function expectNotifiesTopic(s: Synthesized, a: Props): void {
  const topic = topicOf(s);
  expect((a.AlarmActions as unknown[]).map(refOf)).toEqual([topic]);
  expect((a.OKActions as unknown[]).map(refOf)).toEqual([topic]);
}

function alarm(s: Synthesized, name: string): Props {
  const found = resourcesOfType(s, 'AWS::CloudWatch::Alarm').find(([, p]) => p.AlarmName === name);
  if (!found) throw new Error(`no alarm named ${name}`);
  return found[1];
}

describe.each([1, 4])('alarms with %i backend(s)', (n) => {
  const s = synth({ backendCount: n, passivePortsPerBackend: 4 });

  it('has a login-failing alarm per slot on that slot probe metric', () => {
    for (let slot = 0; slot < n; slot++) {
      const a = alarm(s, `NlbFtp-slot${slot}-ftp-login-failing`);
      const metrics = (
        a.Metrics as Array<{
          MetricStat?: { Metric: { MetricName: string; Namespace: string; Dimensions: Array<{ Name: string; Value: string }> } };
        }>
      ).filter((m) => m.MetricStat);
      expect(metrics).toHaveLength(2);
      for (const m of metrics) {
        expect(m.MetricStat?.Metric).toMatchObject({ Namespace: 'NlbFtp', MetricName: 'ProbeSuccess' });
        expect(m.MetricStat?.Metric.Dimensions).toEqual(
          expect.arrayContaining([
            { Name: 'Slot', Value: String(slot) },
            { Name: 'service', Value: 'NlbFtp' },
          ]),
        );
      }
      expect(a.Threshold).toBe(2);
      expectNotifiesTopic(s, a);
      expect(String(a.AlarmDescription)).toContain(`slot ${slot}`);
    }
  });

  it('has an NLB-target-unhealthy alarm per slot on a target group that holds only that slot', () => {
    for (let slot = 0; slot < n; slot++) {
      const a = alarm(s, `NlbFtp-slot${slot}-nlb-target-unhealthy`);
      expect(a).toMatchObject({ Namespace: 'AWS/NetworkELB', MetricName: 'UnHealthyHostCount' });
      const tgDim = (a.Dimensions as Array<{ Name: string; Value: unknown }>).find((d) => d.Name === 'TargetGroup');
      expect(flatten(tgDim?.Value)).toContain(`LoadBalancerPassive${40000 + slot * 4}TargetGroup`);
    }
  });

  it('alarms on too few healthy backends on the port-21 target group', () => {
    const a = alarm(s, 'NlbFtp-too-few-healthy-backends');
    expect(a).toMatchObject({ MetricName: 'HealthyHostCount', ComparisonOperator: 'LessThanThreshold', Threshold: n >= 3 ? n - 1 : 1 });
    const tgDim = (a.Dimensions as Array<{ Name: string; Value: unknown }>).find((d) => d.Name === 'TargetGroup');
    expect(flatten(tgDim?.Value)).toContain('LoadBalancerControlTargetGroup');
  });

  it('treats a missing checker heartbeat as breaching', () => {
    expect(alarm(s, 'NlbFtp-checker-heartbeat-missing')).toMatchObject({ MetricName: 'CheckerHeartbeat', TreatMissingData: 'breaching' });
  });

  it('pages through one composite alarm that references every other alarm', () => {
    const [, composite] = resourcesOfType(s, 'AWS::CloudWatch::CompositeAlarm').find(
      ([, p]) => p.AlarmName === 'NlbFtp-ftp-service-degraded',
    ) as [string, Props];
    const rule = flatten(composite.AlarmRule);
    const expected = [
      ...Array.from({ length: n }, (_, i) => [`NlbFtp-slot${i}-ftp-login-failing`, `NlbFtp-slot${i}-nlb-target-unhealthy`]).flat(),
      'NlbFtp-too-few-healthy-backends',
      'NlbFtp-checker-fail-open',
    ];
    const referenced = [...rule.matchAll(/ALARM\(\\?"?\$\{(\w+)\.Arn\}/g)].map((m) => m[1]);
    const nameOf = (id: string) => (s.json.Resources[id].Properties as Props).AlarmName;
    expect(referenced.map(nameOf)).toEqual(expect.arrayContaining([...expected, 'NlbFtp-checker-broken']));
    expectNotifiesTopic(s, composite);
  });

  it('has a dashboard', () => {
    s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = flatten((resourcesOfType(s, 'AWS::CloudWatch::Dashboard')[0][1] as Props).DashboardBody);
    for (const m of [
      'ProbeSuccess',
      'ProbeLatencyMs',
      'RegisteredBackends',
      'HealthyHostCount',
      'ActiveFlowCount',
      'NewFlowCount',
      'ProcessedBytes',
      'TCP_Client_Reset_Count',
      'TCP_Target_Reset_Count',
      'TCP_ELB_Reset_Count',
      '"type":"alarm"',
    ]) {
      expect(body, m).toContain(m);
    }
  });
});

describe('notifications', () => {
  it('subscribes exactly one email with -c alarmEmail', () => {
    const s = synth({ alarmEmail: 'ops@example.com' });
    s.template.resourceCountIs('AWS::SNS::Subscription', 1);
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    expect(refOf(s.template.toJSON().Outputs.AlarmTopicArn.Value)).toBe(topicOf(s));
  });

  it('has no subscription without alarmEmail, but still a topic', () => {
    const s = synth({});
    s.template.resourceCountIs('AWS::SNS::Subscription', 0);
    s.template.resourceCountIs('AWS::SNS::Topic', 1);
  });

  it('encrypts the topic with a key CloudWatch may use, and lets CloudWatch publish', () => {
    const s = synth({});
    const [, topic] = resourcesOfType(s, 'AWS::SNS::Topic')[0];
    const keyId = refOf(topic.KmsMasterKeyId);
    const keyPolicy = (s.json.Resources[keyId].Properties as Props).KeyPolicy as {
      Statement: Array<{ Effect: string; Principal?: { Service?: string }; Action: string | string[] }>;
    };
    const forCloudWatch = keyPolicy.Statement.filter((st) => st.Principal?.Service === 'cloudwatch.amazonaws.com');
    expect(forCloudWatch).toHaveLength(1);
    expect(forCloudWatch[0].Effect).toBe('Allow');
    expect([forCloudWatch[0].Action].flat()).toEqual(expect.arrayContaining(['kms:GenerateDataKey*', 'kms:Decrypt']));
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Allow', Action: 'sns:Publish', Principal: { Service: 'cloudwatch.amazonaws.com' } }),
        ]),
      },
    });
  });

  it('leaves out the checker alarms when the checker is disabled', () => {
    const s = synth({ healthCheck: { enabled: false } });
    const names = resourcesOfType(s, 'AWS::CloudWatch::Alarm').map(([, p]) => String(p.AlarmName));
    expect(names.some((x) => x.includes('checker') || x.includes('login-failing'))).toBe(false);
    expect(names).toContain('NlbFtp-slot0-nlb-target-unhealthy');
  });

  it('derives the healthy floor: 1, or N-1 from 3 backends, unless set', () => {
    expect([1, 2, 3, 5].map((n) => minHealthyBackendsOf(parseConfig({ backendCount: n, passivePortsPerBackend: 4 })))).toEqual([
      1, 1, 2, 4,
    ]);
    expect(minHealthyBackendsOf(parseConfig({ backendCount: 5, passivePortsPerBackend: 4, minHealthyBackends: 2 }))).toBe(2);
  });
});
