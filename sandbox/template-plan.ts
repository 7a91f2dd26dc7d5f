/**
 * Reads the synthesized CloudFormation template and returns what the emulated NLB must do:
 * listeners -> target groups -> backends and ports, the health-check settings, and each backend's
 * server config exactly as its user data's settings carry it. Deliberately no second computation of the port
 * plan: the sandbox proves what would be deployed. Pure; no aws-cdk-lib import.
 */

import * as fs from 'node:fs';
import { flatten, refOf } from '../harness/template';
import type { ProftpdPaths } from '../lib/backend/proftpd-conf';
import { FTP_NAMESPACE_SCRIPT, readBootSettings, settingsFile } from '../lib/backend/user-data';
import { CONTROL_PORT } from '../lib/shared/contract';

type Resource = { Type: string; Properties?: Record<string, unknown> };
export type TemplateJson = { Resources: Record<string, Resource> };

export interface PlanBackend {
  /** Logical ID of the slot's Auto Scaling group (whose launch template holds the user data). */
  readonly logicalId: string;
  readonly slot: number;
  /** Which FTP server the user data installs. */
  readonly server: 'vsftpd' | 'proftpd';
  /** vsftpd.conf or proftpd.conf from the user data, with CloudFormation tokens left as `${...}` placeholders. */
  readonly serverConf: string;
  /** The slot's passive range, as the server config sets it. */
  readonly minPort: number;
  readonly maxPort: number;
  /** Every net.ipv4.tcp_keepalive_* sysctl the user data sets, e.g. `net.ipv4.tcp_keepalive_intvl=10`. */
  readonly keepaliveSysctls: readonly string[];
  /** Every sysctl of the instance's own sysctl.d file (keepalive, reserved passive ports), as `key=value`. */
  readonly hostSysctls: readonly string[];
  /**
   * ProFTPD only: the server's own network namespace as the user data makes it: the script that
   * makes it and the namespace's sysctl file, byte for byte (the sandbox supplies only the settings file).
   */
  readonly serverNamespace?: { readonly script: string; readonly sysctls: string };
  /** FTPS as the deployed server config sets it. */
  readonly ftps: 'off' | 'optional' | 'required';
  /** The OpenSSL settings the vsftpd unit points OPENSSL_CONF at, when it does. */
  readonly openSslConf?: string;
}

export interface PlanForward {
  readonly listenerPort: number;
  readonly targetGroup: string;
  /** Each target: the backend's logical ID (its Auto Scaling group) and the port it receives on. */
  readonly targets: ReadonlyArray<{ readonly backend: string; readonly port: number }>;
}

export interface PlanHealthCheck {
  readonly intervalSeconds: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface SandboxPlan {
  readonly backends: readonly PlanBackend[];
  /** The port-21 listener. */
  readonly control: PlanForward;
  readonly passive: readonly PlanForward[];
  readonly healthCheck: PlanHealthCheck;
}

/** `key = value` lines of a sysctl.d file as `key=value`. */
function sysctlsOf(text: string): string[] {
  return [...text.matchAll(/^([a-z0-9_.]+) = (.+)$/gm)].map((m) => `${m[1]}=${m[2]}`);
}

export function planFromTemplate(template: TemplateJson): SandboxPlan {
  const res = template.Resources;
  const byType = (t: string) => Object.entries(res).filter(([, r]) => r.Type === t);

  const groups = byType('AWS::AutoScaling::AutoScalingGroup');
  const backends = groups.map(([logicalId, r]): PlanBackend => {
    const ltRef = (r.Properties?.LaunchTemplate as { LaunchTemplateId?: unknown } | undefined)?.LaunchTemplateId;
    if (!ltRef) throw new Error(`group ${logicalId} has no launch template`);
    const lt = res[refOf(ltRef)];
    // The settings the user data writes, its values as `${Ref:X}` placeholders.
    const settings = readBootSettings(flatten((lt?.Properties?.LaunchTemplateData as { UserData?: unknown } | undefined)?.UserData));
    const env = settings.env;
    const server = env.SERVER === 'proftpd' ? 'proftpd' : 'vsftpd';
    const serverConf = settingsFile(settings, 'server-conf').text;
    const slot = Number(env.SLOT);
    if (!Number.isInteger(slot)) throw new Error(`cannot read the slot of ${logicalId}`);
    const hostSysctls = sysctlsOf(settingsFile(settings, 'host-sysctl').text);
    const keepaliveSysctls = hostSysctls.filter((x) => x.startsWith('net.ipv4.tcp_keepalive_'));
    const minPort = Number(env.PASV_MIN);
    const maxPort = Number(env.PASV_MAX);
    if (server === 'proftpd') {
      const tlsOn = /^ {2}TLSEngine on$/m.test(serverConf);
      const ftps = !tlsOn ? 'off' : /^ {2}TLSRequired on$/m.test(serverConf) ? 'required' : 'optional';
      const serverNamespace = {
        script: fs.readFileSync(FTP_NAMESPACE_SCRIPT, 'utf8'),
        sysctls: settingsFile(settings, 'namespace-sysctl').text,
      };
      return { logicalId, slot, server, serverConf, minPort, maxPort, keepaliveSysctls, hostSysctls, ftps, serverNamespace };
    }
    const ftps = !/^ssl_enable=YES$/m.test(serverConf) ? 'off' : /^force_local_logins_ssl=YES$/m.test(serverConf) ? 'required' : 'optional';
    const openSslConf = settings.files['openssl-conf']?.text;
    return { logicalId, slot, server, serverConf, minPort, maxPort, keepaliveSysctls, hostSysctls, ftps, openSslConf };
  });
  backends.sort((a, b) => a.slot - b.slot);

  const forwards: PlanForward[] = byType('AWS::ElasticLoadBalancingV2::Listener').map(([, r]) => {
    const p = r.Properties ?? {};
    if (p.Protocol !== 'TCP') throw new Error(`listener on ${p.Port} is ${p.Protocol}; nlb-ftp listeners must be TCP`);
    const actions = p.DefaultActions as Array<{ Type: string; TargetGroupArn: unknown }>;
    const tgId = refOf(actions[0].TargetGroupArn);
    const tg = res[tgId]?.Properties ?? {};
    // Each group registers its instance, on the target group's port, in every group it lists.
    const targets = groups
      .filter(([, g]) => ((g.Properties?.TargetGroupARNs as unknown[]) ?? []).some((a) => refOf(a) === tgId))
      .map(([id]) => ({ backend: id, port: tg.Port as number }));
    return { listenerPort: p.Port as number, targetGroup: tgId, targets };
  });
  const control = forwards.find((f) => f.listenerPort === CONTROL_PORT);
  if (!control) throw new Error('the template has no port-21 listener');

  const controlTg = res[control.targetGroup].Properties ?? {};
  return {
    backends,
    control,
    passive: forwards.filter((f) => f !== control).sort((a, b) => a.listenerPort - b.listenerPort),
    healthCheck: {
      intervalSeconds: Number(controlTg.HealthCheckIntervalSeconds ?? 30),
      healthyThreshold: Number(controlTg.HealthyThresholdCount ?? 5),
      unhealthyThreshold: Number(controlTg.UnhealthyThresholdCount ?? 2),
    },
  };
}

export interface LocalizeOptions {
  readonly listenAddress: string;
  readonly pasvAddress: string;
  readonly secureChrootDir: string;
  readonly pamServiceName: string;
  readonly logFile: string;
  /** FTPS certificate and key; required when the deployed config enables FTPS. */
  readonly certFile?: string;
  readonly keyFile?: string;
}

/**
 * Substitute only addresses and paths in a deployed vsftpd.conf: the `pasv_address` token becomes
 * the emulated NLB's address, vsftpd binds the backend's namespace address, and paths point at the
 * sandbox. Everything else, passive range included, stays exactly as deployed.
 */
export function localizeVsftpdConf(conf: string, o: LocalizeOptions): string {
  const replaced = new Set<string>();
  const out = conf.split('\n').map((line) => {
    const key = line.split('=')[0];
    const set = (v: string) => {
      replaced.add(key);
      return `${key}=${v}`;
    };
    switch (key) {
      case 'pasv_address':
        return set(o.pasvAddress);
      case 'secure_chroot_dir':
        return set(o.secureChrootDir);
      case 'pam_service_name':
        return set(o.pamServiceName);
      case 'vsftpd_log_file':
        return set(o.logFile);
      case 'rsa_cert_file':
      case 'rsa_private_key_file': {
        const file = key === 'rsa_cert_file' ? o.certFile : o.keyFile;
        if (!file) throw new Error('the deployed vsftpd.conf enables FTPS: give certFile and keyFile');
        return set(file);
      }
      case 'listen_port':
        replaced.add(key);
        return `${line}\nlisten_address=${o.listenAddress}`;
      default:
        return line;
    }
  });
  for (const k of ['pasv_address', 'secure_chroot_dir', 'pam_service_name', 'vsftpd_log_file', 'listen_port']) {
    if (!replaced.has(k)) throw new Error(`deployed vsftpd.conf has no ${k}`);
  }
  if (/^ssl_enable=YES$/m.test(conf) && !(replaced.has('rsa_cert_file') && replaced.has('rsa_private_key_file'))) {
    throw new Error('deployed vsftpd.conf enables FTPS but names no certificate or key file');
  }
  return out.join('\n');
}

export interface LocalizeProftpdOptions {
  readonly listenAddress: string;
  readonly pasvAddress: string;
  readonly paths: ProftpdPaths;
}

/**
 * Substitute only addresses and paths in a deployed proftpd.conf: MasqueradeAddress becomes the
 * emulated NLB's address, ProFTPD binds the backend's namespace address, and files and the jail
 * root point at the sandbox. Everything else, passive range included, stays exactly as deployed.
 */
export function localizeProftpdConf(conf: string, o: LocalizeProftpdOptions): string {
  const p = o.paths;
  const subs: Array<[RegExp, string, boolean]> = [
    [/^MasqueradeAddress .*$/m, `MasqueradeAddress ${o.pasvAddress}`, true],
    [/^DefaultRoot .*$/m, `DefaultRoot ${p.usersRoot}/%u`, true],
    [/^AuthPAMConfig .*$/m, `AuthPAMConfig ${p.pamServiceName}`, true],
    [/^TransferLog .*$/m, `TransferLog ${p.transferLog}`, true],
    [/^SystemLog .*$/m, `SystemLog ${p.systemLog}`, true],
    [/^ExtendedLog \S+ /m, `ExtendedLog ${p.auditLog} `, true],
    [/^PidFile .*$/m, `PidFile ${p.pidFile}`, true],
    [/^ScoreboardFile .*$/m, `ScoreboardFile ${p.scoreboardFile}`, true],
    [/^User .*$/m, `User ${p.user}`, true],
    [/^Group .*$/m, `Group ${p.group}`, true],
    // The deployed config listens on its namespace's address: the sandbox's instead.
    [/^DefaultAddress .*$/m, `DefaultAddress ${o.listenAddress}`, true],
    [/^<IfModule mod_dso\.c>$/m, `<IfModule mod_dso.c>${p.modulePath ? `\n  ModulePath ${p.modulePath}` : ''}`, true],
    [/^ {2}TLSRSACertificateFile .*$/m, `  TLSRSACertificateFile ${p.certFile}`, false],
    [/^ {2}TLSRSACertificateKeyFile .*$/m, `  TLSRSACertificateKeyFile ${p.keyFile}`, false],
  ];
  let out = conf;
  for (const [re, replacement, required] of subs) {
    if (!re.test(out)) {
      if (required) throw new Error(`deployed proftpd.conf has no line matching ${re}`);
      continue;
    }
    out = out.replace(re, replacement);
  }
  if (/^ {2}TLSEngine on$/m.test(conf) && (!p.certFile || !p.keyFile)) {
    throw new Error('the deployed proftpd.conf enables FTPS: give certFile and keyFile');
  }
  return out;
}
