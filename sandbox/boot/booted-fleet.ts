/**
 * The sandbox's backends booted as EC2 boots them: for each slot, the user data of its launch
 * template in the synthesized template, resolved as CloudFormation resolves it, run in a fresh
 * Debian 13 instance (sandbox/boot/instance.ts) with the IMDS stand-in answering for it. The boot's
 * lifecycle-hook report reaches the local AWS endpoint; the caller acts on it as the group would.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AUDIT_LOG_FILE } from '../../lib/shared/audit';
import type { LocalAwsEndpoint } from '../aws/endpoint';
import type { LifecycleCompletion } from '../aws/model';
import { instanceRoleOf } from '../aws/principals';
import { assertSandboxAddress, nsExec } from '../netns';
import { LocalImds } from './imds';
import { BootedInstance, type BootResult } from './instance';
import { type ResolvableTemplate, resolveIntrinsics, type SandboxValues } from './resolve';
import type { DebianRoot } from './root';

export const IMDS_ADDRESS = '169.254.169.254';

type Resource = { Type: string; Properties?: Record<string, unknown> };

/** The user data of a slot's Auto Scaling group, as EC2 would hand it to a new instance. */
export function userDataOfGroup(template: ResolvableTemplate, groupLogicalId: string, values: SandboxValues): string {
  const res = template.Resources as Record<string, Resource>;
  const lt = (res[groupLogicalId]?.Properties?.LaunchTemplate as { LaunchTemplateId?: { Ref?: string } } | undefined)?.LaunchTemplateId
    ?.Ref;
  const data = lt ? (res[lt]?.Properties?.LaunchTemplateData as { UserData?: unknown } | undefined) : undefined;
  if (!data?.UserData) throw new Error(`group ${groupLogicalId} has no launch template with user data`);
  return resolveIntrinsics(data.UserData, template, values);
}

export interface BootOutcome {
  readonly instance: BootedInstance;
  readonly result: BootResult;
  /** What the boot reported to its lifecycle hook (CONTINUE or ABANDON), or undefined if nothing arrived. */
  readonly report?: LifecycleCompletion;
}

/** A booted backend's FTP server, with the same controls as the sandbox's directly started ones. */
export class BootedServer {
  constructor(
    readonly kind: 'vsftpd' | 'proftpd',
    public instance: BootedInstance,
    private readonly reboot: () => Promise<BootedInstance>,
  ) {}

  /** The serving process: the server's main process as the boot's systemctl started it. */
  get pid(): number | undefined {
    return this.instance.mainPid(`${this.kind}.service`);
  }

  /** The audit events file, seen from the host through the instance's processes. */
  get auditLog(): string {
    const pid = this.instance.pids()[0];
    return `/proc/${pid}/root${AUDIT_LOG_FILE}`;
  }

  get confPath(): string {
    const pid = this.instance.pids()[0];
    return `/proc/${pid}/root${this.kind === 'proftpd' ? '/etc/proftpd/proftpd.conf' : '/etc/vsftpd/vsftpd.conf'}`;
  }

  /** The instance is killed: everything of it stops. */
  async stop(): Promise<void> {
    await this.instance.kill();
  }

  /** A new instance boots from the same user data (its own disk: an instance's root volume does not survive it). */
  async start(): Promise<void> {
    if (this.instance.pids().length > 0) return;
    this.instance = await this.reboot();
  }

  async dispose(): Promise<void> {
    await this.instance.dispose();
  }

  /** The server's network namespace (ProFTPD's is its own, inside the instance's). */
  get netnsPath(): string {
    const pid = this.pid;
    if (!pid) throw new Error(`${this.kind} is not running`);
    return `/proc/${pid}/ns/net`;
  }

  /** The server's service stopped on the instance (`systemctl stop`, an operator's mistake). */
  async stopService(): Promise<void> {
    await this.instance.run(['systemctl', 'stop', `${this.kind}.service`]);
  }

  async startService(): Promise<void> {
    await this.instance.run(['systemctl', 'start', `${this.kind}.service`]);
  }
}

/**
 * Every boot is appended here as a JSON line (test/summary-reporter.ts prints how many boots a
 * test run made and their total time). Set by the reporter; unset, nothing is recorded.
 */
export const BOOT_RECORD_ENV = 'NLBFTP_BOOT_RECORD';

export interface BootRecord {
  readonly slot: number;
  readonly instanceId: string;
  readonly ms: number;
  readonly exitCode: number;
  readonly report: string | null;
}

function recordBoot(r: BootRecord): void {
  const file = process.env[BOOT_RECORD_ENV];
  if (file) fs.appendFileSync(file, `${JSON.stringify(r)}\n`);
}

export class BootedFleet {
  readonly imds = new LocalImds();
  private imdsPort = 0;
  private readonly reports = new Map<string, LifecycleCompletion>();
  private generation = 0;

  get root(): DebianRoot {
    return this.o.root;
  }

  constructor(
    private readonly o: {
      readonly template: ResolvableTemplate;
      readonly values: SandboxValues;
      readonly root: DebianRoot;
      /** Instances' disks go in here. */
      readonly workRoot: string;
      readonly efsDir: string;
      readonly endpoint: LocalAwsEndpoint;
      readonly endpointUrl: string;
      /** The host's sandbox address, where IMDS listens. */
      readonly host: string;
      readonly log: (line: string) => void;
      /** The backends' role name, as IMDS names it. */
      readonly roleName: string;
    },
  ) {
    const previous = o.endpoint.model.onLifecycle;
    o.endpoint.model.onLifecycle = (c) => {
      this.reports.set(c.instanceId, c);
      previous(c);
    };
  }

  async start(): Promise<void> {
    assertSandboxAddress(this.o.host);
    this.imdsPort = await this.imds.start(this.o.host);
  }

  async stop(): Promise<void> {
    await this.imds.stop();
  }

  /**
   * Boot a new instance for a slot in its namespace, to the end of its user data. `archive`
   * replaces Debian's mirror (a drill's broken one).
   */
  async boot(b: {
    readonly slot: number;
    readonly groupLogicalId: string;
    readonly namespace: string;
    readonly ip: string;
    readonly instanceId: string;
    readonly availabilityZone: string;
    readonly archive?: string;
  }): Promise<BootOutcome> {
    this.imds.set(b.ip, {
      instanceId: b.instanceId,
      region: this.o.values.region,
      availabilityZone: b.availabilityZone,
      privateIp: b.ip,
      roleName: this.o.roleName,
      credentials: this.o.endpoint.credentials.issue(instanceRoleOf(this.o.template, b.groupLogicalId), true),
    });
    const dnat = [
      '-t',
      'nat',
      'OUTPUT',
      '-d',
      `${IMDS_ADDRESS}/32`,
      '-p',
      'tcp',
      '--dport',
      '80',
      '-j',
      'DNAT',
      '--to-destination',
      `${this.o.host}:${this.imdsPort}`,
    ];
    const rule = (op: string) => [dnat[0], dnat[1], op, ...dnat.slice(2)];
    // One rule per namespace: a replacement's boot finds the same one.
    nsExec(b.namespace, 'iptables', rule('-D'), { allowFail: true });
    nsExec(b.namespace, 'iptables', rule('-A'));
    const workDir = path.join(this.o.workRoot, `instance-${b.instanceId}-${++this.generation}`);
    fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
    const instance = new BootedInstance({
      root: this.o.root,
      userData: userDataOfGroup(this.o.template, b.groupLogicalId, this.o.values),
      namespace: b.namespace,
      workDir,
      efsDir: this.o.efsDir,
      endpointUrl: this.o.endpointUrl,
      archive: b.archive,
    });
    this.o.log(`slot ${b.slot}: booting ${b.instanceId} from its launch template's user data (Debian 13 root ${this.o.root.key})`);
    const result = await instance.boot((line) => {
      if (/ boot \(\+\d+s\): /.test(line)) this.o.log(`  ${line}`);
    });
    const report = this.reports.get(b.instanceId);
    recordBoot({ slot: b.slot, instanceId: b.instanceId, ms: result.ms, exitCode: result.exitCode, report: report?.result ?? null });
    return { instance, result, report };
  }
}
