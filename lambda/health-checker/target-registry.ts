/**
 * A target group the checker decides (port 21's, and with SFTP the SFTP group), as it sees it
 * through @aws-sdk/client-elastic-load-balancing-v2. Only RegisterTargets, DeregisterTargets and
 * DescribeTargetHealth are used.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CONTROL_PORT } from '../../lib/shared/contract';

export interface TargetRegistry {
  /** Instance IDs registered on the group's port and not draining, with the NLB's own health state. */
  describe(): Promise<Map<string, string>>;
  register(instanceIds: readonly string[]): Promise<void>;
  deregister(instanceIds: readonly string[]): Promise<void>;
}

export class ElbTargetRegistry implements TargetRegistry {
  constructor(
    private readonly client: ElasticLoadBalancingV2Client,
    private readonly targetGroupArn: string,
    /** The port the group's targets are registered on. @default 21 */
    private readonly port: number = CONTROL_PORT,
  ) {}

  async describe(): Promise<Map<string, string>> {
    const out = await this.client.send(new DescribeTargetHealthCommand({ TargetGroupArn: this.targetGroupArn }));
    const registered = new Map<string, string>();
    for (const d of out.TargetHealthDescriptions ?? []) {
      const id = d.Target?.Id;
      const state = d.TargetHealth?.State ?? 'unknown';
      // A draining target is on its way out: new flows no longer reach it.
      if (id && d.Target?.Port === this.port && state !== 'draining') registered.set(id, state);
    }
    return registered;
  }

  async register(instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    await this.client.send(
      new RegisterTargetsCommand({ TargetGroupArn: this.targetGroupArn, Targets: instanceIds.map((Id) => ({ Id, Port: this.port })) }),
    );
  }

  async deregister(instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    await this.client.send(
      new DeregisterTargetsCommand({ TargetGroupArn: this.targetGroupArn, Targets: instanceIds.map((Id) => ({ Id, Port: this.port })) }),
    );
  }
}
