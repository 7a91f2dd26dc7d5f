import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { type Config, minHealthyBackendsOf } from '../config';
import { Metrics } from '../shared/contract';
import type { Backend } from './ftp-backends';

export interface FtpMonitoringProps {
  readonly config: Config;
  readonly backends: readonly Backend[];
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly controlTargetGroup: elbv2.NetworkTargetGroup;
  /** Slot -> a target group that holds only that slot (one of its passive ports). */
  readonly slotTargetGroup: (slot: number) => elbv2.NetworkTargetGroup;
  /** The health checker, when enabled. */
  readonly checkerFunction?: lambda.IFunction;
}

/** Alarms of one backend slot. */
export interface SlotAlarms {
  readonly loginFailing?: cloudwatch.Alarm;
  readonly targetUnhealthy: cloudwatch.Alarm;
}

/**
 * Alarms, notifications and the dashboard. Names start with the stack name (and the slot), so
 * `aws cloudwatch describe-alarms --alarm-name-prefix <stack>` lists them all. `serviceDegraded`
 * is the one alarm to page on.
 */
export class FtpMonitoring extends Construct {
  readonly topic: sns.Topic;
  readonly slotAlarms = new Map<number, SlotAlarms>();
  readonly tooFewHealthy: cloudwatch.Alarm;
  readonly checkerHeartbeat?: cloudwatch.Alarm;
  readonly checkerErrors?: cloudwatch.Alarm;
  readonly checkerBroken?: cloudwatch.CompositeAlarm;
  readonly failOpen?: cloudwatch.Alarm;
  readonly serviceDegraded: cloudwatch.CompositeAlarm;
  readonly dashboard: cloudwatch.Dashboard;

  private readonly action: cwActions.SnsAction;
  private readonly stackName: string;

  constructor(scope: Construct, id: string, props: FtpMonitoringProps) {
    super(scope, id);
    const { config } = props;
    this.stackName = config.stackName;
    const hc = config.healthCheck;

    // CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, so use our own
    // key and let CloudWatch use it.
    const key = new kms.Key(this, 'TopicKey', {
      description: `${config.stackName} alarm topic encryption`,
      enableKeyRotation: true,
    });
    const cloudwatchPrincipal = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    key.grant(cloudwatchPrincipal, 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: `${config.stackName} FTP alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [cloudwatchPrincipal],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    if (config.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    this.action = new cwActions.SnsAction(this.topic);

    const probeMetric = (name: string, slot: number, statistic: string) =>
      new cloudwatch.Metric({
        namespace: Metrics.namespace,
        metricName: name,
        dimensionsMap: { service: config.stackName, Slot: String(slot) },
        statistic,
        period: Duration.minutes(1),
      });
    const checkerMetric = (name: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: Metrics.namespace,
        metricName: name,
        dimensionsMap: { service: config.stackName },
        statistic,
        period: Duration.minutes(1),
      });

    for (const b of props.backends) {
      const slot = b.slot;
      let loginFailing: cloudwatch.Alarm | undefined;
      if (props.checkerFunction) {
        // Failed rounds in a minute = rounds probed - rounds passed.
        const failedRounds = new cloudwatch.MathExpression({
          expression: 'rounds - passed',
          usingMetrics: {
            rounds: probeMetric(Metrics.probeSuccess, slot, 'SampleCount'),
            passed: probeMetric(Metrics.probeSuccess, slot, 'Sum'),
          },
          label: `slot ${slot} failed login rounds`,
          period: Duration.minutes(1),
        });
        loginFailing = this.alarm(`Slot${slot}LoginFailing`, `slot${slot}-ftp-login-failing`, {
          metric: failedRounds,
          threshold: hc.fallThreshold,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          // No data means the checker is silent; the checker alarm covers that, so keep the state.
          treatMissingData: cloudwatch.TreatMissingData.IGNORE,
          alarmDescription:
            `FTP logins to backend slot ${slot} (${b.ports.minPort}-${b.ports.maxPort}) failed in ${hc.fallThreshold}+ probe rounds within a minute. ` +
            `The checker deregisters it from port 21 after ${hc.fallThreshold} failures in a row. Connect with SSM Session Manager and check ` +
            '`systemctl status vsftpd`, `mountpoint /srv/ftp`, `df -h` and /var/log/vsftpd.log; the checker log names the failing step.',
        });
      }
      const tg = props.slotTargetGroup(slot);
      const targetUnhealthy = this.alarm(`Slot${slot}TargetUnhealthy`, `slot${slot}-nlb-target-unhealthy`, {
        metric: tg.metrics.unHealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 1,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          `The NLB's own TCP check of port 21 on backend slot ${slot} is failing (vsftpd down or the instance unreachable). ` +
          'This works even when the health checker is down. Check the instance status checks and `systemctl status vsftpd` through SSM.',
      });
      this.slotAlarms.set(slot, { loginFailing, targetUnhealthy });
    }

    const minHealthy = minHealthyBackendsOf(config);
    this.tooFewHealthy = this.alarm('TooFewHealthy', 'too-few-healthy-backends', {
      metric: props.controlTargetGroup.metrics.healthyHostCount({ period: Duration.minutes(1), statistic: 'Minimum' }),
      threshold: minHealthy,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      // The NLB publishes this every minute for a target group with targets; silence is bad news.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription:
        `Fewer than ${minHealthy} of ${config.backendCount} backends are healthy and registered on port 21, so capacity is reduced. ` +
        'Look at the per-slot alarms to find which; a deregistered backend returns by itself once its logins pass again.',
    });

    const alarmsForDegraded: cloudwatch.IAlarm[] = [this.tooFewHealthy];
    for (const a of this.slotAlarms.values()) {
      if (a.loginFailing) alarmsForDegraded.push(a.loginFailing);
      alarmsForDegraded.push(a.targetUnhealthy);
    }

    if (props.checkerFunction) {
      const fn = props.checkerFunction;
      this.checkerHeartbeat = this.alarm('CheckerHeartbeat', 'checker-heartbeat-missing', {
        metric: checkerMetric(Metrics.heartbeat, 'Sum'),
        threshold: 1,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        // A checker that silently stops sends nothing at all: missing data must alarm.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription:
          'The health checker completed no probe round for 2 of the last 3 minutes: failing backends are no longer taken out of rotation. ' +
          'Check the checker function log group, its schedule rule and its VPC access to ELBv2, DynamoDB and Secrets Manager.',
      });
      this.checkerErrors = this.alarm('CheckerErrors', 'checker-errors', {
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(errors, 0) + FILL(throttles, 0)',
          usingMetrics: {
            errors: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
            throttles: fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
          },
          label: 'checker errors + throttles',
          period: Duration.minutes(5),
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'The health checker Lambda failed or was throttled in the last 5 minutes. Read its log group for the error; throttles mean ' +
          'an invocation overran a minute (reserved concurrency is 1).',
      });
      this.checkerBroken = new cloudwatch.CompositeAlarm(this, 'CheckerBroken', {
        compositeAlarmName: `${config.stackName}-checker-broken`,
        alarmDescription: 'The health checker is not working: errors, throttles, or no heartbeat. Backends are not being checked.',
        alarmRule: cloudwatch.AlarmRule.anyOf(this.checkerHeartbeat, this.checkerErrors),
      });
      this.checkerBroken.addAlarmAction(this.action);
      this.checkerBroken.addOkAction(this.action);
      this.failOpen = this.alarm('FailOpen', 'checker-fail-open', {
        metric: checkerMetric(Metrics.failOpen, 'Maximum'),
        threshold: 1,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'The checker keeps failing backends registered because removing them would leave port 21 with none, or no backend passed at all ' +
          '(often the checker itself is cut off). Treat as an outage: check the backends and the checker log.',
      });
      alarmsForDegraded.push(this.checkerBroken, this.failOpen);
    }

    this.serviceDegraded = new cloudwatch.CompositeAlarm(this, 'ServiceDegraded', {
      compositeAlarmName: `${config.stackName}-ftp-service-degraded`,
      alarmDescription:
        'nlb-ftp is degraded: a backend fails logins or NLB health checks, too few backends are healthy, or the health checker is broken. ' +
        `Page on this alarm; run \`npm run status -- --stack ${config.stackName}\` or open the dashboard to see which part.`,
      alarmRule: cloudwatch.AlarmRule.anyOf(...alarmsForDegraded),
    });
    this.serviceDegraded.addAlarmAction(this.action);
    this.serviceDegraded.addOkAction(this.action);

    this.dashboard = this.buildDashboard(props, probeMetric, checkerMetric);
  }

  /** Every alarm here: named after the stack, with ALARM and OK notifications. */
  private alarm(id: string, suffix: string, props: Omit<cloudwatch.AlarmProps, 'alarmName'>): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, { ...props, alarmName: `${this.stackName}-${suffix}` });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    return alarm;
  }

  private allAlarms(): cloudwatch.IAlarm[] {
    const out: cloudwatch.IAlarm[] = [this.serviceDegraded, this.tooFewHealthy];
    if (this.checkerBroken) out.push(this.checkerBroken);
    if (this.failOpen) out.push(this.failOpen);
    for (const a of this.slotAlarms.values()) {
      if (a.loginFailing) out.push(a.loginFailing);
      out.push(a.targetUnhealthy);
    }
    return out;
  }

  private buildDashboard(
    props: FtpMonitoringProps,
    probeMetric: (name: string, slot: number, statistic: string) => cloudwatch.Metric,
    checkerMetric: (name: string, statistic: string) => cloudwatch.Metric,
  ): cloudwatch.Dashboard {
    const slots = props.backends.map((b) => b.slot);
    const nlbMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/NetworkELB',
        metricName,
        dimensionsMap: { LoadBalancer: props.loadBalancer.loadBalancerFullName },
        statistic,
        period: Duration.minutes(1),
      });
    const tg = props.controlTargetGroup;
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${this.stackName}-ftp`,
      defaultInterval: Duration.hours(3),
    });
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.allAlarms(), width: 24, height: 4 }));
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Login probe success per backend (1 = every round passed)',
        left: slots.map((s) => probeMetric(Metrics.probeSuccess, s, 'Average').with({ label: `slot ${s}` })),
        leftYAxis: { min: 0, max: 1 },
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Login probe latency per backend (ms, max)',
        left: slots.map((s) => probeMetric(Metrics.probeLatency, s, 'Maximum').with({ label: `slot ${s}` })),
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Backends: registered and healthy (port 21)',
        left: [
          checkerMetric(Metrics.registeredBackends, 'Minimum').with({ label: 'registered (checker)' }),
          checkerMetric(Metrics.healthyBackends, 'Minimum').with({ label: 'logins passing (checker)' }),
          tg.metrics.healthyHostCount({ statistic: 'Minimum', period: Duration.minutes(1) }).with({ label: 'healthy (NLB)' }),
          tg.metrics.unHealthyHostCount({ statistic: 'Maximum', period: Duration.minutes(1) }).with({ label: 'unhealthy (NLB)' }),
        ],
        leftYAxis: { min: 0 },
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'NLB flows',
        left: [
          nlbMetric('ActiveFlowCount', 'Average').with({ label: 'active flows' }),
          nlbMetric('NewFlowCount', 'Sum').with({ label: 'new flows' }),
        ],
        right: [nlbMetric('ProcessedBytes', 'Sum').with({ label: 'processed bytes' })],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'TCP resets',
        left: [
          nlbMetric('TCP_Client_Reset_Count', 'Sum').with({ label: 'client' }),
          nlbMetric('TCP_Target_Reset_Count', 'Sum').with({ label: 'target' }),
          nlbMetric('TCP_ELB_Reset_Count', 'Sum').with({ label: 'ELB' }),
        ],
        width: 24,
      }),
    );
    return dashboard;
  }
}
