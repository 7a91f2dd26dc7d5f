/**
 * The emulated NLB: a network namespace that forwards with kernel DNAT, like an NLB with instance
 * targets: no FTP inspection, no source NAT (the client IP is preserved), one rule per listener.
 *
 * - Port 21 is spread at random (per flow, like the NLB's flow hash) over the registered and
 *   healthy members of the port-21 target group; if none is healthy, over all registered ones
 *   (fail-open, as the NLB does).
 * - Each passive port goes to its single backend.
 * - SFTP's port (when the template has it) is spread the same way over its own target group, whose
 *   health check is on the backends' SFTP port: a backend whose SFTP is down leaves only that group.
 * - TCP health checks of port 21 every interval, with healthy/unhealthy thresholds, from the NLB's
 *   own private address (as on AWS), not from the clients' address.
 * - Idle flows expire after the idle timeout; a later packet of that flow is answered with a reset.
 * - A connection to a port with no listener is dropped without a word, as the NLB does: the client
 *   hangs until its own connect timeout, so a wrong passive-port offer shows here as it would on AWS.
 */
import { portOpen } from './local-server';
import { nsExec, sh } from './netns';
import type { SandboxPlan } from './template-plan';

export interface NlbHealthSettings {
  readonly intervalSeconds: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface EmulatedNlbOptions {
  readonly plan: SandboxPlan;
  readonly namespace: string;
  /** The NLB's address clients connect to (and PASV advertises). */
  readonly publicIp: string;
  /** Instance logical ID -> backend address. */
  readonly backendIps: ReadonlyMap<string, string>;
  /** The address health checks come from: the NLB's own, never a client's (the per-address cap counts clients). */
  readonly healthCheckSource: string;
  readonly health: NlbHealthSettings;
  readonly idleTimeoutSeconds: number;
  readonly log?: (message: string) => void;
}

interface TargetHealth {
  healthy: boolean;
  /** Consecutive results against the current state. */
  streak: number;
}

const CHAIN = 'NLBFTP_CONTROL';
const SFTP_CHAIN = 'NLBFTP_SFTP';

export class EmulatedNlb {
  /** Logical IDs registered in the port-21 target group (the checker changes this). */
  readonly registered: Set<string>;
  private readonly health = new Map<string, TargetHealth>();
  /** Logical IDs registered in the SFTP target group (the checker mirrors port 21's decisions here). */
  readonly sftpRegistered: Set<string>;
  /** SFTP's target group: every backend, checked on the SFTP port. */
  private readonly sftpHealth = new Map<string, TargetHealth>();
  private sftpMembers: string[] = [];
  private timer?: NodeJS.Timeout;
  private members: string[] = [];

  constructor(private readonly o: EmulatedNlbOptions) {
    this.registered = new Set(o.plan.control.targets.map((t) => t.backend));
    for (const t of o.plan.control.targets) this.health.set(t.backend, { healthy: false, streak: 0 });
    for (const t of o.plan.sftp?.targets ?? []) this.sftpHealth.set(t.backend, { healthy: false, streak: 0 });
    this.sftpRegistered = new Set(o.plan.sftp?.targets.map((t) => t.backend) ?? []);
  }

  /** Install the forwarding rules and start health checks; resolves once the first round ran. */
  async start(): Promise<void> {
    const ns = this.o.namespace;
    nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const rules = ['*nat', `:${CHAIN} - [0:0]`];
    rules.push(`-A PREROUTING -d ${this.o.publicIp}/32 -p tcp --dport 21 -j ${CHAIN}`);
    const sftp = this.o.plan.sftp;
    if (sftp)
      rules.push(`:${SFTP_CHAIN} - [0:0]`, `-A PREROUTING -d ${this.o.publicIp}/32 -p tcp --dport ${sftp.listenerPort} -j ${SFTP_CHAIN}`);
    for (const f of this.o.plan.passive) {
      if (f.targets.length !== 1)
        throw new Error(`passive listener ${f.listenerPort} must have exactly one target, has ${f.targets.length}`);
      const t = f.targets[0];
      rules.push(
        `-A PREROUTING -d ${this.o.publicIp}/32 -p tcp --dport ${f.listenerPort} -j DNAT --to-destination ${this.ip(t.backend)}:${t.port}`,
      );
    }
    rules.push('COMMIT', '*filter');
    // A packet of a flow whose state expired (idle timeout) is invalid: answer it with a reset.
    rules.push('-A FORWARD -p tcp -m conntrack --ctstate INVALID -j REJECT --reject-with tcp-reset');
    // A new connection that no DNAT rule sent on is for a port without a listener: the NLB drops
    // it without a word. (Stray packets of flows conntrack no longer knows still get a reset.)
    rules.push(`-A INPUT -d ${this.o.publicIp}/32 -p tcp -m conntrack --ctstate NEW -j DROP`, 'COMMIT', '');
    nsExec(ns, 'iptables-restore', [], { input: rules.join('\n') });
    // Conntrack is per namespace: this is the NLB's idle timeout. No mid-stream pickup of flows.
    nsExec(ns, 'sysctl', ['-qw', `net.netfilter.nf_conntrack_tcp_timeout_established=${this.o.idleTimeoutSeconds}`]);
    nsExec(ns, 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_loose=0']);
    // TCP keepalive probes carry a sequence number just below the window; strict window tracking
    // would mark them invalid (and our rule would reset the flow). The NLB accepts them and they
    // reset its idle timer, so track windows liberally, like it does.
    nsExec(ns, 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_be_liberal=1']);
    // A newly registered target is checked once and routed to as soon as it passes.
    for (const [b, ok] of await this.checkOnce()) (this.health.get(b) as TargetHealth).healthy = ok;
    for (const [b, ok] of await this.checkOnce(this.sftpHealth, this.sftpPort)) (this.sftpHealth.get(b) as TargetHealth).healthy = ok;
    this.apply();
    const loop = async () => {
      await this.checkAll();
      if (this.timer) this.timer = setTimeout(loop, this.o.health.intervalSeconds * 1000);
    };
    this.timer = setTimeout(loop, this.o.health.intervalSeconds * 1000);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Current port-21 members: registered and healthy, or all registered if none is healthy. */
  get controlMembers(): readonly string[] {
    return this.members;
  }

  isHealthy(backend: string): boolean {
    return this.health.get(backend)?.healthy ?? false;
  }

  /** The NLB's state of a target, as DescribeTargetHealth reports it. */
  stateOf(backend: string): string {
    const h = this.health.get(backend);
    if (!h) return 'unused';
    return h.healthy ? 'healthy' : 'unhealthy';
  }

  /** Whether a backend passes SFTP's own health check. */
  isSftpHealthy(backend: string): boolean {
    return this.sftpHealth.get(backend)?.healthy ?? false;
  }

  /** Current SFTP members: registered and healthy on the SFTP port, or all registered if none is (fail-open). */
  get sftpTargets(): readonly string[] {
    return this.sftpMembers;
  }

  private get sftpPort(): number {
    return this.o.plan.sftp?.targets[0]?.port ?? 0;
  }

  /** Spread a chain at random (per flow) over members, on a port. */
  private spread(chain: string, members: readonly string[], port: number): string[] {
    const lines = [`-F ${chain}`];
    members.forEach((b, i) => {
      const left = members.length - i;
      const target = `-p tcp -j DNAT --to-destination ${this.ip(b)}:${port}`;
      lines.push(
        left > 1 ? `-A ${chain} -m statistic --mode random --probability ${(1 / left).toFixed(6)} ${target}` : `-A ${chain} ${target}`,
      );
    });
    return lines;
  }

  /** Rebuild the port-21 (and SFTP) rule sets; existing flows keep their backend (conntrack), like the NLB. */
  apply(): void {
    const registered = this.o.plan.control.targets.map((t) => t.backend).filter((b) => this.registered.has(b));
    const healthy = registered.filter((b) => this.isHealthy(b));
    const members = healthy.length > 0 ? healthy : registered;
    const lines = ['*nat', ...this.spread(CHAIN, members, 21)];
    const sftpAll = [...this.sftpHealth.keys()].filter((b) => this.sftpRegistered.has(b));
    const sftpHealthy = sftpAll.filter((b) => this.isSftpHealthy(b));
    const sftpMembers = sftpHealthy.length > 0 ? sftpHealthy : sftpAll;
    if (this.o.plan.sftp) lines.push(...this.spread(SFTP_CHAIN, sftpMembers, this.sftpPort));
    lines.push('COMMIT', '');
    nsExec(this.o.namespace, 'iptables-restore', ['--noflush'], { input: lines.join('\n') });
    if (members.join() !== this.members.join()) {
      this.o.log?.(
        `NLB port 21 -> ${members.length ? members.map((m) => this.ip(m)).join(', ') : 'nobody'}${healthy.length === 0 && registered.length ? ' (fail-open: no healthy target)' : ''}`,
      );
    }
    this.members = members;
    if (this.o.plan.sftp && sftpMembers.join() !== this.sftpMembers.join()) {
      this.o.log?.(`NLB SFTP ${this.o.plan.sftp.listenerPort} -> ${sftpMembers.map((m) => this.ip(m)).join(', ') || 'nobody'}`);
    }
    this.sftpMembers = sftpMembers;
  }

  private ip(backend: string): string {
    const ip = this.o.backendIps.get(backend);
    if (!ip) throw new Error(`no address for backend ${backend}`);
    return ip;
  }

  private checkOnce(group = this.health, port = 21): Promise<Array<readonly [string, boolean]>> {
    const timeoutMs = Math.min(5000, this.o.health.intervalSeconds * 1000);
    return Promise.all(
      [...group.keys()].map(async (b) => [b, await portOpen(this.ip(b), port, timeoutMs, this.o.healthCheckSource)] as const),
    );
  }

  private async checkAll(): Promise<void> {
    const a = await this.checkGroup(this.health, 21);
    const b = await this.checkGroup(this.sftpHealth, this.sftpPort);
    if (a || b) this.apply();
  }

  /** One round of TCP checks of a group, with the thresholds; whether any target changed state. */
  private async checkGroup(group: Map<string, TargetHealth>, port: number): Promise<boolean> {
    let changed = false;
    for (const [b, ok] of await this.checkOnce(group, port)) {
      const h = group.get(b) as TargetHealth;
      if (ok === h.healthy) {
        h.streak = 0;
        continue;
      }
      h.streak++;
      const needed = h.healthy ? this.o.health.unhealthyThreshold : this.o.health.healthyThreshold;
      if (h.streak >= needed) {
        h.healthy = ok;
        h.streak = 0;
        changed = true;
      }
    }
    return changed;
  }
}

/** Route the host to the backends through the NLB namespace (the VPC router's job on AWS). */
export function routeVia(cidr: string, gateway: string): void {
  sh('ip', ['route', 'replace', cidr, 'via', gateway]);
}
