/**
 * Rules a schema cannot say: settings that must agree with each other, the NLB's and
 * CloudFormation's budgets, and checks that want a suggestion (instance types, user names). Each
 * problem names the setting the user changed and, where another setting took part, whether that
 * one was a default. Pure.
 */
import { CONTROL_PORT } from '../shared/contract';
import { MAX_PORT, NLB_MAX_LISTENERS } from '../shared/limits';
import { listenerCount } from '../shared/port-plan';
import { reservedUserReason } from '../shared/users';
import { EC2_INSTANCE_TYPES } from './ec2-instance-types';
import { INSTANCE_FAMILIES, INSTANCE_SIZES, unusableFamilyReason } from './instance-types';
import { type ConfigProblem, closest, type SourceMap } from './problems';
import { CFN_MAX_RESOURCES, largestBackendCount, largestPortsPerBackend, stackResources } from './resource-budget';
import { type Config, sftpEnabled } from './schema';

/** A problem, and every setting it depends on (a problem about a setting that is itself invalid is not reported twice). */
export interface RuleProblem extends ConfigProblem {
  readonly involves: readonly string[];
}

export function ruleProblems(c: Config, sources: SourceMap): RuleProblem[] {
  const given = (field: string) => sources.has(field);
  const src = (field: string) => sources.get(field) ?? sources.get(field.split('.')[0]);
  /** "tcpKeepaliveSeconds (60, the default)" or "tcpKeepaliveSeconds (400)". */
  const other = (field: string, value: unknown) => `${field} (${value}${given(field) ? '' : ', the default'})`;
  /**
   * Of two settings in conflict, the one to report: the one the user set, or the first when both
   * or neither were set. So a documented minimum that conflicts with an untouched default names
   * the setting that was changed.
   */
  const blame = (a: string, b: string) => (given(b) && !given(a) ? b : a);
  const problems: RuleProblem[] = [];
  const n = c.backendCount;
  const r = c.passivePortsPerBackend;

  // Budgets: NLB listeners, then CloudFormation resources. The advice names values that fit both.
  const sftp = sftpEnabled(c);
  const listeners = listenerCount(n, r, sftp);
  const resources = stackResources(c);
  if (listeners > NLB_MAX_LISTENERS || resources > CFN_MAX_RESOURCES) {
    const field = blame('backendCount', 'passivePortsPerBackend');
    // Only pairs every rule accepts: ProFTPD needs r >= 2, so neither fix may lead to r < 2.
    const minR = c.ftpServer === 'proftpd' ? 2 : 1;
    const usableR = Math.max(r, minR);
    const maxR = largestPortsPerBackend(c, n);
    const maxN = largestBackendCount(c, usableR);
    const fixes = [
      maxR >= minR ? `passivePortsPerBackend <= ${maxR}` : undefined,
      maxN >= 1 ? `backendCount <= ${maxN}${usableR !== r ? ` with passivePortsPerBackend=${usableR}` : ''}` : undefined,
    ]
      .filter(Boolean)
      .join(' or ');
    const why =
      listeners > NLB_MAX_LISTENERS
        ? `needs ${listeners} NLB listeners (1 for port 21${sftp ? ` + 1 for SFTP` : ''} + ${n}x${r} passive); an NLB has ${NLB_MAX_LISTENERS} and the limit cannot be raised`
        : `makes ${resources} CloudFormation resources; a stack holds at most ${CFN_MAX_RESOURCES}`;
    problems.push({
      field,
      value: field === 'backendCount' ? n : r,
      source: src(field),
      involves: ['backendCount', 'passivePortsPerBackend'],
      message:
        `backendCount=${n} with passivePortsPerBackend=${r} ${why}. Use ${fixes || 'fewer backends'}; ` +
        'for more, deploy a second stack (its own NLB and static IPs)',
    });
  }
  if (c.sftp === 'on' && c.ftpServer === 'vsftpd') {
    problems.push({
      field: blame('sftp', 'ftpServer'),
      value: given('ftpServer') && !given('sftp') ? c.ftpServer : 'on',
      source: src(blame('sftp', 'ftpServer')),
      involves: ['sftp', 'ftpServer'],
      message:
        'sftp=on needs ftpServer=proftpd (the default): vsftpd has no SFTP, and a second server beside it would not share its users, jail and audit trail. Use ftpServer=proftpd, or sftp=off',
    });
  }
  const passiveEnd = c.passivePortStart + n * r - 1;
  if (sftp && (c.sftpPort === CONTROL_PORT || (c.sftpPort >= c.passivePortStart && c.sftpPort <= passiveEnd))) {
    problems.push({
      field: blame('sftpPort', 'passivePortStart'),
      value: given('sftpPort') || !given('passivePortStart') ? c.sftpPort : c.passivePortStart,
      source: src(blame('sftpPort', 'passivePortStart')),
      involves: ['sftpPort', 'passivePortStart', 'backendCount', 'passivePortsPerBackend'],
      message: `sftpPort ${c.sftpPort} is an FTP port of the NLB (21, or the passive ports ${c.passivePortStart}-${passiveEnd}); every NLB port has one listener. Use another sftpPort, such as 22`,
    });
  }
  if (c.ftpServer === 'proftpd' && r < 2) {
    problems.push({
      field: 'passivePortsPerBackend',
      value: r,
      source: src('passivePortsPerBackend'),
      involves: ['passivePortsPerBackend', 'ftpServer'],
      message: 'must be at least 2 with ftpServer=proftpd: ProFTPD needs a range (PassivePorts min < max)',
      nearest: '2',
    });
  }
  const lastPort = c.passivePortStart + n * r - 1;
  if (lastPort > MAX_PORT) {
    problems.push({
      field: 'passivePortStart',
      value: c.passivePortStart,
      source: src('passivePortStart'),
      involves: ['passivePortStart', 'backendCount', 'passivePortsPerBackend'],
      message: `with ${n} backends x ${r} ports the passive ports would end at ${lastPort}, past ${MAX_PORT}`,
      nearest: String(MAX_PORT - n * r + 1),
    });
  }

  /**
   * `low` must stay strictly below `high`. Reports the one the user changed (the other is named
   * with its value, and "the default" when untouched), with the value that would work.
   */
  const below = (
    low: [field: string, value: number],
    high: [field: string, value: number],
    why: string,
    keepHighAdvice: (highValue: number) => string,
  ) => {
    if (low[1] < high[1]) return;
    const field = blame(low[0], high[0]);
    const involves = [low[0], high[0]];
    problems.push(
      field === low[0]
        ? {
            field,
            value: low[1],
            source: src(field),
            involves,
            message: `must be below ${other(high[0], high[1])}${why}`,
            nearest: String(high[1] - 1),
          }
        : {
            field,
            value: high[1],
            source: src(field),
            involves,
            message: `must be above ${other(low[0], low[1])}${why}; to keep ${high[1]}, ${keepHighAdvice(high[1])}`,
            nearest: String(low[1] + 1),
          },
    );
  };
  below(
    ['tcpKeepaliveSeconds', c.tcpKeepaliveSeconds],
    ['controlIdleTimeoutSeconds', c.controlIdleTimeoutSeconds],
    ', or the NLB drops idle control connections during long transfers',
    (idle) => `also set tcpKeepaliveSeconds below it, e.g. ${Math.max(5, idle - 15)}`,
  );
  below(
    ['nlbHealthCheck.timeoutSeconds', c.nlbHealthCheck.timeoutSeconds],
    ['nlbHealthCheck.intervalSeconds', c.nlbHealthCheck.intervalSeconds],
    ' (ELBv2 refuses a health-check timeout that is not smaller than its interval)',
    (interval) => `also set nlbHealthCheck.timeoutSeconds to ${Math.max(2, interval - 1)} or less`,
  );
  const hc = c.healthCheck;
  if (hc.enabled) {
    below(
      ['healthCheck.timeoutSeconds', hc.timeoutSeconds],
      ['healthCheck.intervalSeconds', hc.intervalSeconds],
      ' so a round ends before the next starts',
      (interval) => `also set healthCheck.timeoutSeconds to ${Math.max(1, interval - 1)} or less`,
    );
  }
  if (c.minHealthyBackends !== undefined && c.minHealthyBackends > n) {
    problems.push({
      field: 'minHealthyBackends',
      value: c.minHealthyBackends,
      source: src('minHealthyBackends'),
      involves: ['minHealthyBackends', 'backendCount'],
      message: `cannot exceed ${other('backendCount', n)}, or the alarm could never be OK`,
      nearest: String(n),
    });
  }
  if (c.natGateways > c.maxAzs) {
    const field = blame('natGateways', 'maxAzs');
    problems.push({
      field,
      value: field === 'natGateways' ? c.natGateways : c.maxAzs,
      source: src(field),
      involves: ['natGateways', 'maxAzs'],
      message:
        field === 'natGateways'
          ? `cannot exceed ${other('maxAzs', c.maxAzs)}: there is at most one NAT gateway per AZ, and more would silently not be built`
          : `must be at least ${other('natGateways', c.natGateways)}: there is at most one NAT gateway per AZ`,
      nearest: field === 'natGateways' ? String(c.maxAzs) : String(c.natGateways),
    });
  }
  if (c.ftps === 'off' && c.ftpsCertificateSecretArn !== undefined) {
    problems.push({
      field: 'ftpsCertificateSecretArn',
      value: c.ftpsCertificateSecretArn,
      source: src('ftpsCertificateSecretArn'),
      involves: ['ftpsCertificateSecretArn', 'ftps'],
      message: 'is set but ftps is off, so no backend would use it; set ftps to required (or optional), or remove it',
      nearest: 'ftps=required',
    });
  }
  if (c.ftps === 'off' && c.ftpsCertificateNames.length > 0) {
    problems.push({
      field: 'ftpsCertificateNames',
      value: c.ftpsCertificateNames.join(','),
      source: src('ftpsCertificateNames'),
      involves: ['ftpsCertificateNames', 'ftps'],
      message: 'is set but ftps is off, so no certificate is made; set ftps to required (or optional), or remove it',
      nearest: 'ftps=required',
    });
  }
  if (c.ftps === 'off') {
    // TLS settings that nothing would use are refused, as ftpsCertificateNames is.
    for (const field of ['ftpsRequireSslReuse', 'ftpsMaxTlsVersion'] as const) {
      if (!given(field)) continue;
      problems.push({
        field,
        value: c[field],
        source: src(field),
        involves: [field, 'ftps'],
        message: 'is a TLS setting, but ftps is off, so no connection uses TLS; set ftps to required (or optional), or remove it',
        nearest: 'ftps=required',
      });
    }
    // Plain FTP to the internet: passwords and files in clear text. Only with an acknowledgement.
    const open = c.allowedCidrs.filter((cidr) => !isPrivateCidr(cidr));
    if (open.length > 0 && !c.allowPlaintextFromInternet) {
      const field = blame('ftps', 'allowedCidrs');
      problems.push({
        field,
        value: field === 'ftps' ? c.ftps : c.allowedCidrs.join(','),
        source: src(field),
        involves: ['ftps', 'allowedCidrs', 'allowPlaintextFromInternet'],
        message:
          `ftps=off with allowedCidrs ${open.join(', ')} (beyond the private ranges ${PRIVATE_RANGES.join(', ')}) sends every password and file ` +
          'in clear text across the internet. Set ftps=required, or allow only private ranges, or set allowPlaintextFromInternet=true to accept that',
        nearest: 'ftps=required',
      });
    }
  } else if (c.allowPlaintextFromInternet) {
    problems.push({
      field: 'allowPlaintextFromInternet',
      value: true,
      source: src('allowPlaintextFromInternet'),
      involves: ['allowPlaintextFromInternet', 'ftps'],
      message: `acknowledges plain FTP from the internet, but ftps is ${c.ftps}; remove it`,
      nearest: 'false',
    });
  }
  if (c.ftpsCertificateSecretArn !== undefined && c.ftpsCertificateNames.length > 0) {
    problems.push({
      field: 'ftpsCertificateNames',
      value: c.ftpsCertificateNames.join(','),
      source: src('ftpsCertificateNames'),
      involves: ['ftpsCertificateNames', 'ftpsCertificateSecretArn'],
      message: 'names the self-signed certificate, but ftpsCertificateSecretArn brings your own; put the names in your certificate instead',
      nearest: '(unset)',
    });
  }
  if (c.maxSessionsPerIp > c.maxClientsPerBackend) {
    const field = blame('maxSessionsPerIp', 'maxClientsPerBackend');
    problems.push({
      field,
      value: field === 'maxSessionsPerIp' ? c.maxSessionsPerIp : c.maxClientsPerBackend,
      source: src(field),
      involves: ['maxSessionsPerIp', 'maxClientsPerBackend'],
      message:
        field === 'maxSessionsPerIp'
          ? `must not exceed ${other('maxClientsPerBackend', c.maxClientsPerBackend)}`
          : `must be at least ${other('maxSessionsPerIp', c.maxSessionsPerIp)}`,
      nearest: field === 'maxSessionsPerIp' ? String(c.maxClientsPerBackend) : String(c.maxSessionsPerIp),
    });
  }

  const [family, size] = c.instanceType.split('.');
  if (!INSTANCE_FAMILIES.includes(family) || !INSTANCE_SIZES.includes(size)) {
    const f = INSTANCE_FAMILIES.includes(family) ? family : closest(family, INSTANCE_FAMILIES);
    const s = INSTANCE_SIZES.includes(size) ? size : closest(size, INSTANCE_SIZES);
    problems.push({
      field: 'instanceType',
      value: c.instanceType,
      source: src('instanceType'),
      involves: ['instanceType'],
      message: !INSTANCE_FAMILIES.includes(family)
        ? `"${family}" is not an EC2 instance family that aws-cdk-lib knows (such as t4g, m7g, c7g)`
        : `"${size}" is not an EC2 instance size (${INSTANCE_SIZES.slice(0, 8).join(', ')}, ...)`,
      nearest: f && s ? `${f}.${s}` : undefined,
    });
  } else if (!EC2_INSTANCE_TYPES.includes(c.instanceType)) {
    // Family and size each exist, but EC2 does not sell this pair (c7g.nano, t4g.48xlarge).
    const sizes = EC2_INSTANCE_TYPES.filter((t) => t.startsWith(`${family}.`)).map((t) => t.slice(family.length + 1));
    const ordered = INSTANCE_SIZES.filter((x) => sizes.includes(x));
    problems.push({
      field: 'instanceType',
      value: c.instanceType,
      source: src('instanceType'),
      involves: ['instanceType'],
      message: ordered.length
        ? `EC2 has no ${c.instanceType}: ${family} comes in ${ordered.join(', ')}`
        : `EC2 has no ${c.instanceType}: its API lists no instance type of family ${family}`,
      // The offered size nearest in the size order: c7g.nano -> c7g.medium, t4g.48xlarge -> t4g.2xlarge.
      nearest: ordered.length ? `${family}.${nearestInOrder(size, ordered, INSTANCE_SIZES)}` : 'm7g.large',
    });
  } else {
    const why = unusableFamilyReason(family);
    if (why) {
      problems.push({
        field: 'instanceType',
        value: c.instanceType,
        source: src('instanceType'),
        involves: ['instanceType'],
        message: `cannot run a backend: ${why}`,
        nearest: /^t\d/.test(family) ? `${family}.2xlarge` : 'm7g.large',
      });
    }
  }
  const cidrLists: ReadonlyArray<readonly [string, readonly string[]]> = [
    ['allowedCidrs', c.allowedCidrs],
    ['bans.neverBanCidrs', c.bans.neverBanCidrs],
  ];
  for (const [key, list] of cidrLists)
    list.forEach((cidr, i) => {
      const network = networkOf(cidr);
      if (network !== cidr) {
        problems.push({
          field: `${key}[${i}]`,
          value: cidr,
          source: src(key),
          involves: [key],
          message: `has host bits set: it covers all of ${network}, which is likely not what was meant (give the network address, or /32 for one host)`,
          nearest: network,
        });
      }
    });
  const reserved = reservedUserReason(c.initialFtpUser);
  if (reserved) {
    problems.push({
      field: 'initialFtpUser',
      value: c.initialFtpUser,
      source: src('initialFtpUser'),
      involves: ['initialFtpUser'],
      message: `${reserved}; choose a new name`,
      nearest: 'ftpuser',
    });
  }
  return problems;
}

/** The network address of an IPv4 CIDR: `10.0.0.1/8` -> `10.0.0.0/8`. */
/** Of `candidates`, the one nearest to `value` by position in `order` (the first of a tie). */
function nearestInOrder(value: string, candidates: readonly string[], order: readonly string[]): string {
  const distance = (x: string) => Math.abs(order.indexOf(x) - order.indexOf(value));
  return candidates.reduce((best, x) => (distance(x) < distance(best) ? x : best));
}

/** The private IPv4 ranges (RFC 1918, and the shared CGNAT space of RFC 6598): not the internet. */
export const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'] as const;

function rangeOf(cidr: string): [number, number] {
  const [ip, bits] = cidr.split('/');
  const prefix = Number(bits);
  const value = ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - prefix);
  const start = Math.floor(value / size) * size;
  return [start, start + size - 1];
}

/** Is every address of `cidr` inside one of the private ranges? */
export function isPrivateCidr(cidr: string): boolean {
  const [a, b] = rangeOf(cidr);
  return PRIVATE_RANGES.some((r) => {
    const [x, y] = rangeOf(r);
    return a >= x && b <= y;
  });
}

export function networkOf(cidr: string): string {
  const [ip, bits] = cidr.split('/');
  const prefix = Number(bits);
  const value = ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (value & mask) >>> 0;
  return `${[24, 16, 8, 0].map((shift) => (net >>> shift) & 255).join('.')}/${prefix}`;
}
