import { Arn, ArnFormat, Aws, Duration, Stack, Tags, Token } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { type FtpServerName, renderUserData, SCRIPTS_DIR, SCRIPTS_EXCLUDE, USER_DATA_MAX_BYTES } from '../backend/user-data';
import type { FtpsSettings } from '../shared/ftps';
import { debianAmiParameter } from '../shared/images';
import { azIndexForSlot, CONTROL_PORT, type SlotPorts } from '../shared/port-plan';
import { portRange } from './ftp-load-balancer';
import type { FtpsCertificate } from './ftps-certificate';
import { acknowledge } from './nag';

/** What each backend's FTP server is told; the same for every slot. */
export interface FtpServerSettings {
  /** @default 'proftpd'; either runs on Debian 13 */
  readonly server?: FtpServerName;
  /** Sessions at once per backend. @default 200 */
  readonly maxClients?: number;
  /** Sessions at once per client address. @default 20 */
  readonly maxPerIp?: number;
  /** @default FTPS required, TLS session reuse required, TLS 1.2 at most */
  readonly ftps?: FtpsSettings;
  /** net.ipv4.tcp_keepalive_time, below the NLB idle timeout. @default 60 */
  readonly keepaliveSeconds?: number;
}

export interface FtpBackendsProps {
  /** Backends go in its private subnets, slot i in AZ i mod AZs. */
  readonly vpc: ec2.IVpc;
  /** Each slot and its passive range. */
  readonly slots: readonly SlotPorts[];
  /** Instance names and alarm names start with it. */
  readonly namePrefix: string;
  /** @default 't4g.small' */
  readonly instanceType?: string;
  /** Client ranges the NLB passes through (client IPs are preserved). @default ['0.0.0.0/0'] */
  readonly allowedCidrs?: readonly string[];
  /** @default proftpd, 200 sessions, 20 per address, FTPS required, keepalive 60 s */
  readonly server?: FtpServerSettings;
  /** The shared FTP root (EFS), mounted at /srv/ftp. */
  readonly fileSystem: efs.FileSystem;
  /** FTP users (JSON user -> password), read at boot and every 5 minutes. */
  readonly usersSecret: secretsmanager.ISecret;
  /** The health-check account (`{username, password}`), made a user like the others. */
  readonly healthCheckSecret: secretsmanager.ISecret;
  /** The FTPS certificate; unset when `ftps` is off. */
  readonly certificate?: FtpsCertificate;
  /** The NLB's public IP in a given AZ index (what PASV replies advertise). */
  readonly pasvAddressForAz: (azIndex: number) => string;
  /**
   * Where the backends ship their audit events (the CloudWatch agent), and the stack name the
   * events carry. The role needs write access to the group (AuditTrail.grantWrite).
   * @default no audit shipping (events stay in the instance's own file)
   */
  readonly audit?: { readonly logGroupName: string; readonly stackName: string };
  /**
   * Cluster-wide bans: the table every backend's ban agent shares, and the rule. The VPC's range is
   * never banned (the health checker and the NLB's health checks come from it), nor `neverBanCidrs`.
   * @default no bans (each server's own per-session limit only)
   */
  readonly bans?: {
    readonly table: dynamodb.ITable;
    readonly failedLogins: number;
    readonly windowSeconds: number;
    readonly banSeconds: number;
    readonly syncSeconds: number;
    readonly neverBanCidrs: readonly string[];
  };
  /**
   * SFTP (ProFTPD only) on `port`, from `allowedCidrs` like port 21, with the host keys every backend
   * presents (JSON {"ecdsa","rsa"} PEM, read at boot).
   * @default no SFTP
   */
  readonly sftp?: {
    readonly port: number;
    readonly hostKeysSecret: secretsmanager.ISecret;
    /** The generated keys' custom resource: every group waits for it. @default nothing to wait for (your own keys) */
    readonly ready?: Construct;
  };
}

export interface Backend {
  readonly slot: number;
  readonly ports: SlotPorts;
  readonly azIndex: number;
  /** The Auto Scaling group's name: `<namePrefix>-slot<N>`. */
  readonly groupName: string;
  /** Exactly one instance, replaced when it fails; attach it to the slot's target groups. */
  readonly group: autoscaling.AutoScalingGroup;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly securityGroup: ec2.SecurityGroup;
  /** In alarm while the slot has no in-service instance. */
  readonly noInstanceAlarm: cloudwatch.Alarm;
}

/** The lifecycle hook that holds a new instance out of service until its boot script says so. */
export const READY_HOOK = 'nlbftp-ready';
/**
 * How long a boot may take before the group gives up on it (ABANDON) and launches another.
 * Measured boots end well inside it (docs/operations.md, "Upgrades and repairs"): apt, the EFS mount
 * and the first users sync take a few minutes; the margin covers a slow package mirror's retries.
 */
export const BOOT_TIMEOUT_SECONDS = 900;
/** After the boot check passed: the NLB needs 3 healthy checks 10 s apart (30 s) to mark it healthy. */
export const HEALTH_CHECK_GRACE_SECONDS = 120;
/** A boot timeout and then some: one failed boot is repaired silently, the second alarms. */
export const NO_INSTANCE_ALARM_MINUTES = 20;

/** The Auto Scaling group of a slot; the boot script, the roll command and the IAM policy use it. */
export function slotGroupName(namePrefix: string, slot: number): string {
  return `${namePrefix}-slot${slot}`;
}

/**
 * One Auto Scaling group of exactly one instance per slot, running vsftpd (or ProFTPD), each with
 * its own launch template, passive range and security group. A failed instance is replaced in the
 * same slot; a new AMI or boot script is a new launch template version, never a replacement on
 * deploy (`npm run roll` moves slots onto it). Instances live in private subnets; clients reach
 * them only through the NLB.
 */
export class FtpBackends extends Construct {
  readonly backends: Backend[];
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: FtpBackendsProps) {
    super(scope, id);
    const { vpc, fileSystem } = props;
    const allowedCidrs = props.allowedCidrs ?? ['0.0.0.0/0'];
    const srv = props.server ?? {};

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'nlb-ftp backends: SSM administration, EFS mount, read the FTP user and certificate secrets',
      // Session Manager replaces SSH: no key pair and no port 22.
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    acknowledge(this.role, [
      {
        id: 'AwsSolutions-IAM4',
        reason:
          'AmazonSSMManagedInstanceCore is the AWS-maintained minimum for the SSM agent (Session Manager replaces SSH); a hand-copied version would break as the agent evolves.',
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore'],
      },
    ]);
    props.usersSecret.grantRead(this.role);
    // The ban agent: add failures, read them and the bans, write a ban (conditionally). Nothing else.
    props.bans?.table.grant(this.role, 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:PutItem');
    props.healthCheckSecret.grantRead(this.role);
    props.certificate?.secret.grantRead(this.role);
    props.sftp?.hostKeysSecret.grantRead(this.role);
    // No EFS grant: Debian has no amazon-efs-utils, so the mount is NFS over TLS without IAM
    // authorization; the file system policy and the mount targets' security group admit it.

    const instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.role });
    const instanceType = new ec2.InstanceType(props.instanceType ?? 't4g.small');
    const arm = instanceType.architecture === ec2.InstanceArchitecture.ARM_64;
    const server = srv.server ?? 'proftpd';
    // Debian 13 for either server: Debian's archive carries vsftpd and ProFTPD, and Debian
    // publishes its current AMI as a public SSM parameter, resolved at deploy time.
    const machineImage = ec2.MachineImage.fromSsmParameter(debianAmiParameter(arm));
    // The boot scripts (lib/backend/scripts: the boot, the users sync, the readiness check, the
    // audit converter, the systemd units) are a file asset, readable by the backends only. The
    // user data carries the SHA-256 of every file in it, and the boot refuses any difference.
    const bootScripts = new s3assets.Asset(this, 'BootScripts', { path: SCRIPTS_DIR, exclude: [...SCRIPTS_EXCLUDE] });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadTheBootScriptsAsset',
        actions: ['s3:GetObject'],
        resources: [`arn:${Aws.PARTITION}:s3:::${bootScripts.s3BucketName}/${bootScripts.s3ObjectKey}`],
      }),
    );
    const privateSubnets = vpc.privateSubnets;

    this.backends = props.slots.map((ports) => {
      const slot = ports.slot;
      const azIndex = azIndexForSlot(slot, privateSubnets.length);
      const scope = new Construct(this, `Slot${slot}`);

      const securityGroup = new ec2.SecurityGroup(scope, 'SecurityGroup', {
        vpc,
        description: `nlb-ftp backend slot ${slot}: FTP on 21 and passive ${ports.minPort}-${ports.maxPort}`,
        allowAllOutbound: false,
      });
      // The NLB preserves client IPs, so the backend sees the clients themselves.
      for (const cidr of allowedCidrs) {
        securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(CONTROL_PORT), `FTP control from ${cidr} (client IP preserved)`);
        securityGroup.addIngressRule(
          ec2.Peer.ipv4(cidr),
          portRange(ports.minPort, ports.maxPort),
          `FTP passive from ${cidr} (client IP preserved)`,
        );
        if (props.sftp) {
          securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(props.sftp.port), `SFTP from ${cidr} (client IP preserved)`);
        }
      }
      if (props.sftp) {
        // The NLB's health checks of SFTP come from its own addresses in the VPC. By range, not by the
        // NLB's group: an inline rule, where a group reference is a resource per slot of the 500.
        securityGroup.addIngressRule(
          ec2.Peer.ipv4(vpc.vpcCidrBlock),
          ec2.Port.tcp(props.sftp.port),
          'SFTP health checks from the NLB (the VPC)',
        );
      }
      // HTTPS out for AWS's agent packages, SSM, Secrets Manager and CloudWatch; the NAT gateway carries it.
      securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS for AWS agents, SSM, Secrets Manager, CloudWatch');
      // Debian's mirrors may be plain HTTP (apt verifies every package's signature).
      securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP for apt (signed packages)');
      fileSystem.connections.allowDefaultPortFrom(securityGroup, `NFS from backend slot ${slot}`);
      if (allowedCidrs.includes('0.0.0.0/0')) {
        acknowledge(securityGroup, [
          {
            id: 'AwsSolutions-EC23',
            reason: `The NLB preserves client IPs, so with allowedCidrs 0.0.0.0/0 this backend must accept the internet on 21 and its own passive range ${ports.minPort}-${ports.maxPort} only. The instance has no public IP; traffic arrives only through the NLB.`,
          },
        ]);
      }

      const userData = ec2.UserData.custom(
        checkedUserData(
          renderUserData(
            {
              ftp: {
                slot,
                pasvAddress: props.pasvAddressForAz(azIndex),
                pasvMinPort: ports.minPort,
                pasvMaxPort: ports.maxPort,
                maxClients: srv.maxClients ?? 200,
                maxPerIp: srv.maxPerIp ?? 20,
                ftps: srv.ftps ?? { mode: 'required', requireSslReuse: true, maxTlsVersion: '1.2' },
              },
              certificateSecretArn: props.certificate?.secret.secretArn,
              sftp: props.sftp && { port: props.sftp.port, hostKeysSecretArn: props.sftp.hostKeysSecret.secretArn },
              region: Aws.REGION,
              urlSuffix: Aws.URL_SUFFIX,
              fileSystemId: fileSystem.fileSystemId,
              usersSecretArn: props.usersSecret.secretArn,
              healthSecretArn: props.healthCheckSecret.secretArn,
              keepaliveSeconds: srv.keepaliveSeconds ?? 60,
              readiness: { groupName: slotGroupName(props.namePrefix, slot), hookName: READY_HOOK },
              audit: props.audit,
              bundle: { bucket: bootScripts.s3BucketName, key: bootScripts.s3ObjectKey },
              bans: props.bans && {
                tableName: props.bans.table.tableName,
                failedLogins: props.bans.failedLogins,
                windowSeconds: props.bans.windowSeconds,
                banSeconds: props.bans.banSeconds,
                syncSeconds: props.bans.syncSeconds,
                exemptCidrs: [vpc.vpcCidrBlock, ...props.bans.neverBanCidrs],
              },
            },
            server,
          ),
          // Values that are never long: the region, its domain, the file system, the NLB's address, the bucket and key.
          [
            Aws.REGION,
            Aws.URL_SUFFIX,
            fileSystem.fileSystemId,
            props.pasvAddressForAz(azIndex),
            bootScripts.s3BucketName,
            bootScripts.s3ObjectKey,
            ...(props.bans ? [props.bans.table.tableName, vpc.vpcCidrBlock] : []),
          ],
        ),
      );

      const launchTemplate = new ec2.LaunchTemplate(scope, 'LaunchTemplate', {
        // A new AMI or boot script becomes a new version of this template; CloudFormation never
        // replaces a running backend for it. `npm run roll` moves slots onto it one at a time.
        machineImage,
        instanceType,
        // One profile for every slot's template (private subnets assign no public IPs).
        instanceProfile,
        securityGroup,
        userData,
        requireImdsv2: true,
        httpPutResponseHopLimit: 1,
        blockDevices: [
          {
            // Debian's AMI boots from xvda.
            deviceName: '/dev/xvda',
            volume: ec2.BlockDeviceVolume.ebs(8, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
          },
        ],
        // 1-minute instance metrics, to match the 1-minute alarms.
        detailedMonitoring: true,
      });

      const groupName = slotGroupName(props.namePrefix, slot);
      Tags.of(launchTemplate).add('Name', groupName);
      const group = new autoscaling.AutoScalingGroup(scope, 'Group', {
        autoScalingGroupName: groupName,
        vpc,
        vpcSubnets: { subnets: [privateSubnets[azIndex]] },
        launchTemplate,
        // Exactly one instance per slot: the slot's passive ports must reach one machine only.
        minCapacity: 1,
        maxCapacity: 1,
        // EC2 status checks, and the NLB's TCP check of port 21 on the slot's target groups. The
        // grace period starts only after the boot script's readiness check has passed (the
        // lifecycle hook below), so it only has to cover the NLB's first healthy checks.
        healthChecks: autoscaling.HealthChecks.withAdditionalChecks({
          additionalTypes: [autoscaling.AdditionalHealthCheckType.ELB],
          gracePeriod: Duration.seconds(HEALTH_CHECK_GRACE_SECONDS),
        }),
        groupMetrics: [new autoscaling.GroupMetrics(autoscaling.GroupMetric.IN_SERVICE_INSTANCES)],
      });
      // The group holds every new instance (first boot, replacement, roll) out of the target
      // groups until its boot script has logged in over FTP (FTPS) and says CONTINUE; a failed
      // boot says ABANDON, or stays silent until the timeout, and the group replaces it. In the
      // group itself (not a separate resource) so that it also covers the very first instance.
      (group.node.defaultChild as autoscaling.CfnAutoScalingGroup).lifecycleHookSpecificationList = [
        {
          lifecycleHookName: READY_HOOK,
          lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
          heartbeatTimeout: BOOT_TIMEOUT_SECONDS,
          defaultResult: 'ABANDON',
        },
      ];
      // The boot script mounts EFS; mount targets must exist first.
      group.node.addDependency(fileSystem.mountTargetsAvailable);
      // The first boot installs packages and calls AWS APIs: the subnet's route to its NAT gateway
      // must exist before the group launches anything.
      group.node.addDependency(privateSubnets[azIndex].internetConnectivityEstablished);
      // The boot script installs the certificate; the self-signed one must be in its secret first.
      if (props.certificate?.ready) group.node.addDependency(props.certificate.ready);
      // Likewise the SFTP host keys: a backend that boots before them would present none.
      if (props.sftp?.ready) group.node.addDependency(props.sftp.ready);
      acknowledge(group, [
        {
          id: 'AwsSolutions-AS3',
          reason:
            'Scaling notifications would only repeat the per-slot alarm on in-service instances (`<stack>-slotN-no-instance`), which goes to the same SNS topic.',
        },
      ]);

      // A slot with no in-service instance for longer than a boot: its boots keep failing.
      const noInstanceAlarm = new cloudwatch.Alarm(scope, 'NoInstanceAlarm', {
        alarmName: `${props.namePrefix}-slot${slot}-no-instance`,
        alarmDescription:
          `Backend slot ${slot} (Auto Scaling group ${groupName}) has had no in-service instance for ${NO_INSTANCE_ALARM_MINUTES} minutes: ` +
          'its instances keep failing the boot check (ABANDON) or cannot launch. See the group activity history and /var/log/nlb-ftp-boot.log (console output).',
        metric: new cloudwatch.Metric({
          namespace: 'AWS/AutoScaling',
          metricName: 'GroupInServiceInstances',
          dimensionsMap: { AutoScalingGroupName: groupName },
          statistic: 'Maximum',
          period: Duration.minutes(1),
        }),
        threshold: 1,
        evaluationPeriods: NO_INSTANCE_ALARM_MINUTES,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        // No data means the group reports nothing: the slot has nothing in service either.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      noInstanceAlarm.node.addDependency(group);

      return { slot, ports, azIndex, groupName, group, launchTemplate, securityGroup, noInstanceAlarm };
    });

    // The boot script reports its own readiness to its own group, and to no other.
    acknowledge(
      this.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "An Auto Scaling group's ARN contains a UUID that is not known before the group exists; the grant names each slot's group exactly, and the wildcard stands only for that UUID.",
          appliesTo: this.backends.map(
            (b) =>
              `Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/${b.groupName}`,
          ),
        },
      ],
      { children: true },
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReportReadinessToOwnSlotGroup',
        actions: ['autoscaling:CompleteLifecycleAction'],
        resources: this.backends.map((b) =>
          Arn.format(
            {
              service: 'autoscaling',
              resource: 'autoScalingGroup',
              resourceName: `*:autoScalingGroupName/${b.groupName}`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            },
            Stack.of(this),
          ),
        ),
      }),
    );
  }
}

/**
 * EC2 refuses user data over 16 KB. The values are CDK tokens in the rendered text, so the
 * literal part is measured here and each value counted at its longest; test/slow/user-data-size.test.ts
 * bounds the whole with the longest values filled in.
 */
const MAX_VALUE_BYTES = 600;
/** A region, a domain, a file system ID, an IPv4 address, an S3 bucket name (at most 63 characters) or an asset key. */
const SHORT_VALUE_BYTES = 80;

function checkedUserData(userData: string, shortValues: readonly string[]): string {
  const occurrences = userData.match(/\$\{Token\[[^\]]+\]\}/g) ?? [];
  for (const v of occurrences) if (!Token.isUnresolved(v)) throw new Error(`not a token: ${v}`);
  const literal = Buffer.byteLength(occurrences.reduce((text, v) => text.replace(v, ''), userData));
  // The longest value is a Secrets Manager ARN (a name of up to 512 characters); the short ones
  // are bounded by what they are.
  const short = new Set(shortValues);
  const worst = literal + occurrences.reduce((n, v) => n + (short.has(v) ? SHORT_VALUE_BYTES : MAX_VALUE_BYTES), 0);
  if (worst > USER_DATA_MAX_BYTES) {
    throw new Error(`user data is ${literal} bytes plus ${occurrences.length} values (up to ${worst}); EC2 allows ${USER_DATA_MAX_BYTES}`);
  }
  return userData;
}
