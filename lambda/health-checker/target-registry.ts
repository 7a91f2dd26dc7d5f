/**
 * The port-21 target group as the checker sees it, through @aws-sdk/client-elastic-load-balancing-v2.
 * Only RegisterTargets, DeregisterTargets and DescribeTargetHealth are used. With SFTP, every
 * registration and deregistration is mirrored into the SFTP target group: SFTP logins use the same
 * accounts, PAM stack and files as FTP, so a backend whose FTP login fails leaves both rotations.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CONTROL_PORT } from '../../lib/shared/contract';

export interface TargetRegistry {
  /** Instance IDs registered on port 21 and not draining, with the NLB's own health state. */
  describe(): Promise<Map<string, string>>;
  register(instanceIds: readonly string[]): Promise<void>;
  deregister(instanceIds: readonly string[]): Promise<void>;
}

export class ElbTargetRegistry implements TargetRegistry {
  constructor(
    private readonly client: ElasticLoadBalancingV2Client,
    private readonly targetGroupArn: string,
    /** The SFTP target group and its port, which follows port 21's decisions. @default none */
    private readonly mirror?: { readonly targetGroupArn: string; readonly port: number },
  ) {}

  async describe(): Promise<Map<string, string>> {
    const out = await this.client.send(new DescribeTargetHealthCommand({ TargetGroupArn: this.targetGroupArn }));
    const registered = new Map<string, string>();
    for (const d of out.TargetHealthDescriptions ?? []) {
      const id = d.Target?.Id;
      const state = d.TargetHealth?.State ?? 'unknown';
      // A draining target is on its way out: new flows no longer reach it.
      if (id && d.Target?.Port === CONTROL_PORT && state !== 'draining') registered.set(id, state);
    }
    return registered;
  }

  async register(instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    await this.client.send(
      new RegisterTargetsCommand({ TargetGroupArn: this.targetGroupArn, Targets: instanceIds.map((Id) => ({ Id, Port: CONTROL_PORT })) }),
    );
    if (this.mirror) {
      const { targetGroupArn, port } = this.mirror;
      await this.client.send(
        new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: instanceIds.map((Id) => ({ Id, Port: port })) }),
      );
    }
  }

  async deregister(instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    await this.client.send(
      new DeregisterTargetsCommand({ TargetGroupArn: this.targetGroupArn, Targets: instanceIds.map((Id) => ({ Id, Port: CONTROL_PORT })) }),
    );
    if (this.mirror) {
      const { targetGroupArn, port } = this.mirror;
      await this.client.send(
        new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: instanceIds.map((Id) => ({ Id, Port: port })) }),
      );
    }
  }
}
