import type { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export interface SharedStorageProps {
  /** Mount targets go in its private subnets. */
  readonly vpc: ec2.IVpc;
  /** RETAIN keeps customers' files when the stack is deleted. */
  readonly removalPolicy: RemovalPolicy;
  /**
   * Let clients without IAM authentication mount over TLS through the mount targets, for backends
   * without amazon-efs-utils (the Debian backends tunnel NFS through stunnel). The mount
   * targets' security group still admits only the backends. @default false (IAM clients only)
   */
  readonly allowTlsClientsWithoutIam?: boolean;
}

/** The FTP root shared by every backend: an encrypted, backed-up EFS file system. */
export class SharedStorage extends Construct {
  readonly fileSystem: efs.FileSystem;

  constructor(scope: Construct, id: string, props: SharedStorageProps) {
    super(scope, id);
    this.fileSystem = new efs.FileSystem(this, 'FileSystem', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      encrypted: true,
      enableAutomaticBackups: true,
      performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
      // Elastic throughput follows the load; bursting would throttle a small file system.
      throughputMode: efs.ThroughputMode.ELASTIC,
      // Files untouched for 30 days cost ~90% less in Infrequent Access; read once, they come back.
      lifecyclePolicy: efs.LifecyclePolicy.AFTER_30_DAYS,
      outOfInfrequentAccessPolicy: efs.OutOfInfrequentAccessPolicy.AFTER_1_ACCESS,
      removalPolicy: props.removalPolicy,
      allowAnonymousAccess: false,
    });
    if (props.allowTlsClientsWithoutIam) {
      this.fileSystem.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'TlsClientsWithoutIamThroughMountTargets',
          principals: [new iam.AnyPrincipal()],
          actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite', 'elasticfilesystem:ClientRootAccess'],
          conditions: { Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true', 'aws:SecureTransport': 'true' } },
        }),
      );
    }
  }
}
