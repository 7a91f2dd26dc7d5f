/** The CloudWatch dashboard: alarm states, login probes per backend, registered/healthy counts, NLB flows and resets. */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { Construct } from 'constructs';
import { MetricNames } from '../../shared/contract';
import type { AuditTrail } from '../audit-trail';
import type { FtpMetrics } from './metrics';

export interface DashboardProps {
  readonly dashboardName: string;
  readonly slots: readonly number[];
  readonly alarms: readonly cloudwatch.IAlarm[];
  readonly controlTargetGroup: elbv2.NetworkTargetGroup;
  readonly metrics: FtpMetrics;
  /** The audit trail: transfers, bytes and failed logins per minute. @default no audit graphs */
  readonly audit?: AuditTrail;
}

export function createDashboard(scope: Construct, p: DashboardProps): cloudwatch.Dashboard {
  const { metrics: m, slots } = p;
  const tg = p.controlTargetGroup;
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', { dashboardName: p.dashboardName, defaultInterval: Duration.hours(3) });
  dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...p.alarms], width: 24, height: 4 }));
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Login probe success per backend (1 = every round passed)',
      left: slots.map((s) => m.probe(MetricNames.probeSuccess, s, 'Average').with({ label: `slot ${s}` })),
      leftYAxis: { min: 0, max: 1 },
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: 'Login probe latency per backend (ms, max)',
      left: slots.map((s) => m.probe(MetricNames.probeLatency, s, 'Maximum').with({ label: `slot ${s}` })),
      width: 12,
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Backends: registered and healthy (port 21)',
      left: [
        m.checker(MetricNames.registeredBackends, 'Minimum').with({ label: 'registered (checker)' }),
        m.checker(MetricNames.healthyBackends, 'Minimum').with({ label: 'logins passing (checker)' }),
        tg.metrics.healthyHostCount({ statistic: 'Minimum', period: Duration.minutes(1) }).with({ label: 'healthy (NLB)' }),
        tg.metrics.unHealthyHostCount({ statistic: 'Maximum', period: Duration.minutes(1) }).with({ label: 'unhealthy (NLB)' }),
      ],
      leftYAxis: { min: 0 },
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: 'NLB flows',
      left: [
        m.nlb('ActiveFlowCount', 'Average').with({ label: 'active flows' }),
        m.nlb('NewFlowCount', 'Sum').with({ label: 'new flows' }),
      ],
      right: [m.nlb('ProcessedBytes', 'Sum').with({ label: 'processed bytes' })],
      width: 12,
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'TCP resets',
      left: [
        m.nlb('TCP_Client_Reset_Count', 'Sum').with({ label: 'client' }),
        m.nlb('TCP_Target_Reset_Count', 'Sum').with({ label: 'target' }),
        m.nlb('TCP_ELB_Reset_Count', 'Sum').with({ label: 'ELB' }),
      ],
      width: 24,
    }),
  );
  if (p.audit) {
    const a = p.audit;
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Transfers per minute (audit trail)',
        left: [a.metric('transfers').with({ label: 'uploads + downloads' })],
        right: [a.metric('bytes').with({ label: 'bytes' })],
        leftYAxis: { min: 0 },
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Failed logins per minute, and users the users sync skipped (audit trail)',
        left: [a.metric('failedLogins').with({ label: 'failed logins' })],
        right: [a.metric('skippedUsers', Duration.minutes(5)).with({ label: 'skipped users (each sync, 5 min)' })],
        leftYAxis: { min: 0 },
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Addresses banned and unbanned on every backend (audit trail)',
        left: [
          a.metric('bans', undefined, { Event: 'ban' }).with({ label: 'banned' }),
          a.metric('bans', undefined, { Event: 'unban' }).with({ label: 'unbanned (expired or lifted)' }),
        ],
        leftYAxis: { min: 0 },
        width: 24,
      }),
    );
  }
  return dashboard;
}
