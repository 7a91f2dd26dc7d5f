import { Duration, Validations } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';
import { CONTROL_PORT, type SlotPorts } from '../shared/port-plan';
import { acknowledge } from './nag';

/** The NLB's own TCP check of port 21, used by every target group. */
export interface NlbHealthCheckProps {
  /** @default 10 seconds */
  readonly interval?: Duration;
  /**
   * How long a check waits for port 21; must be below `interval`. Left unset, a TCP check waits
   * 10 s, which ELBv2 refuses with an interval of 5-9 s.
   * @default 4 seconds
   */
  readonly timeout?: Duration;
  /** @default 3 */
  readonly healthyThreshold?: number;
  /** @default 2 */
  readonly unhealthyThreshold?: number;
}

export interface FtpLoadBalancerProps {
  /** The NLB, and one Elastic IP, go in each of its public subnets (one per AZ). */
  readonly vpc: ec2.IVpc;
  /** The whole passive span across all slots (first and last port), opened to `allowedCidrs`. */
  readonly passivePorts: { readonly minPort: number; readonly maxPort: number };
  /** Tags the Elastic IPs `<namePrefix>-nlb-az<i>`. */
  readonly namePrefix: string;
  /** Client IPv4 ranges allowed to reach port 21 and the passive ports. @default ['0.0.0.0/0'] */
  readonly allowedCidrs?: readonly string[];
  /** Cross-zone load balancing. @default true */
  readonly crossZone?: boolean;
  /** How long sessions on a deregistered backend may continue. @default Duration.seconds(300) */
  readonly deregistrationDelay?: Duration;
  /** TCP idle timeout of every listener (NLB: 60 s to 6000 s). @default Duration.seconds(350) */
  readonly idleTimeout?: Duration;
  /** @default interval 10 s, healthy 3, unhealthy 2 */
  readonly healthCheck?: NlbHealthCheckProps;
  /**
   * SFTP: one more listener on `port`, into a target group of every backend on `backendPort`, opened
   * to `allowedCidrs` like port 21.
   * @default no SFTP listener
   */
  readonly sftp?: { readonly port: number; readonly backendPort: number };
}

/** What the load balancer needs to know about one backend. */
export interface BackendAttachment {
  readonly ports: SlotPorts;
  /** The slot's Auto Scaling group (one instance): it registers whatever instance it runs. */
  readonly group: autoscaling.AutoScalingGroup;
  readonly securityGroup: ec2.ISecurityGroup;
}

/**
 * The internet-facing NLB: one static Elastic IP per AZ, a port-21 listener spread over every
 * backend, and one listener + one single-target target group per passive port. The NLB never
 * reads FTP, so the same wiring carries FTPS.
 */
export class FtpLoadBalancer extends Construct {
  readonly nlb: elbv2.NetworkLoadBalancer;
  /** One per AZ, in the order of the VPC's public subnets. */
  readonly elasticIps: ec2.CfnEIP[];
  readonly securityGroup: ec2.SecurityGroup;
  readonly controlListener: elbv2.NetworkListener;
  /** The port-21 target group; the health checker registers and deregisters here only. */
  readonly controlTargetGroup: elbv2.NetworkTargetGroup;
  /** Passive port -> its single-backend target group. */
  readonly passiveTargetGroups = new Map<number, elbv2.NetworkTargetGroup>();
  readonly passiveListeners = new Map<number, elbv2.NetworkListener>();
  /** The SFTP target group (every backend, on the backends' SFTP port); unset without SFTP. */
  readonly sftpTargetGroup?: elbv2.NetworkTargetGroup;

  private readonly vpc: ec2.IVpc;
  private readonly deregistrationDelay: Duration;
  private readonly idleTimeout: Duration;
  private readonly healthCheckProps: NlbHealthCheckProps;

  constructor(scope: Construct, id: string, props: FtpLoadBalancerProps) {
    super(scope, id);
    const { vpc } = props;
    const allowedCidrs = props.allowedCidrs ?? ['0.0.0.0/0'];
    this.vpc = vpc;
    this.deregistrationDelay = props.deregistrationDelay ?? Duration.seconds(300);
    this.idleTimeout = props.idleTimeout ?? Duration.seconds(350);
    this.healthCheckProps = props.healthCheck ?? {};

    const publicSubnets = vpc.publicSubnets;
    this.elasticIps = publicSubnets.map(
      (_, i) => new ec2.CfnEIP(this, `Eip${i}`, { domain: 'vpc', tags: [{ key: 'Name', value: `${props.namePrefix}-nlb-az${i}` }] }),
    );

    // NLB security groups can only be set at creation, so create one even when open to the world.
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'nlb-ftp NLB: FTP control and passive ports from allowed clients',
      allowAllOutbound: false,
    });
    // Its only egress rules name the backends' security groups, which CDK writes as separate
    // SecurityGroupEgress resources and drops its "no traffic" placeholder; a group created without
    // inline egress keeps AWS's allow-all rule. The placeholder, inline, replaces that rule, so the
    // NLB may reach the backends' FTP ports and nothing else.
    (this.securityGroup.node.defaultChild as ec2.CfnSecurityGroup).addPropertyOverride('SecurityGroupEgress', [
      { CidrIp: '255.255.255.255/32', IpProtocol: 'icmp', FromPort: 252, ToPort: 86, Description: 'Disallow all traffic' },
      // SFTP to the backends' SFTP port, by the VPC's range rather than per backend group: one
      // inline rule instead of two resources per slot, of the stack's 500 (lib/config/resource-budget.ts).
      ...(props.sftp
        ? [
            {
              CidrIp: vpc.vpcCidrBlock,
              IpProtocol: 'tcp',
              FromPort: props.sftp.backendPort,
              ToPort: props.sftp.backendPort,
              Description: 'SFTP and its health checks to the backends',
            },
          ]
        : []),
    ]);
    const passiveSpan = portRange(props.passivePorts.minPort, props.passivePorts.maxPort);
    for (const cidr of allowedCidrs) {
      this.securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(CONTROL_PORT), `FTP control from ${cidr}`);
      this.securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), passiveSpan, `FTP passive ports from ${cidr}`);
      if (props.sftp) this.securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(props.sftp.port), `SFTP from ${cidr}`);
    }
    if (props.sftp?.port === 22 && allowedCidrs.includes('0.0.0.0/0')) {
      // CloudFormation's validation flags 22 open to the world as SSH. Here it is the SFTP service
      // (ProFTPD's mod_sftp on the backends' port 2222, no shell); the instances' own sshd is on no
      // NLB port and in no security group rule.
      Validations.of(this.securityGroup).acknowledge({
        id: 'CloudFormation-Validate::W2508',
        reason:
          'Port 22 is the public SFTP service (allowedCidrs 0.0.0.0/0), not SSH: the NLB forwards it to ProFTPD on 2222; the backends are not reachable on their own port 22. Narrow allowedCidrs to close it.',
      });
    }
    if (allowedCidrs.includes('0.0.0.0/0')) {
      acknowledge(this.securityGroup, [
        {
          id: 'AwsSolutions-EC23',
          reason:
            'A public FTP service: allowedCidrs is 0.0.0.0/0, so port 21 and the passive ports only are open to the internet. Narrow allowedCidrs to close it.',
        },
      ]);
    }

    this.nlb = new elbv2.NetworkLoadBalancer(this, 'Nlb', {
      vpc,
      internetFacing: true,
      crossZoneEnabled: props.crossZone ?? true,
      securityGroups: [this.securityGroup],
      // One static IP per AZ that customers can allowlist; also the PASV address of that AZ's backends.
      subnetMappings: publicSubnets.map((subnet, i) => ({ subnet, allocationId: this.elasticIps[i].attrAllocationId })),
    });
    // An internet-facing NLB needs the VPC's internet gateway attached first (else "VPC has no
    // internet gateway", and deletion can hang). CDK adds that only for subnets chosen through
    // vpcSubnets, which subnetMappings cannot be combined with: say it here.
    for (const subnet of publicSubnets) this.nlb.node.addDependency(subnet.internetConnectivityEstablished);
    acknowledge(this.nlb, [
      {
        id: 'AwsSolutions-ELB2',
        reason:
          'NLB access logs are written only for TLS listeners; every listener here is TCP (FTPS passes through untouched), so there is nothing to log. VPC flow logs record rejected traffic.',
      },
    ]);

    this.controlTargetGroup = new elbv2.NetworkTargetGroup(this, 'ControlTargetGroup', {
      vpc,
      port: CONTROL_PORT,
      protocol: elbv2.Protocol.TCP,
      targetType: elbv2.TargetType.INSTANCE,
      // Instance targets keep the client's IP, which vsftpd's pasv_promiscuous=NO check relies on.
      preserveClientIp: true,
      deregistrationDelay: this.deregistrationDelay,
      healthCheck: this.healthCheck(),
    });
    this.controlListener = this.nlb.addListener('Control', {
      port: CONTROL_PORT,
      protocol: elbv2.Protocol.TCP,
      // During a long transfer the control connection carries nothing; this (with the backends'
      // TCP keepalives) decides whether the NLB drops it before the transfer's 226 reply.
      tcpIdleTimeout: this.idleTimeout,
      defaultTargetGroups: [this.controlTargetGroup],
    });
    if (props.sftp) {
      this.sftpTargetGroup = new elbv2.NetworkTargetGroup(this, 'SftpTargetGroup', {
        vpc,
        port: props.sftp.backendPort,
        protocol: elbv2.Protocol.TCP,
        targetType: elbv2.TargetType.INSTANCE,
        // The backends' bans and per-address caps see the client's own address.
        preserveClientIp: true,
        deregistrationDelay: this.deregistrationDelay,
        // Its own port: a backend whose FTP is up but whose SFTP is not leaves only this group.
        healthCheck: { ...this.healthCheck(), port: String(props.sftp.backendPort) },
      });
      this.nlb.addListener('Sftp', {
        port: props.sftp.port,
        protocol: elbv2.Protocol.TCP,
        tcpIdleTimeout: this.idleTimeout,
        defaultTargetGroups: [this.sftpTargetGroup],
      });
    }
  }

  /** The public IP that backends in the given AZ index advertise in PASV replies. */
  publicIpForAz(azIndex: number): string {
    return this.elasticIps[azIndex].attrPublicIp;
  }

  /** Wire one backend: a member of the port-21 (and SFTP) group, and sole member of its passive ports' groups. */
  attach(backend: BackendAttachment): void {
    const { group, ports } = backend;
    this.controlTargetGroup.addTarget(group);

    for (const port of ports.ports) {
      // Logical IDs are keyed by port, so adding slots never renames existing resources.
      const tg = new elbv2.NetworkTargetGroup(this, `Passive${port}TargetGroup`, {
        vpc: this.vpc,
        port,
        protocol: elbv2.Protocol.TCP,
        targetType: elbv2.TargetType.INSTANCE,
        preserveClientIp: true,
        deregistrationDelay: this.deregistrationDelay,
        // A passive port is closed until a client sends PASV/EPSV, so a check on the traffic port
        // would always fail; port 21 tells whether this backend is up.
        healthCheck: this.healthCheck(),
        targets: [group],
      });
      const listener = this.nlb.addListener(`Passive${port}`, {
        port,
        protocol: elbv2.Protocol.TCP,
        tcpIdleTimeout: this.idleTimeout,
        defaultTargetGroups: [tg],
      });
      this.passiveTargetGroups.set(port, tg);
      this.passiveListeners.set(port, listener);
    }

    // The NLB forwards (and health-checks) only this backend's ports to it.
    const range = portRange(ports.minPort, ports.maxPort);
    this.securityGroup.addEgressRule(backend.securityGroup, ec2.Port.tcp(CONTROL_PORT), `FTP control to slot ${ports.slot}`);
    this.securityGroup.addEgressRule(backend.securityGroup, range, `FTP passive to slot ${ports.slot}`);
    backend.securityGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(CONTROL_PORT), 'FTP control and health checks from the NLB');
    backend.securityGroup.addIngressRule(this.securityGroup, range, 'FTP passive ports from the NLB');
    // SFTP: the backend admits the VPC's range on its SFTP port (FtpBackends), the NLB's egress rule covers it.
    this.sftpTargetGroup?.addTarget(group);
  }

  /** The single-backend target group of a passive port. */
  passiveTargetGroup(port: number): elbv2.NetworkTargetGroup {
    const tg = this.passiveTargetGroups.get(port);
    if (!tg) throw new Error(`no passive target group for port ${port}: attach its backend first`);
    return tg;
  }

  private healthCheck(): elbv2.HealthCheck {
    const hc = this.healthCheckProps;
    const interval = hc.interval ?? Duration.seconds(10);
    const timeout = hc.timeout ?? Duration.seconds(4);
    if (timeout.toSeconds() >= interval.toSeconds()) {
      throw new Error(`NLB health check timeout ${timeout.toSeconds()} s must be below its interval ${interval.toSeconds()} s`);
    }
    return {
      protocol: elbv2.Protocol.TCP,
      port: String(CONTROL_PORT),
      interval,
      timeout,
      healthyThresholdCount: hc.healthyThreshold ?? 3,
      unhealthyThresholdCount: hc.unhealthyThreshold ?? 2,
    };
  }
}

export function portRange(min: number, max: number): ec2.Port {
  return min === max ? ec2.Port.tcp(min) : ec2.Port.tcpRange(min, max);
}
