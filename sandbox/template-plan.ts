/**
 * Reads the synthesized CloudFormation template and returns what the emulated NLB must do:
 * listeners -> target groups -> backends and ports, the health-check settings, and each backend's
 * server config exactly as its user data's settings carry it. Deliberately no second computation of the port
 * plan: the sandbox proves what would be deployed. Pure; no aws-cdk-lib import.
 */

import { flatten, refOf } from '../harness/template';
import { SFTP_BACKEND_PORT } from '../lib/backend/proftpd-conf';
import { readBootSettings, settingsFile } from '../lib/backend/user-data';
import { CONTROL_PORT } from '../lib/shared/contract';

type Resource = { Type: string; Properties?: Record<string, unknown> };
export type TemplateJson = { Resources: Record<string, Resource> };

export interface PlanBackend {
  /** Logical ID of the slot's Auto Scaling group (whose launch template holds the user data). */
  readonly logicalId: string;
  readonly slot: number;
  /** Which FTP server the user data installs. */
  readonly server: 'vsftpd' | 'proftpd';
  /** vsftpd.conf or proftpd.conf from the user data's settings, with CloudFormation tokens left as `${...}` placeholders. */
  readonly serverConf: string;
  /** The slot's passive range, as the server config sets it. */
  readonly minPort: number;
  readonly maxPort: number;
  /** Every net.ipv4.tcp_keepalive_* sysctl the user data sets, e.g. `net.ipv4.tcp_keepalive_intvl=10`. */
  readonly keepaliveSysctls: readonly string[];
  /** FTPS as the deployed server config sets it. */
  readonly ftps: 'off' | 'optional' | 'required';
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
  /** The SFTP listener (every backend, on the backends' SFTP port); unset without SFTP. */
  readonly sftp?: PlanForward;
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
    const keepaliveSysctls = sysctlsOf(settingsFile(settings, 'host-sysctl').text).filter((x) => x.startsWith('net.ipv4.tcp_keepalive_'));
    const minPort = Number(env.PASV_MIN);
    const maxPort = Number(env.PASV_MAX);
    if (server === 'proftpd') {
      const tlsOn = /^ {2}TLSEngine on$/m.test(serverConf);
      const ftps = !tlsOn ? 'off' : /^ {2}TLSRequired on$/m.test(serverConf) ? 'required' : 'optional';
      return { logicalId, slot, server, serverConf, minPort, maxPort, keepaliveSysctls, ftps };
    }
    const ftps = !/^ssl_enable=YES$/m.test(serverConf) ? 'off' : /^force_local_logins_ssl=YES$/m.test(serverConf) ? 'required' : 'optional';
    return { logicalId, slot, server, serverConf, minPort, maxPort, keepaliveSysctls, ftps };
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

  // SFTP's target group is the one on the backends' SFTP port; every other listener is passive.
  const sftp = forwards.find((f) => f !== control && f.targets.some((t) => t.port === SFTP_BACKEND_PORT));
  const controlTg = res[control.targetGroup].Properties ?? {};
  return {
    backends,
    control,
    passive: forwards.filter((f) => f !== control && f !== sftp).sort((a, b) => a.listenerPort - b.listenerPort),
    ...(sftp ? { sftp } : {}),
    healthCheck: {
      intervalSeconds: Number(controlTg.HealthCheckIntervalSeconds ?? 30),
      healthyThreshold: Number(controlTg.HealthyThresholdCount ?? 5),
      unhealthyThreshold: Number(controlTg.UnhealthyThresholdCount ?? 2),
    },
  };
}
