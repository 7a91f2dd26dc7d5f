import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { type FtpServerName, renderBootScript, renderProftpdBootScript } from '../backend/user-data';
import type { FtpsSettings } from '../shared/ftps';
import { azIndexForSlot, CONTROL_PORT, type SlotPorts } from '../shared/port-plan';
import { portRange } from './ftp-load-balancer';
import type { FtpsCertificate } from './ftps-certificate';
import { acknowledge } from './nag';

/** What each backend's FTP server is told; the same for every slot. */
export interface FtpServerSettings {
  /** @default 'vsftpd' (Amazon Linux 2023); 'proftpd' runs Ubuntu 24.04 */
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
  /** @default vsftpd, 200 sessions, 20 per address, FTPS required, keepalive 60 s */
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
}

export interface Backend {
  readonly slot: number;
  readonly ports: SlotPorts;
  readonly azIndex: number;
  readonly instance: ec2.Instance;
  readonly securityGroup: ec2.SecurityGroup;
}

/** Canonical's public SSM parameter for the current Ubuntu 24.04 LTS server AMI (gp3 root volume). */
export function ubuntuAmiParameter(arm: boolean): string {
  return `/aws/service/canonical/ubuntu/server/24.04/stable/current/${arm ? 'arm64' : 'amd64'}/hvm/ebs-gp3/ami-id`;
}

/**
 * One EC2 instance per slot running vsftpd (or ProFTPD), each with its own passive range and security group.
 * Instances live in private subnets; clients reach them only through the NLB.
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
    props.healthCheckSecret.grantRead(this.role);
    props.certificate?.secret.grantRead(this.role);
    // Root on the instance creates the users' directories, so it needs root access, not squash.
    fileSystem.grant(this.role, 'elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite', 'elasticfilesystem:ClientRootAccess');

    const instanceType = new ec2.InstanceType(props.instanceType ?? 't4g.small');
    const arm = instanceType.architecture === ec2.InstanceArchitecture.ARM_64;
    const proftpd = srv.server === 'proftpd';
    const machineImage = proftpd
      ? // Amazon Linux 2023 ships no ProFTPD; Ubuntu 24.04 LTS does (with mod_tls), and Canonical
        // publishes its current AMI as a public SSM parameter, resolved at deploy time.
        ec2.MachineImage.fromSsmParameter(ubuntuAmiParameter(arm))
      : ec2.MachineImage.latestAmazonLinux2023({ cpuType: arm ? ec2.AmazonLinuxCpuType.ARM_64 : ec2.AmazonLinuxCpuType.X86_64 });
    const renderBoot = proftpd ? renderProftpdBootScript : renderBootScript;
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
      }
      // HTTPS out for packages (dnf), SSM and Secrets Manager; the NAT gateway carries it.
      securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS for dnf, SSM and Secrets Manager');
      // Ubuntu's package mirrors are plain HTTP (apt verifies every package's signature).
      if (proftpd) securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP for apt (signed packages)');
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
        renderBoot({
          vsftpd: {
            slot,
            pasvAddress: props.pasvAddressForAz(azIndex),
            pasvMinPort: ports.minPort,
            pasvMaxPort: ports.maxPort,
            maxClients: srv.maxClients ?? 200,
            maxPerIp: srv.maxPerIp ?? 20,
            ftps: srv.ftps ?? { mode: 'required', requireSslReuse: true, maxTlsVersion: '1.2' },
          },
          certificateSecretArn: props.certificate?.secret.secretArn,
          region: Aws.REGION,
          fileSystemId: fileSystem.fileSystemId,
          usersSecretArn: props.usersSecret.secretArn,
          healthSecretArn: props.healthCheckSecret.secretArn,
          keepaliveSeconds: srv.keepaliveSeconds ?? 60,
        }),
      );

      const instance = new ec2.Instance(scope, 'Instance', {
        vpc,
        vpcSubnets: { subnets: [privateSubnets[azIndex]] },
        instanceType,
        machineImage,
        role: this.role,
        securityGroup,
        userData,
        // A changed config means a new boot script; replace rather than leave a stale vsftpd.conf.
        userDataCausesReplacement: true,
        httpTokens: ec2.HttpTokens.REQUIRED,
        httpPutResponseHopLimit: 1,
        associatePublicIpAddress: false,
        blockDevices: [
          {
            // Amazon Linux's root device is xvda, Ubuntu's sda1.
            deviceName: proftpd ? '/dev/sda1' : '/dev/xvda',
            volume: ec2.BlockDeviceVolume.ebs(8, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
          },
        ],
        instanceName: `${props.namePrefix}-slot${slot}`,
        // 1-minute instance metrics, to match the 1-minute alarms.
        detailedMonitoring: true,
      });
      acknowledge(instance, [
        {
          id: 'AwsSolutions-EC29',
          reason:
            'CloudFormation replaces a backend when its boot script changes (userDataCausesReplacement); termination protection would block that update. Files live on EFS (retained, backed up), not on the instance.',
        },
      ]);
      // The boot script mounts EFS; mount targets must exist first.
      instance.node.addDependency(fileSystem.mountTargetsAvailable);
      // The boot script installs the certificate; the self-signed one must be in its secret first.
      if (props.certificate?.ready) instance.node.addDependency(props.certificate.ready);

      // Recover on host failure: same instance ID, private IP and EBS, so target groups stay valid.
      new cloudwatch.Alarm(scope, 'RecoverAlarm', {
        alarmName: `${props.namePrefix}-slot${slot}-host-recovery`,
        alarmDescription: `EC2 system status check failed for nlb-ftp slot ${slot}; EC2 recovers the instance onto new hardware automatically.`,
        metric: new cloudwatch.Metric({
          namespace: 'AWS/EC2',
          metricName: 'StatusCheckFailed_System',
          dimensionsMap: { InstanceId: instance.instanceId },
          statistic: 'Maximum',
          period: Duration.minutes(1),
        }),
        threshold: 1,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(new cwActions.Ec2Action(cwActions.Ec2InstanceAction.RECOVER));

      return { slot, ports, azIndex, instance, securityGroup };
    });
  }
}
