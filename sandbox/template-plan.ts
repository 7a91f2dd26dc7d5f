/**
 * Reads the synthesized CloudFormation template and returns what the emulated NLB must do:
 * listeners -> target groups -> backends and ports, the health-check settings, and each backend's
 * vsftpd.conf exactly as its user data writes it. Deliberately no second computation of the port
 * plan: the sandbox proves what would be deployed. Pure; no aws-cdk-lib import.
 */

import { flatten, refOf } from '../harness/template';
import { CONTROL_PORT } from '../lib/shared/contract';

type Resource = { Type: string; Properties?: Record<string, unknown> };
export type TemplateJson = { Resources: Record<string, Resource> };

export interface PlanBackend {
  /** Logical ID of the EC2 instance. */
  readonly logicalId: string;
  readonly slot: number;
  /** vsftpd.conf from the user data, with CloudFormation tokens left as `${...}` placeholders. */
  readonly vsftpdConf: string;
  /** Every net.ipv4.tcp_keepalive_* sysctl the user data sets, e.g. `net.ipv4.tcp_keepalive_intvl=10`. */
  readonly keepaliveSysctls: readonly string[];
  /** FTPS as the deployed vsftpd.conf sets it. */
  readonly ftps: 'off' | 'optional' | 'required';
  /** The OpenSSL settings the vsftpd unit points OPENSSL_CONF at, when it does. */
  readonly openSslConf?: string;
}

export interface PlanForward {
  readonly listenerPort: number;
  readonly targetGroup: string;
  /** Each target: instance logical ID and the port it receives on. */
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

function heredoc(script: string, target: string): string {
  const start = `cat >${target} <<'NLBFTP_EOF'\n`;
  const a = script.indexOf(start);
  if (a < 0) throw new Error(`user data does not write ${target}`);
  const b = script.indexOf('\nNLBFTP_EOF', a + start.length);
  return `${script.slice(a + start.length, b)}\n`;
}

export function planFromTemplate(template: TemplateJson): SandboxPlan {
  const res = template.Resources;
  const byType = (t: string) => Object.entries(res).filter(([, r]) => r.Type === t);

  const backends = byType('AWS::EC2::Instance').map(([logicalId, r]): PlanBackend => {
    const script = flatten(r.Properties?.UserData);
    const vsftpdConf = heredoc(script, '/etc/vsftpd/vsftpd.conf');
    const slot = Number(/^# vsftpd\.conf for nlb-ftp backend slot (\d+)\./m.exec(vsftpdConf)?.[1]);
    if (!Number.isInteger(slot)) throw new Error(`cannot read the slot of ${logicalId}`);
    const keepaliveSysctls = [...script.matchAll(/^(net\.ipv4\.tcp_keepalive_\w+) = (\d+)$/gm)].map((m) => `${m[1]}=${m[2]}`);
    const ftps = !/^ssl_enable=YES$/m.test(vsftpdConf) ? 'off' : /^force_local_logins_ssl=YES$/m.test(vsftpdConf) ? 'required' : 'optional';
    const unit = heredoc(script, '/etc/systemd/system/vsftpd.service.d/nlb-ftp.conf');
    const openSslFile = /^Environment=OPENSSL_CONF=(\S+)$/m.exec(unit)?.[1];
    const openSslConf = openSslFile ? heredoc(script, openSslFile) : undefined;
    return { logicalId, slot, vsftpdConf, keepaliveSysctls, ftps, openSslConf };
  });
  backends.sort((a, b) => a.slot - b.slot);

  const forwards: PlanForward[] = byType('AWS::ElasticLoadBalancingV2::Listener').map(([, r]) => {
    const p = r.Properties ?? {};
    if (p.Protocol !== 'TCP') throw new Error(`listener on ${p.Port} is ${p.Protocol}; nlb-ftp listeners must be TCP`);
    const actions = p.DefaultActions as Array<{ Type: string; TargetGroupArn: unknown }>;
    const tgId = refOf(actions[0].TargetGroupArn);
    const tg = res[tgId]?.Properties ?? {};
    const targets = ((tg.Targets as Array<{ Id: unknown; Port: number }>) ?? []).map((t) => ({ backend: refOf(t.Id), port: t.Port }));
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
