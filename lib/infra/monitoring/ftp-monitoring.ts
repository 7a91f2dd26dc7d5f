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
import { AlarmNames } from '../../shared/names';
import type { AuditTrail } from '../audit-trail';
import { type AlarmSet, createAlarms, type MonitoredSlot, type SlotAlarms } from './alarms';
import { createDashboard } from './dashboard';
import { FtpMetrics } from './metrics';

export type { MonitoredSlot, SlotAlarms };

export interface FtpMonitoringProps {
  /** Prefix of every alarm name and the dashboard name; also the checker's `service` metric dimension. */
  readonly stackName: string;
  /** Every backend slot, each with a target group that holds only that slot. */
  readonly slots: readonly MonitoredSlot[];
  /** The port-21 target group (healthy-host count of the whole cluster). */
  readonly controlTargetGroup: elbv2.NetworkTargetGroup;
  /** For the dashboard's flow and reset graphs. */
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  /** The health checker; without it there are no login or checker alarms. @default no checker alarms */
  readonly checkerFunction?: lambda.IFunction;
  /** Failed login rounds per minute that raise a slot's login alarm (the checker's fall threshold). @default 2 */
  readonly fallThreshold?: number;
  /** Alarm below this many healthy backends on port 21. @default 1, or N-1 when N >= 3 */
  readonly minHealthyBackends?: number;
  /** Subscribed to the alarm topic (the address must confirm). @default no subscription */
  readonly alarmEmail?: string;
  /**
   * The audit trail's metrics: the brute-force alarm (failed logins in 5 minutes at or above the
   * threshold) and the dashboard's transfer and login graphs. @default no audit alarm or graphs
   */
  readonly audit?: { readonly trail: AuditTrail; readonly failedLoginThreshold: number };
}

/**
 * Alarms, notifications and the dashboard. Names start with the stack name (and the slot), so
 * `aws cloudwatch describe-alarms --alarm-name-prefix <stack>` lists them all. `serviceDegraded`
 * is the one alarm to page on.
 */
export class FtpMonitoring extends Construct {
  readonly topic: sns.Topic;
  readonly slotAlarms: Map<number, SlotAlarms>;
  readonly tooFewHealthy: cloudwatch.Alarm;
  readonly checkerHeartbeat?: cloudwatch.Alarm;
  readonly checkerErrors?: cloudwatch.Alarm;
  readonly checkerBroken?: cloudwatch.CompositeAlarm;
  readonly failOpen?: cloudwatch.Alarm;
  readonly serviceDegraded: cloudwatch.CompositeAlarm;
  readonly bruteForce?: cloudwatch.Alarm;
  /** Users the backends' users sync skipped (with the audit trail). */
  readonly usersSkipped?: cloudwatch.Alarm;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: FtpMonitoringProps) {
    super(scope, id);
    const { stackName } = props;
    const n = props.slots.length;

    // CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, so use our own
    // key and let CloudWatch use it.
    const key = new kms.Key(this, 'TopicKey', { description: `${stackName} alarm topic encryption`, enableKeyRotation: true });
    const cloudwatchPrincipal = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    key.grant(cloudwatchPrincipal, 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new sns.Topic(this, 'Topic', { displayName: `${stackName} FTP alarms`, masterKey: key, enforceSSL: true });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [cloudwatchPrincipal],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const metrics = new FtpMetrics(stackName, props.loadBalancer.loadBalancerFullName);
    const alarms: AlarmSet = createAlarms(this, {
      stackName,
      slots: props.slots,
      controlTargetGroup: props.controlTargetGroup,
      minHealthyBackends: props.minHealthyBackends ?? (n >= 3 ? n - 1 : 1),
      fallThreshold: props.fallThreshold ?? 2,
      checkerFunction: props.checkerFunction,
      metrics,
      action: new cwActions.SnsAction(this.topic),
    });
    this.slotAlarms = alarms.slotAlarms;
    this.tooFewHealthy = alarms.tooFewHealthy;
    this.checkerHeartbeat = alarms.checkerHeartbeat;
    this.checkerErrors = alarms.checkerErrors;
    this.checkerBroken = alarms.checkerBroken;
    this.failOpen = alarms.failOpen;
    this.serviceDegraded = alarms.serviceDegraded;

    if (props.audit) {
      const { trail, failedLoginThreshold } = props.audit;
      this.bruteForce = trail.metric('failedLogins', Duration.minutes(5)).createAlarm(this, 'BruteForce', {
        alarmName: AlarmNames.bruteForce(stackName),
        alarmDescription: `${failedLoginThreshold} or more failed FTP logins in 5 minutes over all backends: someone may be guessing passwords. The audit log group's login-failed events name the client IPs; block them with allowedCidrs or a network ACL.`,
        threshold: failedLoginThreshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // No events at all means no failed logins.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.bruteForce.addAlarmAction(new cwActions.SnsAction(this.topic));
      this.bruteForce.addOkAction(new cwActions.SnsAction(this.topic));
      // Every backend syncs every 5 minutes and writes one user-skipped event per entry it skips,
      // so a skipped user keeps this alarm firing until the users secret or the backend is fixed.
      this.usersSkipped = trail.metric('skippedUsers', Duration.minutes(10)).createAlarm(this, 'UsersSkipped', {
        alarmName: AlarmNames.usersSkipped(stackName),
        alarmDescription:
          'A backend skipped a user of the users secret: that user cannot log in there. `npm run status` lists each skipped user with the reason ' +
          '(a name a system account already has, a UID taken by another name, an empty password or a malformed hash); rename or fix the entry in the users secret.',
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.usersSkipped.addAlarmAction(new cwActions.SnsAction(this.topic));
      this.usersSkipped.addOkAction(new cwActions.SnsAction(this.topic));
    }

    this.dashboard = createDashboard(this, {
      dashboardName: `${stackName}-ftp`,
      slots: props.slots.map((s) => s.slot),
      alarms: this.allAlarms(),
      controlTargetGroup: props.controlTargetGroup,
      metrics,
      audit: props.audit?.trail,
    });
  }

  /** Every alarm worth a glance, the page-worthy composite first. */
  allAlarms(): cloudwatch.IAlarm[] {
    const out: cloudwatch.IAlarm[] = [this.serviceDegraded, this.tooFewHealthy];
    if (this.bruteForce) out.push(this.bruteForce);
    if (this.usersSkipped) out.push(this.usersSkipped);
    if (this.checkerBroken) out.push(this.checkerBroken);
    if (this.failOpen) out.push(this.failOpen);
    for (const a of this.slotAlarms.values()) {
      if (a.loginFailing) out.push(a.loginFailing);
      out.push(a.targetUnhealthy);
      if (a.noInstance) out.push(a.noInstance);
    }
    return out;
  }
}
