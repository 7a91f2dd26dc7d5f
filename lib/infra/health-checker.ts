import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { checkerMemoryMb } from '../shared/checker-sizing';
import { checkerEnvironment, MetricNames } from '../shared/contract';
import type { FtpsMode } from '../shared/ftps';
import { CONTROL_PORT } from '../shared/port-plan';
import { portRange } from './ftp-load-balancer';
import type { FtpsCertificate } from './ftps-certificate';
import { acknowledge } from './nag';
import { NlbFtpFunction } from './nlb-ftp-function';

/** One slot as the checker needs it: where to find its instance, and which security group lets it in. */
export interface CheckedBackend {
  readonly slot: number;
  /** One of the slot's passive target groups: it holds only the slot's current instance. */
  readonly passiveTargetGroup: elbv2.NetworkTargetGroup;
  /** The slot's passive range: EPSV listings come back on it. */
  readonly minPort: number;
  readonly maxPort: number;
  readonly securityGroup: ec2.ISecurityGroup;
}

/** Probe timing and thresholds. */
export interface CheckerTimingProps {
  /** Seconds between probe rounds. @default 10 */
  readonly intervalSeconds?: number;
  /** Deadline of each probe step, in seconds; below the interval. @default 5 */
  readonly timeoutSeconds?: number;
  /** Failed rounds in a row before deregistering. @default 2 */
  readonly fallThreshold?: number;
  /** Good rounds in a row before registering again. @default 2 */
  readonly riseThreshold?: number;
}

export interface HealthCheckerProps {
  /** The function runs in its private subnets, beside the backends. */
  readonly vpc: ec2.IVpc;
  readonly backends: readonly CheckedBackend[];
  /** The target group whose members the checker decides (registers in and deregisters from). */
  readonly controlTargetGroup: elbv2.INetworkTargetGroup;
  /**
   * With SFTP: its target group, which the checker decides from SFTP logins on the backends' SFTP
   * port, pinning `hostKeys` (the generated keys' fingerprints, separated by spaces; unset for keys
   * the user brought, which the checker may not read).
   * @default no SFTP target group
   */
  readonly sftp?: { readonly targetGroup: elbv2.INetworkTargetGroup; readonly port: number; readonly hostKeys?: string };
  /** The health-check account's secret (`{username, password}`). */
  readonly healthCheckSecret: secretsmanager.ISecret;
  /** `service` of its logs and metrics (the stack name), which the alarms read. */
  readonly serviceName: string;
  /** @default interval 10 s, timeout 5 s, fall 2, rise 2 */
  readonly timing?: CheckerTimingProps;
  /** Set when backends speak FTPS: the probe does too, and verifies this certificate. @default plain FTP probes */
  readonly ftps?: { readonly mode: Exclude<FtpsMode, 'off'>; readonly certificate: FtpsCertificate };
  /**
   * The function's memory in MB, which also buys its CPU.
   * @default sized from the probes' measured CPU for this many backends and this step deadline
   * (`checkerMemoryMb`: 256 MB for up to 6 backends at the default 5 s, 960 MB for 23)
   */
  readonly memorySize?: number;
}

/** The schedule fires once a minute; each invocation runs probe rounds for this long. */
export const CHECKER_BUDGET_SECONDS = 60;

/**
 * A Lambda that finds each slot's current instance (in the slot's passive target group), logs in
 * over FTP to it, at its private IP, every
 * `healthCheck.intervalSeconds`, and deregisters from / registers in the port-21 target group
 * the backends that keep failing / recover. At most one invocation runs at a time.
 */
export class HealthChecker extends Construct {
  readonly function: NlbFtpFunction;
  readonly securityGroup: ec2.SecurityGroup;
  readonly stateTable: dynamodb.Table;
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: HealthCheckerProps) {
    super(scope, id);
    const { vpc } = props;
    const hc = {
      intervalSeconds: props.timing?.intervalSeconds ?? 10,
      timeoutSeconds: props.timing?.timeoutSeconds ?? 5,
      fallThreshold: props.timing?.fallThreshold ?? 2,
      riseThreshold: props.timing?.riseThreshold ?? 2,
    };
    const certificate = props.ftps?.certificate;

    // Counters survive cold starts here; the item is small and rewritten only when it changes.
    this.stateTable = new dynamodb.Table(this, 'State', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Only counters: losing them costs at most `fall` rounds of detection, never data.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'nlb-ftp health checker: FTP to the backends, HTTPS to AWS APIs',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to ELBv2, DynamoDB and Secrets Manager');
    for (const b of props.backends) {
      const range = portRange(b.minPort, b.maxPort);
      this.securityGroup.addEgressRule(b.securityGroup, ec2.Port.tcp(CONTROL_PORT), `FTP probe to slot ${b.slot}`);
      this.securityGroup.addEgressRule(b.securityGroup, range, `FTP EPSV data from slot ${b.slot}`);
      b.securityGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(CONTROL_PORT), 'FTP login probe from the health checker');
      b.securityGroup.addIngressRule(this.securityGroup, range, 'FTP EPSV listing from the health checker');
    }
    // The backends admit SFTP from the VPC's range already (the NLB's health checks): one inline
    // rule here, no resource per slot.
    if (props.sftp) {
      this.securityGroup.addEgressRule(ec2.Peer.ipv4(vpc.vpcCidrBlock), ec2.Port.tcp(props.sftp.port), 'SFTP login probe to the backends');
    }

    this.function = new NlbFtpFunction(this, 'Function', {
      handlerFile: 'health-checker/handler.ts',
      description: 'nlb-ftp: FTP and SFTP login probes; deregisters failing backends, registers recovered ones',
      // ssh2 (the SFTP probe) loads two optional native helpers inside try/catch and runs without
      // them: they stay out of the bundle, which is pure JavaScript.
      bundling: { externalModules: ['cpu-features', '*.node'] },
      // Rounds for a minute, plus the last round's deadline and API calls.
      timeout: Duration.seconds(CHECKER_BUDGET_SECONDS + 15),
      // Every backend is probed at once, and memory buys the CPU their TLS handshakes queue on.
      memorySize: props.memorySize ?? checkerMemoryMb(props.backends.length, hc.timeoutSeconds),
      // One invocation at a time comes from a lease in the state table, not reserved concurrency:
      // an account must keep 10 unreserved executions, so accounts whose quota is 10 (common when
      // new) refuse any ReservedConcurrentExecutions and the deploy fails.
      // A schedule event that could not start on time is stale: the next one is a minute away.
      retryAttempts: 0,
      maxEventAge: Duration.seconds(60),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [this.securityGroup],
      environment: {
        ...checkerEnvironment({
          slots: props.backends.map(({ slot, passiveTargetGroup, minPort, maxPort }) => ({
            slot,
            passiveTargetGroup: passiveTargetGroup.targetGroupFullName,
            passivePorts: { min: minPort, max: maxPort },
          })),
          controlTargetGroupArn: props.controlTargetGroup.targetGroupArn,
          sftp: props.sftp && {
            targetGroupArn: props.sftp.targetGroup.targetGroupArn,
            port: props.sftp.port,
            hostKeys: props.sftp.hostKeys,
          },
          healthSecretArn: props.healthCheckSecret.secretArn,
          stateTable: this.stateTable.tableName,
          intervalSeconds: hc.intervalSeconds,
          timeoutSeconds: hc.timeoutSeconds,
          fallThreshold: hc.fallThreshold,
          riseThreshold: hc.riseThreshold,
          budgetSeconds: CHECKER_BUDGET_SECONDS,
          ftps: props.ftps ? { mode: props.ftps.mode, certificateSecretArn: props.ftps.certificate.secret.secretArn } : undefined,
        }),
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: MetricNames.namespace,
      },
    });

    props.healthCheckSecret.grantRead(this.function);
    if (certificate) {
      certificate.secret.grantRead(this.function);
      if (certificate.ready) this.function.node.addDependency(certificate.ready);
    }
    this.stateTable.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem');
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'RegisterOnlyOnPort21TargetGroup',
        actions: ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
        resources: [props.controlTargetGroup.targetGroupArn],
      }),
    );
    if (props.sftp) {
      this.function.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'RegisterOnlyOnSftpTargetGroup',
          actions: ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
          resources: [props.sftp.targetGroup.targetGroupArn],
        }),
      );
    }
    acknowledge(
      this.function,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'elasticloadbalancing:DescribeTargetHealth and ec2:DescribeInstances support no resource-level permissions, so "*" is the narrowest grant; register/deregister are scoped to the port-21 target group ARN.',
          appliesTo: ['Resource::*'],
        },
        {
          id: 'AwsSolutions-IAM4',
          reason:
            'AWSLambdaBasicExecutionRole (logs) and AWSLambdaVPCAccessExecutionRole (the ENI actions Lambda needs in a VPC, which accept no resource scoping) are the AWS-maintained minimum.',
          appliesTo: [
            'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
            'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole',
          ],
        },
        {
          id: 'AwsSolutions-L1',
          reason:
            'Pinned to Node.js 22 (an LTS line the bundle targets and the tests run); moving runtimes is a deliberate, tested change.',
        },
      ],
      { children: true },
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'FindEachSlotsInstance',
        // Which instance each slot's passive target group holds, and its private IP and tags.
        actions: ['elasticloadbalancing:DescribeTargetHealth', 'ec2:DescribeInstances'],
        // ELBv2 and EC2 Describe* actions support no resource-level permissions: "*" is the narrowest possible.
        resources: ['*'],
      }),
    );

    this.schedule = new events.Rule(this, 'Schedule', {
      description: `nlb-ftp health checker: ${Math.floor(CHECKER_BUDGET_SECONDS / hc.intervalSeconds)} rounds a minute`,
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new eventTargets.LambdaFunction(this.function, { retryAttempts: 0, maxEventAge: Duration.seconds(60) })],
    });
  }
}
