import {
  Annotations,
  Aspects,
  Aws,
  CfnOutput,
  CfnRule,
  Duration,
  Fn,
  type IAspect,
  RemovalPolicy,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { SFTP_BACKEND_PORT } from '../backend/proftpd-conf';
import { arnLocation, type Config, minHealthyBackendsOf, SECRET_ARN_FIELDS, sftpEnabled } from '../config';
import { BAN_TTL_ATTRIBUTE } from '../shared/bans';
import { ALARM_RUNBOOK, curlFtpsArgs, lftpFtpsSettings, OutputNames, runbookAnchor } from '../shared/names';
import { planPorts } from '../shared/port-plan';
import { AuditTrail } from './audit-trail';
import { FtpBackends } from './ftp-backends';
import { FtpLoadBalancer } from './ftp-load-balancer';
import { FtpSecrets } from './ftp-secrets';
import { FtpsCertificate } from './ftps-certificate';
import { HealthChecker } from './health-checker';
import { FtpMonitoring } from './monitoring/ftp-monitoring';
import { acknowledge } from './nag';
import { SftpHostKeys } from './sftp-host-keys';
import { SharedStorage } from './shared-storage';

export interface NlbFtpStackProps extends StackProps {
  /** A validated configuration (see `loadConfig`). */
  readonly config: Config;
}

/** Everything nlb-ftp deploys: VPC, NLB with static IPs, vsftpd backends, shared storage, secrets. */
/**
 * Every alarm's description ends with where its runbook entry is (docs/alarms.md, by the alarm's
 * name), so whoever is paged reads what to do next; test/unit/alarm-runbook.test.ts holds every
 * alarm of the template to an entry, and every entry to an alarm.
 */
class AlarmRunbookLinks implements IAspect {
  constructor(private readonly stackName: string) {}

  visit(node: Construct): void {
    if (!(node instanceof cloudwatch.CfnAlarm) && !(node instanceof cloudwatch.CfnCompositeAlarm)) return;
    const name = node.alarmName;
    if (typeof name !== 'string') throw new Error(`alarm ${node.node.path} has no literal name: its runbook entry cannot be named`);
    const link = `Runbook: ${ALARM_RUNBOOK}#${runbookAnchor(this.stackName, name)}`;
    node.alarmDescription = node.alarmDescription ? `${node.alarmDescription} ${link}` : link;
  }
}

export class NlbFtpStack extends Stack {
  readonly config: Config;
  readonly vpc: ec2.Vpc;
  readonly loadBalancer: FtpLoadBalancer;
  readonly backends: FtpBackends;
  readonly storage: SharedStorage;
  readonly secrets: FtpSecrets;
  /** Absent when `ftps` is off. */
  readonly certificate?: FtpsCertificate;
  /** The SFTP host keys; unset without SFTP. */
  readonly sftpHostKeys?: SftpHostKeys;
  /** Absent when `healthCheck.enabled` is false. */
  readonly healthChecker?: HealthChecker;
  readonly monitoring: FtpMonitoring;
  readonly audit: AuditTrail;
  /** Absent when `bans.enabled` is false. */
  readonly banTable?: dynamodb.Table;

  constructor(scope: Construct, id: string, props: NlbFtpStackProps) {
    // CloudFormation refuses a template over 1,000,000 bytes, even from S3; indentation alone is
    // about a fifth of this one (test/slow/config-budget.test.ts holds the worst case under it).
    super(scope, id, { suppressTemplateIndentation: true, ...props });
    const config = props.config;
    this.config = config;
    const sftp = sftpEnabled(config);
    const plan = planPorts({ ...config, sftpListener: sftp });
    Aspects.of(this).add(new AlarmRunbookLinks(config.stackName));
    const removalPolicy = config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: config.maxAzs,
      natGateways: config.natGateways,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      flowLogs: {
        Rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY }),
          ),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });

    if (this.vpc.availabilityZones.length < config.maxAzs) {
      // Not an error: an environment-agnostic synth (no account and region) sees only 2 AZs, and
      // some regions have fewer than asked. Say so rather than build fewer silently.
      Annotations.of(this.vpc).addWarningV2(
        'nlb-ftp:fewerAzs',
        `maxAzs=${config.maxAzs} but only ${this.vpc.availabilityZones.length} AZs are available to this synth, so ${this.vpc.availabilityZones.length} are used ` +
          '(an environment-agnostic synth sees 2: set CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION, or deploy with credentials, to use more)',
      );
    }

    this.requireSecretsInThisRegion(config);

    this.storage = new SharedStorage(this, 'Storage', {
      vpc: this.vpc,
      removalPolicy,
      allowTlsClientsWithoutIam: true,
    });
    this.secrets = new FtpSecrets(this, 'Secrets', {
      usersSecretArn: config.ftpUsersSecretArn,
      initialUser: config.initialFtpUser,
      removalPolicy,
    });
    this.loadBalancer = new FtpLoadBalancer(this, 'LoadBalancer', {
      vpc: this.vpc,
      passivePorts: plan,
      namePrefix: config.stackName,
      allowedCidrs: config.allowedCidrs,
      crossZone: config.crossZone,
      deregistrationDelay: Duration.seconds(config.deregistrationDelaySeconds),
      idleTimeout: Duration.seconds(config.controlIdleTimeoutSeconds),
      healthCheck: {
        interval: Duration.seconds(config.nlbHealthCheck.intervalSeconds),
        timeout: Duration.seconds(config.nlbHealthCheck.timeoutSeconds),
        healthyThreshold: config.nlbHealthCheck.healthyThreshold,
        unhealthyThreshold: config.nlbHealthCheck.unhealthyThreshold,
      },
      sftp: sftp ? { port: config.sftpPort, backendPort: SFTP_BACKEND_PORT } : undefined,
    });
    if (config.ftps !== 'off') {
      this.certificate = new FtpsCertificate(this, 'FtpsCertificate', {
        secretArn: config.ftpsCertificateSecretArn,
        // Clients connect by the NLB's name, a static IP, or your own CNAME: certify all of them.
        commonName: this.loadBalancer.nlb.loadBalancerDnsName,
        names: [...this.loadBalancer.elasticIps.map((e) => e.attrPublicIp), ...config.ftpsCertificateNames],
        removalPolicy,
      });
    }
    if (sftp) {
      this.sftpHostKeys = new SftpHostKeys(this, 'SftpHostKeys', {
        secretArn: config.sftpHostKeysSecretArn,
        generator: this.certificate?.generator,
        removalPolicy,
      });
    }
    this.audit = new AuditTrail(this, 'Audit', {
      stackName: config.stackName,
      retentionDays: config.auditLogRetentionDays,
      removalPolicy,
    });
    if (config.bans.enabled) {
      // Bans are transient (each ends within banMinutes): nothing here outlives a stack.
      this.banTable = new dynamodb.Table(this, 'BanTable', {
        partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
        sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        timeToLiveAttribute: BAN_TTL_ATTRIBUTE,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      acknowledge(this.banTable, [
        {
          id: 'AwsSolutions-DDB3',
          reason:
            'The bans table holds only failure counters and bans that end within minutes; a restore point would bring back bans already lifted.',
        },
      ]);
    }
    this.backends = new FtpBackends(this, 'Backends', {
      vpc: this.vpc,
      slots: plan.slots,
      namePrefix: config.stackName,
      instanceType: config.instanceType,
      allowedCidrs: config.allowedCidrs,
      server: {
        server: config.ftpServer,
        maxClients: config.maxClientsPerBackend,
        maxPerIp: config.maxSessionsPerIp,
        ftps: { mode: config.ftps, requireSslReuse: config.ftpsRequireSslReuse, maxTlsVersion: config.ftpsMaxTlsVersion },
        keepaliveSeconds: config.tcpKeepaliveSeconds,
      },
      fileSystem: this.storage.fileSystem,
      usersSecret: this.secrets.usersSecret,
      healthCheckSecret: this.secrets.healthCheckSecret,
      certificate: this.certificate,
      sftp: this.sftpHostKeys && { port: SFTP_BACKEND_PORT, hostKeysSecret: this.sftpHostKeys.secret, ready: this.sftpHostKeys.ready },
      pasvAddressForAz: (az) => this.loadBalancer.publicIpForAz(az),
      audit: { logGroupName: this.audit.logGroupName, stackName: config.stackName },
      bans: this.banTable && {
        table: this.banTable,
        failedLogins: config.bans.failedLogins,
        windowSeconds: config.bans.windowMinutes * 60,
        banSeconds: config.bans.banMinutes * 60,
        syncSeconds: config.bans.syncSeconds,
        neverBanCidrs: config.bans.neverBanCidrs,
      },
    });
    this.audit.grantWrite(this.backends.role);
    for (const b of this.backends.backends) {
      this.loadBalancer.attach({ ports: b.ports, group: b.group, securityGroup: b.securityGroup });
    }

    if (config.healthCheck.enabled) {
      this.healthChecker = new HealthChecker(this, 'HealthChecker', {
        vpc: this.vpc,
        backends: this.backends.backends.map((b) => ({
          slot: b.slot,
          // The slot's passive target groups hold only its current instance: the checker reads it there.
          passiveTargetGroup: this.loadBalancer.passiveTargetGroup(b.ports.minPort),
          minPort: b.ports.minPort,
          maxPort: b.ports.maxPort,
          securityGroup: b.securityGroup,
        })),
        controlTargetGroup: this.loadBalancer.controlTargetGroup,
        sftp: this.loadBalancer.sftpTargetGroup && {
          targetGroup: this.loadBalancer.sftpTargetGroup,
          port: SFTP_BACKEND_PORT,
          hostKeys: this.sftpHostKeys?.fingerprintList,
        },
        healthCheckSecret: this.secrets.healthCheckSecret,
        serviceName: config.stackName,
        timing: config.healthCheck,
        ftps: this.certificate && config.ftps !== 'off' ? { mode: config.ftps, certificate: this.certificate } : undefined,
      });
    }

    this.monitoring = new FtpMonitoring(this, 'Monitoring', {
      stackName: config.stackName,
      // A slot's passive target groups hold only that slot, so their health is that backend's health.
      slots: plan.slots.map((p) => ({
        ...p,
        targetGroup: this.loadBalancer.passiveTargetGroup(p.minPort),
        noInstanceAlarm: this.backends.backends.find((b) => b.slot === p.slot)?.noInstanceAlarm,
      })),
      controlTargetGroup: this.loadBalancer.controlTargetGroup,
      loadBalancer: this.loadBalancer.nlb,
      checkerFunction: this.healthChecker?.function,
      fallThreshold: config.healthCheck.fallThreshold,
      minHealthyBackends: minHealthyBackendsOf(config),
      alarmEmail: config.alarmEmail,
      audit: { trail: this.audit, failedLoginThreshold: config.failedLoginAlarmThreshold },
    });

    this.addOutputs(plan.slots.length);
  }

  /**
   * A secret named by ARN must be in the stack's partition and region. bin/nlb-ftp.ts refuses it
   * at synth when the region is known; this Rule stops the deploy, before any resource is made,
   * when it is not (an environment-agnostic synth).
   */
  private requireSecretsInThisRegion(config: Config): void {
    for (const field of SECRET_ARN_FIELDS) {
      const arn = config[field];
      if (!arn) continue;
      const at = arnLocation(arn);
      new CfnRule(this, `${field[0].toUpperCase()}${field.slice(1)}InThisRegion`, {
        assertions: [
          {
            assert: Fn.conditionAnd(Fn.conditionEquals(at.partition, Aws.PARTITION), Fn.conditionEquals(at.region, Aws.REGION)),
            assertDescription: `${field} is in ${at.partition}/${at.region}: deploy the stack to that region, or copy the secret to this one and name the copy.`,
          },
        ],
      });
    }
  }

  private addOutputs(n: number): void {
    const lb = this.loadBalancer;
    const ip0 = lb.publicIpForAz(0);
    const user = this.secrets.createdUsersSecret ? this.config.initialFtpUser : 'USER';
    new CfnOutput(this, OutputNames.nlbDnsName, { value: lb.nlb.loadBalancerDnsName, description: 'DNS name of the FTP endpoint' });
    new CfnOutput(this, OutputNames.elasticIps, {
      value: Fn.join(
        ',',
        lb.elasticIps.map((e) => e.attrPublicIp),
      ),
      description: 'Static public IPs of the NLB, one per AZ (allowlist these)',
    });
    for (const b of this.backends.backends) {
      new CfnOutput(this, OutputNames.slotPassiveRange(b.slot), {
        value: `${b.ports.minPort}-${b.ports.maxPort}`,
        description: `Passive ports of backend slot ${b.slot} (${n} backends)`,
      });
      new CfnOutput(this, OutputNames.slotGroup(b.slot), {
        value: b.group.autoScalingGroupName,
        description: `Auto Scaling group (one instance) of slot ${b.slot}`,
      });
      new CfnOutput(this, OutputNames.slotAz(b.slot), {
        value: this.vpc.privateSubnets[b.azIndex].availabilityZone,
        description: `AZ of slot ${b.slot}`,
      });
    }
    if (this.banTable) {
      new CfnOutput(this, OutputNames.banTableName, {
        value: this.banTable.tableName,
        description: 'Bans of addresses that kept failing to log in: npm run status lists them, npm run unban lifts one',
      });
    }
    new CfnOutput(this, OutputNames.controlTargetGroupArn, {
      value: lb.controlTargetGroup.targetGroupArn,
      description: 'The port-21 target group (the health checker registers and deregisters here)',
    });
    if (lb.sftpTargetGroup) {
      new CfnOutput(this, OutputNames.sftpTargetGroupArn, {
        value: lb.sftpTargetGroup.targetGroupArn,
        description: 'The SFTP target group (every backend; the health checker follows port 21 here)',
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn, description: 'SNS topic of all nlb-ftp alarms' });
    new CfnOutput(this, 'DashboardUrl', {
      value: Fn.join('', [
        'https://',
        Aws.REGION,
        '.console.aws.amazon.com/cloudwatch/home?region=',
        Aws.REGION,
        '#dashboards:name=',
        this.monitoring.dashboard.dashboardName,
      ]),
      description: 'CloudWatch dashboard of backend and cluster health',
    });
    new CfnOutput(this, 'UsersSecretArn', {
      value: this.secrets.usersSecret.secretArn,
      description: 'Secrets Manager secret of FTP users (JSON username -> password)',
    });
    new CfnOutput(this, 'GetPasswordCommand', {
      value: Fn.join('', [
        'aws secretsmanager get-secret-value --query SecretString --output text --secret-id ',
        this.secrets.usersSecret.secretArn,
      ]),
      description: 'Prints the FTP users and passwords',
    });
    const ftps = this.config.ftps !== 'off';
    if (this.certificate) {
      new CfnOutput(this, 'FtpsCertificateSecretArn', {
        value: this.certificate.secret.secretArn,
        description: 'Secret of the FTPS certificate and private key (read only by the backends and the health checker)',
      });
    }
    if (this.certificate?.fingerprint) {
      new CfnOutput(this, 'FtpsCertificateFingerprint', {
        value: this.certificate.fingerprint,
        description: 'SHA-256 fingerprint of the self-signed FTPS certificate: compare it with what your client shows (docs/ftps.md)',
      });
    }
    if (this.sftpHostKeys) {
      new CfnOutput(this, 'SftpHostKeysSecretArn', {
        value: this.sftpHostKeys.secret.secretArn,
        description: 'Secret of the SFTP host keys every backend presents (read only by the backends)',
      });
    }
    if (this.sftpHostKeys?.fingerprints) {
      new CfnOutput(this, 'SftpHostKeyFingerprints', {
        value: Fn.join('', ['ECDSA ', this.sftpHostKeys.fingerprints.ecdsa, ', RSA ', this.sftpHostKeys.fingerprints.rsa]),
        description: 'The SFTP host keys as OpenSSH prints them on first connection: compare before you accept (docs/sftp.md)',
      });
      new CfnOutput(this, 'ExampleSftp', {
        value: Fn.join('', [`sftp ${this.config.sftpPort === 22 ? '' : `-P ${this.config.sftpPort} `}${user}@`, ip0]),
        description: 'Opens an SFTP session (check the host key against SftpHostKeyFingerprints)',
      });
    }
    // With FTPS, nlb-ftp.pem is the certificate fetched as the README's Deploy section shows (openssl s_client).
    const curlTls = ftps ? `${curlFtpsArgs('nlb-ftp.pem').join(' ')} ` : '';
    const lftpTls = ftps ? `${lftpFtpsSettings('nlb-ftp.pem').join('; ')}; ` : '';
    new CfnOutput(this, 'ExampleCurl', {
      value: Fn.join('', [`curl -v ${curlTls}--user ${user} ftp://`, ip0, '/']),
      description: 'Lists your FTP home (curl asks for the password)',
    });
    new CfnOutput(this, 'ExampleLftp', {
      value: Fn.join('', [`lftp -u ${user} -e '${lftpTls}set ftp:passive-mode true; ls; bye' `, ip0]),
      description: 'Lists your FTP home with lftp',
    });
  }
}
