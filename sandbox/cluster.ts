/**
 * The whole nlb-ftp cluster on one Linux machine, in network namespaces on 198.18.0.0/15
 * (topology.ts). This module brings it up and down and models what AWS does around it (the
 * Auto Scaling groups, EC2's instance states, the target groups) and the drills' faults. Every
 * backend boots from its launch template's user data, as on EC2: there is no other way to start
 * one. Its parts: synthesis.ts (the template and assets), boot/ (the booted backends),
 * emulated-nlb.ts, aws/ (one AWS model behind the endpoint), checker-timing.ts and cleanup.ts. The health checker is the real handler, in its own process, talking to a local AWS endpoint.
 */

import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../harness/ftp-clients';
import { missingPrerequisites } from '../harness/prerequisites';
import { EC2_PROFTPD_PATHS, SFTP_BACKEND_PORT } from '../lib/backend/proftpd-conf';
import { ALLOW_FILE, awsAgentPackages, FTP_ROOT } from '../lib/backend/user-data';
import { EC2_VSFTPD_PATHS } from '../lib/backend/vsftpd-conf';
import { type Config, loadConfig } from '../lib/config';
import { BAN_PARTITION, type Ban, banOfItem } from '../lib/shared/bans';
import { CheckerEnv, HEALTH_CHECK_USER } from '../lib/shared/contract';
import { createSelfSignedCertificate } from '../lib/shared/self-signed-certificate';
import { knownHostsLine, parseSshHostKeys, SSH_HOST_KEYS_RESOURCE_TYPE, type SshHostKeys } from '../lib/shared/ssh-host-keys';
import { CFN_RESPONSE_PATH, LocalAwsEndpoint } from './aws/endpoint';
import { IamEnforcer, resourceArn, templatePrincipals } from './aws/iam';
import { AwsModel } from './aws/model';
import { functionOf, functionRoleOf, instanceRoleOf } from './aws/principals';
import { BootedFleet, BootedServer, type BootOutcome } from './boot/booted-fleet';
import type { BootedInstance } from './boot/instance';
import { resolveDeep, sandboxRef } from './boot/resolve';
import { brokenArchive, ensureRoot, missingRoot } from './boot/root';
import { startCheckerProcess, summarizeCheckerLine } from './checker-process';
import { type CheckerTiming, checkerBoundsMs, checkerContext, DRILL_CHECKER, DRILL_NLB_HEALTH } from './checker-timing';
import { cleanupSandbox, type StateRecord, writeState } from './cleanup';
import { EmulatedNlb, type NlbHealthSettings, routeVia } from './emulated-nlb';
import { createNamespace, linkNamespaces, listNamespaces, nsExec, sh } from './netns';
import { SANDBOX_VALUES, secretOf, synthTemplate } from './synthesis';
import { planFromTemplate, type SandboxPlan, type TemplateJson } from './template-plan';
import {
  BOOTED_DEMO_USER,
  backendGw,
  backendIp,
  backendNs,
  CHECKER_IP,
  CLIENT_IP,
  CLIENT_NS,
  CLIENT_NS_IP,
  HOST_IF,
  instanceIdOf,
  NLB_HEALTH_IP,
  NLB_IP,
  NLB_NS,
  SANDBOX_PREFIX,
} from './topology';

// The sandbox's public names, where its callers have always found them.
export {
  BOOTED_DEMO_USER,
  backendIp,
  CHECKER_IP,
  type CheckerTiming,
  CLIENT_IP,
  CLIENT_NS,
  CLIENT_NS_IP,
  checkerBoundsMs,
  checkerContext,
  cleanupSandbox,
  DRILL_CHECKER,
  DRILL_NLB_HEALTH,
  NLB_IP,
  NLB_NS,
  SANDBOX_PREFIX,
  SANDBOX_VALUES,
};

export const REQUIRED_TOOLS: readonly string[] = ['ip', 'iptables', 'iptables-restore', 'curl', 'lftp', 'nsenter', 'unshare', 'python3'];

/** One sentence naming what is missing and how to get it, or undefined when all is there. */
export function missingPrerequisite(): string | undefined {
  if (process.platform !== 'linux') return 'The sandbox needs Linux (network namespaces and iptables).';
  const tools = missingPrerequisites(REQUIRED_TOOLS, { why: 'it creates network namespaces and boots Debian 13 backends in them' });
  return tools ?? missingRoot();
}

export interface SandboxOptions {
  /** CDK-style context, merged exactly as `cdk synth -c key=value` would (strings are fine). */
  readonly context?: Record<string, unknown>;
  /** Where nlb-ftp.config.json is looked up. */
  readonly cwd?: string;
  /** Override the NLB health check timing from the template (tests use faster checks). */
  readonly nlbHealth?: Partial<NlbHealthSettings>;
  /** The emulated NLB's idle timeout; default twice the backends' keepalive probe gap (min 10 s). */
  readonly idleTimeoutSeconds?: number;
  /** Run the health checker (default: when the stack has one, that is `healthCheck.enabled`). */
  readonly checker?: boolean;
  /**
   * More entries of the users secret beside the demo user, as docs/users.md describes them (a
   * password, `{ passwordHash }`, or either with `publicKeys`, or `publicKeys` alone).
   */
  readonly users?: Readonly<
    Record<string, string | { readonly password?: string; readonly passwordHash?: string; readonly publicKeys?: readonly string[] }>
  >;
  readonly log?: (message: string) => void;
}

export interface SandboxBackend {
  readonly slot: number;
  readonly logicalId: string;
  /** The slot's current instance: its Auto Scaling group gives a replacement a new ID. */
  instanceId: string;
  readonly ip: string;
  readonly namespace: string;
  readonly minPort: number;
  readonly maxPort: number;
  /** The backend's FTP server, as its boot started it (vsftpd or ProFTPD, as the template says). */
  readonly server: BootedServer;
  /** Where the instance keeps the FTPS certificate and key (its sync installs them there), with FTPS. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

export class Sandbox {
  readonly backends: SandboxBackend[] = [];
  readonly demo: { user: string; password: string };
  readonly endpoint = NLB_IP;
  /**
   * With FTPS: the PEM certificate every backend serves (self-signed for the NLB's address, made
   * like the stack's), for clients' --cacert / ssl:ca-file. Undefined when `ftps` is off.
   */
  certificateFile?: string;
  private certificate?: { certificate: string; privateKey: string };
  /** The SFTP host keys the custom resource generated (every backend presents them). */
  private sshHostKeys?: SshHostKeys;
  /** What each custom resource the sandbox ran answered (logical ID -> physical ID), for Refs to it. */
  private readonly customResources = new Map<string, string>();
  /** Their fingerprints as the stack's output gives them (`SHA256:...`, ECDSA first); empty without SFTP. */
  sftpFingerprints: string[] = [];
  /** A known_hosts file with the stack's host keys for the NLB's SFTP endpoint; unset without SFTP. */
  sftpKnownHostsFile?: string;
  /** JSON lines the checker printed (logs and embedded-metric-format metrics). */
  readonly checkerLines: string[] = [];
  config!: Config;
  plan!: SandboxPlan;
  nlb!: EmulatedNlb;
  aws!: LocalAwsEndpoint;
  idleTimeoutSeconds = 0;
  private root = '';
  private healthPassword = '';
  /** The AWS behind the endpoint: instances, target groups, the slots' groups, secrets, objects, the state table. */
  readonly model = new AwsModel();
  private readonly generations = new Map<number, number>();
  private checker?: ChildProcess;
  /** The synthesized template the sandbox deploys. */
  template?: TemplateJson;
  private objects = new Map<string, Buffer>();
  /** The booted backends' machinery (IMDS, boots, lifecycle reports). */
  fleet?: BootedFleet;
  /** The checker Lambda's bundled index.js from the synthesized assembly (esbuild, as deployed). */
  private checkerCode?: string;
  private certificateCode?: string;
  /** What CloudFormation's GenerateSecretString put in the certificate secret before the custom resource replaced it. */
  private readonly generatedCertificateSecret = randomBytes(24).toString('base64url');
  private readonly savedBuffers = new Map<string, string>();
  private readonly log: (m: string) => void;

  private constructor(private readonly opts: SandboxOptions) {
    this.log = opts.log ?? (() => undefined);
    this.demo = { user: BOOTED_DEMO_USER, password: '' };
  }

  /** Bring the cluster up. On any error everything made so far is torn down before rethrowing. */
  static async up(opts: SandboxOptions = {}): Promise<Sandbox> {
    const missing = missingPrerequisite();
    if (missing) throw new Error(missing);
    if (listNamespaces().some((n) => n.startsWith(SANDBOX_PREFIX))) {
      throw new Error('A sandbox is already running, or a crashed one left namespaces behind: run `npm run sandbox -- --down` first.');
    }
    const sb = new Sandbox(opts);
    try {
      await sb.start();
      return sb;
    } catch (err) {
      await sb.down();
      throw err;
    }
  }

  private step(n: number, total: number, what: string): void {
    this.log(`[${n}/${total}] ${what}`);
  }

  private async start(): Promise<void> {
    const T = 7;
    this.config = loadConfig({ context: this.opts.context ?? {}, cwd: this.opts.cwd });
    this.step(
      1,
      T,
      `synthesizing the stack (${this.config.backendCount} backends, ${this.config.passivePortsPerBackend} passive ports each)`,
    );
    const synthesized = synthTemplate(this.config, SANDBOX_VALUES);
    this.template = synthesized.template;
    this.objects = synthesized.objects;
    this.plan = planFromTemplate(synthesized.template);
    this.checkerCode = synthesized.checkerCode;
    this.certificateCode = synthesized.certificateCode;
    // Linux probes after tcp_keepalive_time, then every tcp_keepalive_intvl whether or not the
    // previous probe was answered, so both must be below the idle timeout for keepalives to work.
    const sysctl = (name: string) => Number(this.plan.backends[0].keepaliveSysctls.find((x) => x.startsWith(`${name}=`))?.split('=')[1]);
    const probeGap = Math.max(sysctl('net.ipv4.tcp_keepalive_time'), sysctl('net.ipv4.tcp_keepalive_intvl') || 0);
    this.idleTimeoutSeconds = this.opts.idleTimeoutSeconds ?? Math.max(10, 2 * probeGap);
    if (this.idleTimeoutSeconds <= probeGap) {
      this.log(
        `warning: idle timeout ${this.idleTimeoutSeconds} s is not above the keepalive probe gap ${probeGap} s; long transfers will lose their control connection`,
      );
    }

    this.step(2, T, `creating network namespaces (NLB ${NLB_IP}, backends ${backendIp(0)}...)`);
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), `${SANDBOX_PREFIX}-root-`));
    this.writeState({ users: [], dirs: [this.root] });
    createNamespace(NLB_NS);
    linkNamespaces({ ns: NLB_NS, nsIf: 'eth0', nsAddr: NLB_IP, peerIf: HOST_IF, peerAddr: CLIENT_IP, prefix: 24 });
    // The NLB's private address, for its health checks, and the checker's (secondary: the host's
    // clients keep CLIENT_IP).
    for (const ip of [NLB_HEALTH_IP, CHECKER_IP]) sh('ip', ['addr', 'add', `${ip}/32`, 'dev', HOST_IF]);
    createNamespace(CLIENT_NS);
    linkNamespaces({
      ns: CLIENT_NS,
      nsIf: 'eth0',
      nsAddr: CLIENT_NS_IP,
      peer: NLB_NS,
      peerIf: 'client',
      peerAddr: '198.18.1.1',
      prefix: 24,
    });
    nsExec(CLIENT_NS, 'ip', ['route', 'add', 'default', 'via', '198.18.1.1']);
    for (const b of this.plan.backends) {
      const ns = backendNs(b.slot);
      createNamespace(ns);
      linkNamespaces({
        ns,
        nsIf: 'eth0',
        nsAddr: backendIp(b.slot),
        peer: NLB_NS,
        peerIf: `b${b.slot}`,
        peerAddr: backendGw(b.slot),
        prefix: 24,
      });
      nsExec(ns, 'ip', ['route', 'add', 'default', 'via', backendGw(b.slot)]);
      // The boot itself sets the instance's sysctls and makes ProFTPD's namespace.
      routeVia(`198.18.${16 + b.slot}.0/24`, NLB_IP);
    }

    this.demo.password = randomBytes(12).toString('base64url');
    this.healthPassword = randomBytes(18).toString('base64url');
    this.step(3, T, 'the demo user goes into the users secret; each boot makes it (and the health-check account) from Secrets Manager');

    // The local AWS endpoint is up from here on: the certificate custom resource writes through it.
    await this.startEndpoint(CLIENT_IP);
    const ftps = this.plan.backends[0].ftps;
    if (ftps !== 'off') {
      // One certificate for every backend, made as the deploy makes it: the custom resource's bundled
      // code, run with CloudFormation's Create event, as its role, writes it into the secret.
      this.certificate = await this.createCertificate();
      const tlsDir = path.join(this.root, '.tls');
      fs.mkdirSync(tlsDir, { mode: 0o700 });
      this.certificateFile = path.join(tlsDir, 'nlb-ftp.crt');
      fs.writeFileSync(this.certificateFile, this.certificate.certificate, { mode: 0o644 });
    }

    if (this.plan.sftp) {
      const made = await this.createHostKeys();
      this.sshHostKeys = made.keys;
      this.sftpFingerprints = made.fingerprints;
      const sshDir = path.join(this.root, '.ssh');
      fs.mkdirSync(sshDir, { mode: 0o700 });
      this.sftpKnownHostsFile = path.join(sshDir, 'known_hosts');
      fs.writeFileSync(this.sftpKnownHostsFile, this.sftpKnownHosts(), { mode: 0o644 });
    }

    const server = this.plan.backends[0].server;
    this.step(4, T, `booting ${this.plan.backends.length} Debian 13 ${server} backends from the template's user data (FTPS ${ftps})`);
    await this.bootBackends();

    this.step(
      5,
      T,
      `starting the emulated NLB (1 + ${this.plan.sftp ? '1 SFTP + ' : ''}${this.plan.passive.length} listeners, idle timeout ${this.idleTimeoutSeconds} s)`,
    );
    const hc = this.plan.healthCheck;
    this.nlb = new EmulatedNlb({
      plan: this.plan,
      namespace: NLB_NS,
      publicIp: NLB_IP,
      backendIps: new Map(this.backends.map((b) => [b.logicalId, b.ip])),
      healthCheckSource: NLB_HEALTH_IP,
      health: {
        intervalSeconds: this.opts.nlbHealth?.intervalSeconds ?? hc.intervalSeconds,
        healthyThreshold: this.opts.nlbHealth?.healthyThreshold ?? hc.healthyThreshold,
        unhealthyThreshold: this.opts.nlbHealth?.unhealthyThreshold ?? hc.unhealthyThreshold,
      },
      idleTimeoutSeconds: this.idleTimeoutSeconds,
      log: (m) => this.log(m),
    });
    await this.nlb.start();

    const url = this.endpointUrl;
    this.step(6, T, `the local AWS endpoint has been up since the boots (${url})`);
    this.applyControl();
    this.applySftp();

    const hcfg = this.config.healthCheck;
    if ((this.opts.checker ?? true) && this.checkerCode) {
      this.step(
        7,
        T,
        `starting the health checker (its bundled Lambda code, every ${hcfg.intervalSeconds} s, fall ${hcfg.fallThreshold}, rise ${hcfg.riseThreshold})`,
      );
      const checkerFile = path.join(this.root, 'checker', 'index.js');
      fs.mkdirSync(path.dirname(checkerFile), { recursive: true });
      fs.writeFileSync(checkerFile, this.checkerCode);
      const checkerCredentials = this.aws.credentials.issue(functionRoleOf(this.template as TemplateJson, 'HealthCheckerFunction'));
      const env = {
        ...process.env,
        // The function's environment as the template gives it, resolved as CloudFormation resolves it.
        ...this.checkerTemplateEnvironment(),
        // One round per invocation; the runner invokes once per interval, like the schedule.
        [CheckerEnv.budgetSeconds]: String(hcfg.intervalSeconds),
        AWS_ENDPOINT_URL: url,
        AWS_REGION: 'us-east-1',
        // The checker signs as its function role: credentials the endpoint issued to that role.
        AWS_ACCESS_KEY_ID: checkerCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: checkerCredentials.secretAccessKey,
        AWS_EC2_METADATA_DISABLED: 'true',
        NODE_NO_WARNINGS: '1',
        NLBFTP_CHECKER_BUNDLE: checkerFile,
        // Its sockets come from the Lambda's address in the VPC, not the host's clients'.
        NLBFTP_SOURCE_IP: CHECKER_IP,
      };
      this.checker = startCheckerProcess(env, (line) => {
        this.checkerLines.push(line);
        if (/"level":"(WARN|ERROR)"/.test(line)) this.log(`checker: ${summarizeCheckerLine(line)}`);
      });
    } else {
      this.step(7, T, 'health checker disabled');
    }
  }

  /** The bans table's name, as the template's output gives it to `status` and `unban`; undefined when bans are off. */
  get banTable(): string | undefined {
    const t = this.template as TemplateJson;
    const id = Object.keys(t.Resources).find((k) => k.startsWith('BanTable') && t.Resources[k].Type === 'AWS::DynamoDB::Table');
    return id ? sandboxRef(t, SANDBOX_VALUES, id) : undefined;
  }

  /** The active bans in the bans table (what every backend's agent loads). */
  activeBans(): Ban[] {
    const table = this.banTable;
    if (!table) return [];
    const now = Math.floor(Date.now() / 1000);
    return this.model
      .query(table, 'pk = :pk', { ':pk': { S: BAN_PARTITION } })
      .map((i) => banOfItem(i, now))
      .filter((b): b is Ban => b !== undefined);
  }

  /** FTPS as the deployed vsftpd.conf sets it. */
  get ftps(): 'off' | 'optional' | 'required' {
    return this.plan.backends[0]?.ftps ?? 'off';
  }

  private endpointUrl = '';

  /** The checker function's environment variables from the template, every token resolved. */
  private checkerTemplateEnvironment(): Record<string, string> {
    const t = this.template as TemplateJson;
    const [, fn] = functionOf(t, 'HealthCheckerFunction');
    const vars = (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    return resolveDeep(vars, t, { ...SANDBOX_VALUES, customResources: this.customResources }) as Record<string, string>;
  }

  /**
   * The ARNs and names the checker and the boots use: the template's own resources, resolved as
   * CloudFormation would resolve them (so its IAM policies and the model name the same things).
   */
  private arns(): {
    tgArn: string;
    healthSecretArn: string;
    usersSecretArn: string;
    certificateSecretArn: string;
    hostKeysSecretArn: string;
    stateTable: string;
  } {
    const t = this.template as TemplateJson;
    const table = Object.keys(t.Resources).find(
      (k) => k.startsWith('HealthCheckerState') && t.Resources[k].Type === 'AWS::DynamoDB::Table',
    );
    const fallback = (what: string) => `arn:aws:secretsmanager:us-east-1:000000000000:secret:${this.config.stackName}-${what}-SbXaBc`;
    return {
      tgArn: sandboxRef(t, SANDBOX_VALUES, this.plan.control.targetGroup),
      healthSecretArn: secretOf(t, 'SecretsHealthCheckSecret') || fallback('health'),
      usersSecretArn: secretOf(t, 'SecretsUsersSecret') || fallback('users'),
      certificateSecretArn: secretOf(t, 'FtpsCertificateSecret') || fallback('ftps'),
      hostKeysSecretArn: secretOf(t, 'SftpHostKeysSecret') || fallback('sftp'),
      stateTable: table ? sandboxRef(t, SANDBOX_VALUES, table) : `${this.config.stackName}-checker-state`,
    };
  }

  /** A slot's passive target group (its lowest port's, as the checker's inventory names it), by ARN. */
  private passiveArnOf(b: SandboxPlan['backends'][number]): string {
    const f = this.plan.passive.find((p) => p.listenerPort === b.minPort);
    if (!f) throw new Error(`slot ${b.slot}: the template has no listener on its first passive port ${b.minPort}`);
    return sandboxRef(this.template as TemplateJson, SANDBOX_VALUES, f.targetGroup);
  }

  /**
   * The FTPS certificate custom resource's Create, as CloudFormation runs it at deploy: the
   * function's bundled code in its own process, the event's properties resolved from the template,
   * signed as the function's role (IAM enforced), its answer PUT to the ResponseURL. Returns the
   * pair it wrote into the secret.
   */
  private async createCertificate(): Promise<{ certificate: string; privateKey: string }> {
    await this.runKeyResource('Custom::NlbFtpSelfSignedCertificate');
    return JSON.parse(this.model.getSecretValue(this.arns().certificateSecretArn).value) as { certificate: string; privateKey: string };
  }

  /** The NLB's SFTP port; undefined when the stack has no SFTP. */
  get sftpPort(): number | undefined {
    return this.plan.sftp?.listenerPort;
  }

  /** known_hosts lines for the NLB's SFTP endpoint: the stack's one set of host keys, as a client pins them. */
  sftpKnownHosts(): string {
    const port = this.sftpPort;
    if (!port || !this.sshHostKeys) throw new Error('the stack serves no SFTP');
    const keys = this.sshHostKeys;
    return `${[keys.ecdsa, keys.rsa].map((k) => knownHostsLine(NLB_IP, port, k)).join('\n')}\n`;
  }

  /** The SFTP host keys custom resource's Create, the same way; returns the keys and the fingerprints it reported. */
  private async createHostKeys(): Promise<{ keys: SshHostKeys; fingerprints: string[] }> {
    const physicalId = await this.runKeyResource(SSH_HOST_KEYS_RESOURCE_TYPE);
    return { keys: parseSshHostKeys(this.model.getSecretValue(this.arns().hostKeysSecretArn).value), fingerprints: physicalId.split(' ') };
  }

  /**
   * One key-material custom resource's Create (lambda/certificate-resource serves both types):
   * its bundled code, the event CloudFormation sends, signed as the role of the function its
   * ServiceToken names. Returns the physical ID it answered.
   */
  private async runKeyResource(type: string): Promise<string> {
    const t = this.template as TemplateJson;
    const resource = Object.entries(t.Resources).find(([, r]) => r.Type === type);
    if (!resource || !this.certificateCode) throw new Error(`the template has no ${type} custom resource or its function's code`);
    const [logicalId, r] = resource;
    const token = r.Properties?.ServiceToken as { 'Fn::GetAtt'?: [string, string] } | undefined;
    const functionId = token?.['Fn::GetAtt']?.[0];
    if (!functionId) throw new Error(`${logicalId}: its ServiceToken names no function`);
    const requestId = randomUUID();
    const event = {
      RequestType: 'Create',
      ResponseURL: `${this.endpointUrl}${CFN_RESPONSE_PATH}${requestId}`,
      StackId: resourceArn.stack(SANDBOX_VALUES, this.config.stackName),
      RequestId: requestId,
      LogicalResourceId: logicalId,
      ResourceType: r.Type,
      ResourceProperties: resolveDeep(r.Properties, t, SANDBOX_VALUES),
    };
    const file = path.join(this.root, 'certificate-resource', 'index.js');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, this.certificateCode);
    const c = this.aws.credentials.issue(functionRoleOf(t, functionId));
    const env = {
      PATH: process.env.PATH,
      AWS_ENDPOINT_URL: this.endpointUrl,
      AWS_REGION: SANDBOX_VALUES.region,
      AWS_ACCESS_KEY_ID: c.accessKeyId,
      AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      NODE_NO_WARNINGS: '1',
      EVENT: JSON.stringify(event),
    };
    // Asynchronously: the endpoint answers from this process.
    const ran = await run(process.execPath, ['-e', `require(${JSON.stringify(file)}).handler(JSON.parse(process.env.EVENT))`], {
      env,
      timeoutMs: 60_000,
    });
    const output = `${ran.stdout}${ran.stderr}`;
    const response = this.aws.customResourceResponses.get(requestId);
    if (ran.code !== 0 || response?.Status !== 'SUCCESS') {
      throw new Error(
        `the ${type} custom resource failed (exit ${ran.code}, ${String(response?.Status ?? 'no response')}: ${String(response?.Reason ?? '')}):\n${output}`,
      );
    }
    this.log(`${type}: ${output.trim().split('\n').at(-1)}`);
    this.customResources.set(logicalId, String(response.PhysicalResourceId));
    return String(response.PhysicalResourceId);
  }

  /** A slot's Auto Scaling group name and launch hook, as the template names them (what its boot reports to). */
  private groupOf(slot: number): { name: string; hook: string } {
    const b = this.plan.backends.find((x) => x.slot === slot);
    const props = (b && (this.template as TemplateJson).Resources[b.logicalId]?.Properties) as
      | {
          AutoScalingGroupName?: string;
          LifecycleHookSpecificationList?: Array<{ LifecycleHookName: string; LifecycleTransition: string }>;
        }
      | undefined;
    const hook = props?.LifecycleHookSpecificationList?.find((h) => h.LifecycleTransition === 'autoscaling:EC2_INSTANCE_LAUNCHING');
    if (!props?.AutoScalingGroupName || !hook)
      throw new Error(`slot ${slot}: the template's group has no name or no launch lifecycle hook`);
    return { name: props.AutoScalingGroupName, hook: hook.LifecycleHookName };
  }

  /**
   * The model as the deployed stack starts: the port-21 target group, each slot's group (its launch
   * hook, its passive target group), the secrets, the boot's objects and the checker's state table.
   */
  private seedModel(): void {
    const m = this.model;
    const { tgArn } = this.arns();
    m.targetGroups.set(tgArn, new Map());
    for (const b of this.plan.backends) {
      const passive = this.passiveArnOf(b);
      m.targetGroups.set(passive, new Map());
      m.targetGroupPorts.set(passive, b.minPort);
      const { name, hook } = this.groupOf(b.slot);
      const sftpArn = this.sftpArn();
      const sftp = sftpArn ? [sftpArn] : [];
      for (const arn of sftp) {
        if (!m.targetGroups.has(arn)) m.targetGroups.set(arn, new Map());
        m.targetGroupPorts.set(arn, SFTP_BACKEND_PORT);
      }
      m.addGroup({
        name,
        launchTemplateId: `lt-sandbox${b.slot}`,
        version: '1',
        targetGroups: [tgArn, passive, ...sftp],
        launchHook: hook,
      });
    }
    for (const [arn, value] of this.secretValues()) m.secrets.set(arn, value);
    for (const [key, body] of this.objects) m.objects.set(key, body);
    m.createTable(this.arns().stateTable);
    // Every other table of the template (the bans table), with the key schema the template gives it.
    const t = this.template as TemplateJson;
    for (const [id, r] of Object.entries(t.Resources)) {
      if (r.Type !== 'AWS::DynamoDB::Table' || id.startsWith('HealthCheckerState')) continue;
      const keys = (r.Properties?.KeySchema as Array<{ AttributeName: string }> | undefined)?.map((k) => k.AttributeName) ?? ['pk'];
      m.createTable(sandboxRef(t, SANDBOX_VALUES, id), keys);
    }
    // The NLB's view of port 21 is the emulated NLB's own health check; its passive groups it never checks.
    const logicalOf = (id: string) => this.backends.find((b) => b.instanceId === id)?.logicalId;
    m.targetHealth = (arn, id) => (arn === tgArn ? (this.nlb?.stateOf(logicalOf(id) ?? '') ?? 'initial') : 'healthy');
    m.onTargetsChanged = (arn) => {
      if (arn === tgArn) this.applyControl();
      if (this.plan.sftp && arn === this.sftpArn()) this.applySftp();
    };
  }

  /** A slot's backend, first instance. */
  private addBackend(b: SandboxPlan['backends'][number], server: BootedServer, tls?: SandboxBackend['tls']): void {
    this.backends.push({
      slot: b.slot,
      logicalId: b.logicalId,
      instanceId: instanceIdOf(b.slot),
      ip: backendIp(b.slot),
      namespace: backendNs(b.slot),
      minPort: b.minPort,
      maxPort: b.maxPort,
      server,
      tls,
    });
  }

  /** Every secret the sandbox serves, by ARN: the health-check account, the users, the certificate. */
  private secretValues(): Map<string, string> {
    const { healthSecretArn, usersSecretArn, certificateSecretArn, hostKeysSecretArn } = this.arns();
    const secrets = new Map([[healthSecretArn, JSON.stringify({ username: HEALTH_CHECK_USER, password: this.healthPassword })]]);
    secrets.set(usersSecretArn, JSON.stringify({ ...this.opts.users, [this.demo.user]: this.demo.password }));
    // Until the custom resource writes the certificate, the secret holds what CloudFormation generated.
    if (this.plan.backends[0].ftps !== 'off')
      secrets.set(certificateSecretArn, this.certificate ? JSON.stringify(this.certificate) : this.generatedCertificateSecret);
    if (this.plan.sftp)
      secrets.set(hostKeysSecretArn, this.sshHostKeys ? JSON.stringify(this.sshHostKeys) : this.generatedCertificateSecret);
    return secrets;
  }

  /** The next instance ID of a slot's group (each launch counts one up). */
  private nextInstanceId(slot: number): string {
    const generation = (this.generations.get(slot) ?? 0) + 1;
    this.generations.set(slot, generation);
    return instanceIdOf(slot, generation);
  }

  /** The local AWS endpoint with the sandbox's secrets, on `host`. */
  private async startEndpoint(host: string): Promise<string> {
    this.seedModel();
    // IAM is enforced on every call, with the template's own policies: there is no switch.
    this.aws = new LocalAwsEndpoint(this.model, IamEnforcer.fromTemplate(this.template as TemplateJson, SANDBOX_VALUES));
    this.aws.onDenied = (message) => this.log(`AWS denied a call (IAM): ${message}`);
    this.endpointUrl = await this.aws.start(host);
    return this.endpointUrl;
  }

  /**
   * Boot every backend from its launch template's user data (the `boot` option), in parallel, and
   * put each into service once its boot reported CONTINUE. Any other outcome stops the sandbox
   * with the boot's own log.
   */
  private async bootBackends(): Promise<void> {
    const root = await ensureRoot((line) => this.log(`  root: ${line}`));
    // The NLB's namespace is also the VPC's router: the boots reach IMDS and the AWS endpoint on
    // the host through it (on AWS: the instance itself, and the NAT gateway).
    nsExec(NLB_NS, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // AWS's agent packages, at the buckets and keys the boot asks for: the root's stand-ins.
    const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
    for (const o of awsAgentPackages(SANDBOX_VALUES.region, true)) {
      this.model.publicBuckets.add(o.bucket);
      this.model.objects.set(
        `${o.bucket}/${o.key.replace('$arch', arch)}`,
        fs.readFileSync(path.join(root.agents, path.posix.basename(o.key))),
      );
    }
    // The instances' disks (EBS's stand-in) are in memory: a boot's dpkg writes and syncs a few
    // hundred MB, and on this machine's disk that cost about 8 s a boot for nothing the boot does.
    const instancesDir = path.join(this.root, 'instances');
    fs.mkdirSync(instancesDir, { mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0700', `${SANDBOX_PREFIX}-disks`, instancesDir]);
    const efsDir = path.join(this.root, 'efs');
    fs.mkdirSync(efsDir, { mode: 0o755 });
    this.fleet = new BootedFleet({
      template: this.template as TemplateJson,
      values: SANDBOX_VALUES,
      root,
      workRoot: instancesDir,
      efsDir,
      endpoint: this.aws,
      endpointUrl: this.endpointUrl,
      host: CLIENT_IP,
      log: this.log,
      roleName: `${this.config.stackName}-backends`,
    });
    await this.fleet.start();
    const booted = await Promise.all(this.plan.backends.map((b) => this.bootSlot(b.slot, instanceIdOf(b.slot))));
    for (const [i, b] of this.plan.backends.entries()) {
      const instance = booted[i];
      const server = new BootedServer(b.server, instance, () => this.relaunch(b.slot));
      // The instance's own certificate files, where its sync installs the secret's pair.
      const paths = b.server === 'proftpd' ? EC2_PROFTPD_PATHS : EC2_VSFTPD_PATHS;
      const tls = this.certificate ? { certFile: paths.certFile as string, keyFile: paths.keyFile as string } : undefined;
      this.addBackend(b, server, tls);
    }
  }

  /** Boot a new instance in a slot (its group, namespace, address and AZ); its outcome, whatever it is. */
  private async bootInstance(slot: number, instanceId: string, archive?: string): Promise<BootOutcome> {
    const b = this.plan.backends.find((x) => x.slot === slot) as SandboxPlan['backends'][number];
    // Its group launches it: pending in EC2, waiting on the launch hook that its boot completes.
    this.model.launch(this.groupOf(slot).name, instanceId, backendIp(slot));
    const out = await (this.fleet as BootedFleet).boot({
      slot,
      groupLogicalId: b.logicalId,
      namespace: backendNs(slot),
      ip: backendIp(slot),
      instanceId,
      availabilityZone: `${SANDBOX_VALUES.region}${'ab'[slot % 2]}`,
      archive,
    });
    this.lastBoot.set(slot, out);
    return out;
  }

  /**
   * The slot's instance is terminated (out of every target group) and its group launches a new one
   * (a new ID), booted from the same user data; its CONTINUE puts it into its target groups, and the
   * NLB then maps it. `booting` runs while the new instance is pending, before its boot.
   */
  private async relaunch(slot: number, booting: (newId: string) => Promise<void> = async () => undefined): Promise<BootedInstance> {
    const b = this.backend(slot);
    this.model.terminate(b.instanceId);
    const id = this.nextInstanceId(slot);
    await booting(id);
    const instance = await this.bootSlot(slot, id);
    b.instanceId = id;
    this.applyControl();
    this.applySftp();
    return instance;
  }

  /** Boot one instance for a slot; it must end with CONTINUE. Returns the running instance. */
  private async bootSlot(slot: number, instanceId: string): Promise<BootedInstance> {
    const out = await this.bootInstance(slot, instanceId);
    if (out.result.exitCode !== 0 || out.report?.result !== 'CONTINUE') {
      await out.instance.dispose();
      throw new Error(
        `slot ${slot}: the boot of ${instanceId} ended with exit ${out.result.exitCode} and reported ${out.report?.result ?? 'nothing'}; its log ends:\n${out.result.log.split('\n').slice(-25).join('\n')}`,
      );
    }
    this.log(`slot ${slot}: ${instanceId} booted in ${(out.result.ms / 1000).toFixed(1)} s and reported CONTINUE`);
    return out.instance;
  }

  /**
   * A boot drill (the `boot` option): the slot's instance is killed and a new one boots with a
   * fault that must make its boot report ABANDON and never serve. Returns the outcome whatever it
   * is, and whether anything listens on port 21 in the backend afterwards.
   */
  async bootDrill(
    slot: number,
    fault: 'malformed-users-secret' | 'missing-certificate-secret' | 'failing-package-install' | 'no-secrets-permission',
  ): Promise<BootOutcome & { listening: boolean; instanceId: string }> {
    const fleet = this.fleet;
    if (!fleet) throw new Error('boot drills need a booted sandbox (the boot option)');
    const b = this.backend(slot);
    await b.server.stop();
    const { usersSecretArn, certificateSecretArn } = this.arns();
    let archive: string | undefined;
    // The slot's instance is gone; a new one boots with the fault.
    this.model.terminate(b.instanceId);
    if (fault === 'malformed-users-secret') this.model.secrets.set(usersSecretArn, `{"${this.demo.user}": "${this.demo.password}"`);
    if (fault === 'missing-certificate-secret') this.model.secrets.delete(certificateSecretArn);
    if (fault === 'failing-package-install')
      archive = brokenArchive(fleet.root.archive, path.join(this.root, 'broken-archive'), 'stunnel4');
    const restorePolicy =
      fault === 'no-secrets-permission' ? this.withoutPermission('instance', ['secretsmanager:GetSecretValue']) : () => undefined;
    const instanceId = this.nextInstanceId(slot);
    let out: BootOutcome;
    try {
      out = await this.bootInstance(slot, instanceId, archive);
    } finally {
      // Only this boot sees the fault.
      for (const [arn, value] of this.secretValues()) this.model.secrets.set(arn, value);
      restorePolicy();
    }
    const listening = /:21\b/.test(nsExec(b.namespace, 'ss', ['-Hltn'], { allowFail: true }));
    return { ...out, listening, instanceId };
  }

  /**
   * An IAM drill: the synthesized template edited as a deploy of it would be, with `actions` taken
   * out of every statement of the role's policies (a statement left with none is dropped). The
   * sandbox's IAM evaluates the role ('instance': the backends' role, 'checker': the health
   * checker's) with the edited policies until the returned function puts the template's own back.
   */
  withoutPermission(role: 'instance' | 'checker', actions: readonly string[]): () => void {
    const edited = structuredClone(this.template) as TemplateJson;
    const roleId =
      role === 'checker' ? functionRoleOf(edited, 'HealthCheckerFunction') : instanceRoleOf(edited, this.plan.backends[0].logicalId);
    let removed = 0;
    for (const r of Object.values(edited.Resources)) {
      const roles = r.Properties?.Roles as Array<{ Ref?: string }> | undefined;
      if (r.Type !== 'AWS::IAM::Policy' || !roles?.some((x) => x.Ref === roleId)) continue;
      const doc = r.Properties?.PolicyDocument as { Statement: Array<{ Action: string | string[] }> };
      doc.Statement = doc.Statement.flatMap((st) => {
        const kept = [st.Action].flat().filter((a) => !actions.includes(a));
        removed += [st.Action].flat().length - kept.length;
        return kept.length ? [{ ...st, Action: kept }] : [];
      });
    }
    if (!removed) throw new Error(`${roleId}'s policies grant none of ${actions.join(', ')}`);
    const iam = this.aws.iam;
    const own = [...iam.policiesOf(roleId)];
    iam.setPolicies(roleId, templatePrincipals(edited, SANDBOX_VALUES).get(roleId) ?? []);
    this.log(`IAM drill: ${roleId} without ${actions.join(', ')} (template edited)`);
    return () => {
      iam.setPolicies(roleId, own);
      this.log(`IAM drill: ${roleId} has the template's own policies again`);
    };
  }

  /** The last boot of each slot: its timings, log and report. */
  readonly lastBoot = new Map<number, BootOutcome>();

  /** Mirror the port-21 target group's instance IDs onto the emulated NLB's backends. */
  /** The SFTP target group's ARN, as the template's Ref resolves. */
  private sftpArn(): string | undefined {
    return this.plan.sftp && sandboxRef(this.template as TemplateJson, SANDBOX_VALUES, this.plan.sftp.targetGroup);
  }

  /** The SFTP group's registrations (the checker mirrors port 21's decisions there) into the emulated NLB. */
  private applySftp(): void {
    const arn = this.sftpArn();
    if (!this.nlb || !arn) return;
    this.nlb.sftpRegistered.clear();
    for (const id of this.model.targetGroups.get(arn)?.keys() ?? []) {
      const logical = this.backends.find((b) => b.instanceId === id)?.logicalId;
      if (logical) this.nlb.sftpRegistered.add(logical);
    }
    this.nlb.apply();
  }

  private applyControl(): void {
    if (!this.nlb) return;
    this.nlb.registered.clear();
    for (const id of this.model.targetGroups.get(this.arns().tgArn)?.keys() ?? []) {
      const logical = this.backends.find((b) => b.instanceId === id)?.logicalId;
      if (logical) this.nlb.registered.add(logical);
    }
    this.nlb.apply();
  }

  /**
   * Kill a backend's instance outright and do what its Auto Scaling group does about it: once the
   * NLB's TCP check marks it unhealthy (health check type ELB), terminate it, which deregisters it
   * from every target group; launch a replacement under a new instance ID; run its "boot" (start
   * the server) and the boot script's readiness check (a local FTP login as the health account);
   * then complete the lifecycle hook, which registers it in the port-21 and the slot's passive
   * target groups. Returns when that happened. The replacement keeps the namespace's address (on
   * AWS it gets a new private IP, which the checker reads from DescribeInstances every round).
   */
  async killAndReplace(
    slot: number,
    /**
     * Called while the replacement is pending, before its server starts: stands for the minutes a
     * real boot takes (the sandbox's own boot is only as long as this). Drills use it to wait for
     * what must happen while a slot has no instance.
     */
    booting: () => Promise<void> = async () => undefined,
  ): Promise<{ oldId: string; newId: string; killed: number; unhealthy: number; registered: number }> {
    const b = this.backend(slot);
    const oldId = b.instanceId;
    const killed = Date.now();
    await b.server.stop();
    (this.model.instances.get(oldId) ?? { state: '' }).state = 'stopped';
    this.log(`drill replace: slot ${slot} instance ${oldId} killed`);
    const deadline = Date.now() + 120_000;
    while (this.nlb.stateOf(b.logicalId) !== 'unhealthy') {
      if (Date.now() > deadline) throw new Error(`slot ${slot}: the NLB never marked ${oldId} unhealthy`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const unhealthy = Date.now();
    // Terminated, and replaced: its boot's own readiness login and CONTINUE put the new one into service.
    b.server.instance = await this.relaunch(slot, async (newId) => {
      this.log(`drill replace: slot ${slot} ${oldId} terminated; launching ${newId}`);
      await booting();
    });
    const newId = b.instanceId;
    const registered = Date.now();
    this.log(
      `drill replace: slot ${slot} ${newId} passed its readiness login and is registered (${registered - killed} ms after the kill)`,
    );
    return { oldId, newId, killed, unhealthy, registered };
  }

  /** Slots currently registered in the port-21 target group. */
  registeredSlots(): number[] {
    return this.backends.filter((b) => this.nlb.registered.has(b.logicalId)).map((b) => b.slot);
  }

  backend(slot: number): SandboxBackend {
    const b = this.backends.find((x) => x.slot === slot);
    if (!b) throw new Error(`no backend slot ${slot}`);
    return b;
  }

  // ---- fault drills -------------------------------------------------------------------------

  /**
   * The FTP server stops on one backend: `systemctl stop` on the instance (an operator's mistake;
   * the instance lives on).
   */
  async killServer(slot: number): Promise<void> {
    await this.backend(slot).server.stopService();
  }

  async startServer(slot: number): Promise<void> {
    await this.backend(slot).server.startService();
  }

  /**
   * Logins fail on this backend; TCP and the banner still work: the instance's PAM allow-list
   * (/etc/nlb-ftp/ftp-users) is emptied on it, as a botched manual edit would.
   */
  async breakLogin(slot: number): Promise<void> {
    await this.backend(slot).server.instance.run(['truncate', '-s', '0', ALLOW_FILE]);
  }

  /** The users sync runs on the instance (what its 5-minute timer does), rewriting the allow-list from Secrets Manager. */
  async repairLogin(slot: number): Promise<void> {
    await this.backend(slot).server.instance.run(['/usr/local/sbin/nlb-ftp-sync']);
  }

  /**
   * Silently drop this backend's passive range at its own firewall (raw PREROUTING: before the
   * DNAT into ProFTPD's namespace, so it holds for both servers).
   */
  blockPassive(slot: number): void {
    const b = this.backend(slot);
    nsExec(b.namespace, 'iptables', ['-t', 'raw', '-I', 'PREROUTING', '-p', 'tcp', '--dport', `${b.minPort}:${b.maxPort}`, '-j', 'DROP']);
  }

  unblockPassive(slot: number): void {
    const b = this.backend(slot);
    nsExec(b.namespace, 'iptables', ['-t', 'raw', '-D', 'PREROUTING', '-p', 'tcp', '--dport', `${b.minPort}:${b.maxPort}`, '-j', 'DROP']);
  }

  /**
   * This backend serves a different certificate (a stale one after rotation, or an impostor):
   * clients that trust the stored certificate refuse it. vsftpd reads it at start, so it restarts.
   */
  async serveWrongCertificate(slot: number): Promise<void> {
    if (!this.certificate) throw new Error('FTPS is off in this sandbox');
    const wrong = createSelfSignedCertificate({ commonName: 'nlb-ftp-sandbox', names: [NLB_IP] });
    const b = this.backend(slot);
    // Another certificate in the instance's own files (as a hand-copied one would be), then a restart.
    const tls = b.tls as NonNullable<SandboxBackend['tls']>;
    b.server.instance.write(tls.keyFile, wrong.privateKey, 0o600);
    b.server.instance.write(tls.certFile, wrong.certificate, 0o644);
    await b.server.instance.run(['systemctl', 'restart', `${b.server.kind}.service`]);
  }

  /** The users and certificate sync runs on the instance, which puts the secret's certificate back and restarts the server. */
  async restoreCertificate(slot: number): Promise<void> {
    if (!this.certificate) throw new Error('FTPS is off in this sandbox');
    await this.backend(slot).server.instance.run(['/usr/local/sbin/nlb-ftp-sync']);
  }

  /**
   * Make the FTP root unreadable on this backend only (a hung or broken EFS mount): an empty,
   * mode-000 file system over the users' directories, in the mount namespace the server sees.
   */
  async breakRoot(slot: number): Promise<void> {
    await this.backend(slot).server.instance.run(['mount', '-t', 'tmpfs', '-o', 'mode=000,size=1m', 'nlbftp-broken', `${FTP_ROOT}/users`]);
  }

  async repairRoot(slot: number): Promise<void> {
    await this.backend(slot).server.instance.run(['umount', `${FTP_ROOT}/users`]);
  }

  /** A command in the network namespace the backend's FTP server runs in (ProFTPD's is its own, inside the instance). */
  private inServerNet(b: SandboxBackend, cmd: string, args: readonly string[]): string {
    return execFileSync('nsenter', [`--net=${b.server.netnsPath}`, cmd, ...args], { encoding: 'utf8' });
  }

  /**
   * Small socket buffers on the client namespace and the backends, so a transfer's bytes are not
   * parked in kernel buffers: vsftpd then sends 226 only as the transfer really ends, as it does
   * for a file much larger than the buffers. `false` restores the values found before.
   */
  setSmallBuffers(on: boolean, maxBytes = 16384): void {
    const small = `4096 ${Math.min(8192, maxBytes)} ${maxBytes}`;
    const client = (cmd: string, args: readonly string[]) => nsExec(CLIENT_NS, cmd, [...args]);
    const targets: Array<[string, (cmd: string, args: readonly string[]) => string, string]> = [
      [CLIENT_NS, client, 'net.ipv4.tcp_rmem'],
      ...this.backends.map((b): [string, (cmd: string, args: readonly string[]) => string, string] => [
        `slot${b.slot}`,
        (cmd, args) => this.inServerNet(b, cmd, args),
        'net.ipv4.tcp_wmem',
      ]),
    ];
    for (const [ns, exec, key] of targets) {
      const set = (value: string) => exec('sysctl', ['-qw', `${key}=${value}`]);
      const get = () => exec('sysctl', ['-n', key]).trim().replace(/\s+/g, ' ');
      const id = `${ns}/${key}`;
      if (on) {
        if (!this.savedBuffers.has(id)) this.savedBuffers.set(id, get());
        set(small);
      } else if (this.savedBuffers.has(id)) {
        set(this.savedBuffers.get(id) as string);
        this.savedBuffers.delete(id);
      }
    }
  }

  /** Change the backends' TCP keepalive at run time (the drill that proves it matters). */
  setKeepalive(seconds: number): void {
    for (const b of this.backends) this.inServerNet(b, 'sysctl', ['-qw', `net.ipv4.tcp_keepalive_time=${seconds}`]);
  }

  /** A file in the demo user's directory, for downloads. */
  writeDemoFile(name: string, data: Buffer | string): void {
    const dir = path.join(this.sharedRoot, 'users', this.demo.user, 'files');
    const file = path.join(dir, name);
    fs.writeFileSync(file, data);
    // By number: a booted backend's users exist only inside the instance (same UID on every one).
    const { uid, gid } = fs.statSync(dir);
    fs.chownSync(file, uid, gid);
  }

  readDemoFile(name: string): Buffer {
    return fs.readFileSync(path.join(this.sharedRoot, 'users', this.demo.user, 'files', name));
  }

  /** The shared FTP root (EFS's stand-in): the booted backends' /srv/ftp, or the local users' root. */
  get sharedRoot(): string {
    return path.join(this.root, 'efs');
  }

  // ---- teardown -----------------------------------------------------------------------------

  async down(): Promise<void> {
    if (this.checker && this.checker.exitCode === null) {
      const exited = new Promise((r) => this.checker?.once('exit', r));
      this.checker.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (this.checker.exitCode === null) this.checker.kill('SIGKILL');
    }
    this.nlb?.stop();
    await this.aws?.stop();
    await this.fleet?.stop();
    for (const b of this.backends) await b.server.dispose().catch(() => undefined);
    cleanupSandbox();
  }

  private writeState(s: StateRecord): void {
    writeState(s);
  }
}
