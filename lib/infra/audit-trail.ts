import { Arn, ArnFormat, Aws, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AUDIT_FILTERS, AUDIT_METRIC_NAMESPACE, type AuditFilterName, auditLogGroupName, WHO_TOUCHED_QUERY } from '../shared/audit';

export interface AuditTrailProps {
  /** Names the log group (`/nlb-ftp/<stackName>/audit`) and the metrics' `Stack` dimension. */
  readonly stackName: string;
  /** @default 365 */
  readonly retentionDays?: number;
  /** What stack deletion does to the log group and its key. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The audit trail's home: a KMS-encrypted log group for the backends' JSON events
 * (lib/shared/audit.ts), metric filters that count failed logins, transfers and bytes, and a saved
 * Logs Insights query, "who touched this path". Only `grantWrite`'s role may write to the group.
 */
export class AuditTrail extends Construct {
  readonly logGroup: logs.LogGroup;
  readonly logGroupName: string;
  readonly key: kms.Key;
  private readonly stackName: string;

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    this.stackName = props.stackName;
    this.logGroupName = auditLogGroupName(props.stackName);
    const removalPolicy = props.removalPolicy;
    this.key = new kms.Key(this, 'Key', {
      description: `${props.stackName} FTP audit trail encryption`,
      enableKeyRotation: true,
      ...(removalPolicy ? { removalPolicy } : {}),
    });
    // CloudWatch Logs encrypts with the key only for this log group (its encryption context).
    const groupArn = Arn.format(
      { service: 'logs', resource: 'log-group', resourceName: this.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME },
      Stack.of(this),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsForTheAuditGroupOnly',
        principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: { ArnEquals: { 'kms:EncryptionContext:aws:logs:arn': groupArn } },
      }),
    );
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: this.logGroupName,
      retention: (props.retentionDays ?? 365) as logs.RetentionDays,
      encryptionKey: this.key,
      ...(removalPolicy ? { removalPolicy } : {}),
    });

    for (const [name, f] of Object.entries(AUDIT_FILTERS) as Array<[AuditFilterName, (typeof AUDIT_FILTERS)[AuditFilterName]]>) {
      new logs.MetricFilter(this, `${name[0].toUpperCase()}${name.slice(1)}Filter`, {
        logGroup: this.logGroup,
        filterPattern: logs.FilterPattern.literal(f.pattern),
        metricNamespace: AUDIT_METRIC_NAMESPACE,
        metricName: f.metric,
        metricValue: f.value,
        dimensions: { Stack: '$.stack', ...('dimensions' in f ? f.dimensions : {}) },
        unit: name === 'bytes' ? cloudwatch.Unit.BYTES : cloudwatch.Unit.COUNT,
      });
    }

    new logs.QueryDefinition(this, 'WhoTouchedPath', {
      queryDefinitionName: `${props.stackName}/who-touched-this-path`,
      queryString: new logs.QueryString({
        fields: [...WHO_TOUCHED_QUERY.fields],
        filterStatements: [WHO_TOUCHED_QUERY.filter],
        sort: WHO_TOUCHED_QUERY.sort,
        limit: WHO_TOUCHED_QUERY.limit,
      }),
      logGroups: [this.logGroup],
    });
  }

  /** The metric a filter publishes, summed over `period` (default 1 minute); `dimensions` beyond Stack where the filter has them. */
  metric(name: AuditFilterName, period = Duration.minutes(1), dimensions: Record<string, string> = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: AUDIT_METRIC_NAMESPACE,
      metricName: AUDIT_FILTERS[name].metric,
      dimensionsMap: { Stack: this.stackName, ...dimensions },
      statistic: 'Sum',
      period,
    });
  }

  /** Create streams and put events in this log group, and nothing else (the CloudWatch agent's needs). */
  grantWrite(role: iam.IGrantable): void {
    role.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ShipAuditEventsToTheAuditGroupOnly',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
  }
}
