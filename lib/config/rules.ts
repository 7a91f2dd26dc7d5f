/** Rules that involve more than one setting. Pure. */
import { MAX_PASSIVE_PORTS, MAX_PORT, NLB_MAX_LISTENERS } from '../shared/limits';
import type { ConfigProblem, SourceMap } from './problems';
import type { Config } from './schema';

/** Rules that involve more than one field. Each names the fields and the values that would work. */
export function crossFieldProblems(c: Config, sources: SourceMap): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const n = c.backendCount;
  const r = c.passivePortsPerBackend;
  const listeners = 1 + n * r;
  if (listeners > NLB_MAX_LISTENERS) {
    const maxN = Math.floor(MAX_PASSIVE_PORTS / r);
    const maxR = Math.floor(MAX_PASSIVE_PORTS / n);
    const fixes = [maxR >= 1 ? `passivePortsPerBackend <= ${maxR}` : undefined, maxN >= 1 ? `backendCount <= ${maxN}` : undefined]
      .filter(Boolean)
      .join(' or ');
    problems.push({
      field: 'backendCount',
      value: n,
      source: sources.get('backendCount') ?? sources.get('passivePortsPerBackend'),
      message:
        `passivePortsPerBackend=${r} with backendCount=${n} needs ${listeners} NLB listeners (1 for port 21 + ${n}x${r} passive); ` +
        `an NLB has ${NLB_MAX_LISTENERS} and the limit cannot be raised. Use ${fixes}.`,
    });
  }
  const lastPort = c.passivePortStart + n * r - 1;
  if (lastPort > MAX_PORT) {
    const maxStart = MAX_PORT - n * r + 1;
    problems.push({
      field: 'passivePortStart',
      value: c.passivePortStart,
      source: sources.get('passivePortStart'),
      message: `with ${n} backends x ${r} ports the passive ports would end at ${lastPort}, past ${MAX_PORT}`,
      nearest: String(maxStart),
    });
  }
  if (c.tcpKeepaliveSeconds >= c.controlIdleTimeoutSeconds) {
    problems.push({
      field: 'tcpKeepaliveSeconds',
      value: c.tcpKeepaliveSeconds,
      source: sources.get('tcpKeepaliveSeconds'),
      message: `must be below controlIdleTimeoutSeconds (${c.controlIdleTimeoutSeconds}), or the NLB drops idle control connections during long transfers`,
      nearest: String(c.controlIdleTimeoutSeconds - 1),
    });
  }
  if (c.healthCheck.timeoutSeconds >= c.healthCheck.intervalSeconds) {
    problems.push({
      field: 'healthCheck.timeoutSeconds',
      value: c.healthCheck.timeoutSeconds,
      source: sources.get('healthCheck.timeoutSeconds') ?? sources.get('healthCheck'),
      message: `must be below healthCheck.intervalSeconds (${c.healthCheck.intervalSeconds}) so a round ends before the next starts`,
      nearest: String(c.healthCheck.intervalSeconds - 1),
    });
  }
  if (c.minHealthyBackends !== undefined && c.minHealthyBackends > c.backendCount) {
    problems.push({
      field: 'minHealthyBackends',
      value: c.minHealthyBackends,
      source: sources.get('minHealthyBackends'),
      message: `cannot exceed backendCount (${c.backendCount}), or the alarm could never be OK`,
      nearest: String(c.backendCount),
    });
  }
  if (c.ftps === 'off' && c.ftpsCertificateSecretArn !== undefined) {
    problems.push({
      field: 'ftpsCertificateSecretArn',
      value: c.ftpsCertificateSecretArn,
      source: sources.get('ftpsCertificateSecretArn'),
      message: 'is set but ftps is off, so no backend would use it; set ftps to required (or optional), or remove it',
      nearest: 'ftps=required',
    });
  }
  if (c.ftpsCertificateSecretArn !== undefined && c.ftpsCertificateNames.length > 0) {
    problems.push({
      field: 'ftpsCertificateNames',
      value: c.ftpsCertificateNames.join(','),
      source: sources.get('ftpsCertificateNames'),
      message: 'names the self-signed certificate, but ftpsCertificateSecretArn brings your own; put the names in your certificate instead',
      nearest: '(unset)',
    });
  }
  if (c.maxSessionsPerIp > c.maxClientsPerBackend) {
    problems.push({
      field: 'maxSessionsPerIp',
      value: c.maxSessionsPerIp,
      source: sources.get('maxSessionsPerIp'),
      message: `must not exceed maxClientsPerBackend (${c.maxClientsPerBackend})`,
      nearest: String(c.maxClientsPerBackend),
    });
  }
  return problems;
}
