/**
 * The alarms: per slot (logins failing, NLB target unhealthy), cluster-wide (too few healthy,
 * checker broken, fail-open), each slot's no-instance alarm, and the one composite to page on. Every alarm is named after the
 * stack (AlarmNames) and notifies the topic on ALARM and OK.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { MetricNames } from '../../shared/contract';
import { AlarmNames } from '../../shared/names';
import type { FtpMetrics } from './metrics';

/** One backend slot as the alarms see it. */
export interface MonitoredSlot {
  readonly slot: number;
  readonly minPort: number;
  readonly maxPort: number;
  /** A target group that holds only this slot (one of its passive ports): its health is the slot's. */
  readonly targetGroup: elbv2.NetworkTargetGroup;
  /**
   * The slot's own "no instance in service" alarm, made with its Auto Scaling group: it gets the
   * topic as its action and joins the composite, like every other alarm here.
   * @default none
   */
  readonly noInstanceAlarm?: cloudwatch.Alarm;
}

export interface AlarmSetProps {
  readonly stackName: string;
  readonly slots: readonly MonitoredSlot[];
  readonly controlTargetGroup: elbv2.NetworkTargetGroup;
  readonly minHealthyBackends: number;
  readonly fallThreshold: number;
  readonly checkerFunction?: lambda.IFunction;
  readonly metrics: FtpMetrics;
  readonly action: cwActions.SnsAction;
}

/** Alarms of one backend slot. */
export interface SlotAlarms {
  readonly loginFailing?: cloudwatch.Alarm;
  readonly targetUnhealthy: cloudwatch.Alarm;
  readonly noInstance?: cloudwatch.Alarm;
}

export interface AlarmSet {
  readonly slotAlarms: Map<number, SlotAlarms>;
  readonly tooFewHealthy: cloudwatch.Alarm;
  readonly checkerHeartbeat?: cloudwatch.Alarm;
  readonly checkerErrors?: cloudwatch.Alarm;
  readonly checkerBroken?: cloudwatch.CompositeAlarm;
  readonly failOpen?: cloudwatch.Alarm;
  readonly serviceDegraded: cloudwatch.CompositeAlarm;
}

/** Creates the alarms directly in `scope` (logical IDs stay those of the scope's children). */
export function createAlarms(scope: Construct, p: AlarmSetProps): AlarmSet {
  const notify = <T extends cloudwatch.AlarmBase>(a: T): T => {
    a.addAlarmAction(p.action);
    a.addOkAction(p.action);
    return a;
  };
  const alarm = (id: string, alarmName: string, props: Omit<cloudwatch.AlarmProps, 'alarmName'>) =>
    notify(new cloudwatch.Alarm(scope, id, { ...props, alarmName }));
  const fall = p.fallThreshold;

  const slotAlarms = new Map<number, SlotAlarms>();
  for (const { slot, minPort, maxPort, targetGroup, noInstanceAlarm } of p.slots) {
    let loginFailing: cloudwatch.Alarm | undefined;
    if (p.checkerFunction) {
      // Failed rounds in a minute = rounds probed - rounds passed.
      const failedRounds = new cloudwatch.MathExpression({
        expression: 'rounds - passed',
        usingMetrics: {
          rounds: p.metrics.probe(MetricNames.probeSuccess, slot, 'SampleCount'),
          passed: p.metrics.probe(MetricNames.probeSuccess, slot, 'Sum'),
        },
        label: `slot ${slot} failed login rounds`,
        period: Duration.minutes(1),
      });
      loginFailing = alarm(`Slot${slot}LoginFailing`, AlarmNames.slotLoginFailing(p.stackName, slot), {
        metric: failedRounds,
        threshold: fall,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // No data means the checker is silent; the checker alarm covers that, so keep the state.
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
        alarmDescription:
          `FTP logins to backend slot ${slot} (${minPort}-${maxPort}) failed in ${fall}+ probe rounds within a minute. ` +
          `The checker deregisters it from port 21 after ${fall} failures in a row. Connect with SSM Session Manager and check ` +
          '`systemctl status vsftpd`, `mountpoint /srv/ftp`, `df -h` and /var/log/vsftpd.log; the checker log names the failing step.',
      });
    }
    const targetUnhealthy = alarm(`Slot${slot}TargetUnhealthy`, AlarmNames.slotTargetUnhealthy(p.stackName, slot), {
      metric: targetGroup.metrics.unHealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        `The NLB's own TCP check of port 21 on backend slot ${slot} is failing (vsftpd down or the instance unreachable). ` +
        'This works even when the health checker is down. Check the instance status checks and `systemctl status vsftpd` through SSM.',
    });
    // A slot stuck in a boot loop must page like any other fault.
    const noInstance = noInstanceAlarm ? notify(noInstanceAlarm) : undefined;
    slotAlarms.set(slot, { loginFailing, targetUnhealthy, noInstance });
  }

  const tooFewHealthy = alarm('TooFewHealthy', AlarmNames.tooFewHealthy(p.stackName), {
    metric: p.controlTargetGroup.metrics.healthyHostCount({ period: Duration.minutes(1), statistic: 'Minimum' }),
    threshold: p.minHealthyBackends,
    evaluationPeriods: 2,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    // The NLB publishes this every minute for a target group with targets; silence is bad news.
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    alarmDescription:
      `Fewer than ${p.minHealthyBackends} of ${p.slots.length} backends are healthy and registered on port 21, so capacity is reduced. ` +
      'Look at the per-slot alarms to find which; a deregistered backend returns by itself once its logins pass again.',
  });

  const forDegraded: cloudwatch.IAlarm[] = [tooFewHealthy];
  for (const a of slotAlarms.values()) {
    if (a.loginFailing) forDegraded.push(a.loginFailing);
    forDegraded.push(a.targetUnhealthy);
    if (a.noInstance) forDegraded.push(a.noInstance);
  }

  const checker = p.checkerFunction ? checkerAlarms(scope, p, p.checkerFunction, alarm, notify) : undefined;
  if (checker) forDegraded.push(checker.checkerBroken, checker.failOpen);

  const serviceDegraded = notify(
    new cloudwatch.CompositeAlarm(scope, 'ServiceDegraded', {
      compositeAlarmName: AlarmNames.serviceDegraded(p.stackName),
      alarmDescription:
        'nlb-ftp is degraded: a backend fails logins or NLB health checks, too few backends are healthy, or the health checker is broken. ' +
        `Page on this alarm; run \`npm run status -- --stack ${p.stackName}\` or open the dashboard to see which part.`,
      alarmRule: cloudwatch.AlarmRule.anyOf(...forDegraded),
    }),
  );
  return { slotAlarms, tooFewHealthy, serviceDegraded, ...checker };
}

function checkerAlarms(
  scope: Construct,
  p: AlarmSetProps,
  fn: lambda.IFunction,
  alarm: (id: string, name: string, props: Omit<cloudwatch.AlarmProps, 'alarmName'>) => cloudwatch.Alarm,
  notify: <T extends cloudwatch.AlarmBase>(a: T) => T,
) {
  const checkerHeartbeat = alarm('CheckerHeartbeat', AlarmNames.checkerHeartbeat(p.stackName), {
    metric: p.metrics.checker(MetricNames.heartbeat, 'Sum'),
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
  const checkerErrors = alarm('CheckerErrors', AlarmNames.checkerErrors(p.stackName), {
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
      'the account ran out of concurrent executions (an overlapping invocation is no error: it skips under the round lease).',
  });
  const checkerBroken = notify(
    new cloudwatch.CompositeAlarm(scope, 'CheckerBroken', {
      compositeAlarmName: AlarmNames.checkerBroken(p.stackName),
      alarmDescription: 'The health checker is not working: errors, throttles, or no heartbeat. Backends are not being checked.',
      alarmRule: cloudwatch.AlarmRule.anyOf(checkerHeartbeat, checkerErrors),
    }),
  );
  const failOpen = alarm('FailOpen', AlarmNames.checkerFailOpen(p.stackName), {
    metric: p.metrics.checker(MetricNames.failOpen, 'Maximum'),
    threshold: 1,
    evaluationPeriods: 2,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription:
      'The checker keeps failing backends registered because removing them would leave port 21 with none, or no backend passed at all ' +
      '(often the checker itself is cut off). Treat as an outage: check the backends and the checker log.',
  });
  return { checkerHeartbeat, checkerErrors, checkerBroken, failOpen };
}
