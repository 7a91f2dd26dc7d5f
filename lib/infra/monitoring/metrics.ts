/** The CloudWatch metrics the alarms and the dashboard read: the checker's EMF metrics and the NLB's. */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { MetricNames } from '../../shared/contract';

export type MetricName = (typeof MetricNames)[Exclude<keyof typeof MetricNames, 'namespace'>];

/** Metric factories for one stack: `service` is the dimension the checker writes (the stack name). */
export class FtpMetrics {
  constructor(
    private readonly service: string,
    private readonly loadBalancerFullName: string,
  ) {}

  /** A per-slot checker metric (ProbeSuccess, ProbeLatencyMs), one-minute period. */
  probe(name: MetricName, slot: number, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: MetricNames.namespace,
      metricName: name,
      dimensionsMap: { service: this.service, Slot: String(slot) },
      statistic,
      period: Duration.minutes(1),
    });
  }

  /** A cluster-wide checker metric (heartbeat, registered, healthy, fail-open), one-minute period. */
  checker(name: MetricName, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: MetricNames.namespace,
      metricName: name,
      dimensionsMap: { service: this.service },
      statistic,
      period: Duration.minutes(1),
    });
  }

  /** An AWS/NetworkELB metric of the load balancer, one-minute period. */
  nlb(metricName: string, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/NetworkELB',
      metricName,
      dimensionsMap: { LoadBalancer: this.loadBalancerFullName },
      statistic,
      period: Duration.minutes(1),
    });
  }
}
