/**
 * The one schema for every user-facing setting of nlb-ftp: each with its default and the reason
 * for it. Pure: no aws-cdk-lib import, so the sandbox, the CLI and the docs generator reuse it.
 */
import { z } from 'zod';
import { AUDIT_RETENTION_DAYS, MAX_PASSIVE_PORTS, MAX_PORT, MIN_UNPRIVILEGED_PORT } from '../shared/limits';

const cidrV4 = z
  .string()
  .regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/, 'must be an IPv4 CIDR such as 203.0.113.0/24');

/** A complete Secrets Manager ARN (with the 6-character suffix), so IAM can name it exactly. */
const secretArn = z
  .string()
  .regex(
    /^arn:aws(-[a-z]+)*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
    'must be the complete ARN of a Secrets Manager secret, ending in its 6-character suffix (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf)',
  );

const healthCheckSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe('Deregister backends whose FTP logins fail; the NLB TCP check alone cannot see broken logins'),
    intervalSeconds: z
      .int()
      .min(5)
      .max(60)
      .default(10)
      .describe('Seconds between probe rounds; with the thresholds it sets how fast a broken backend leaves rotation'),
    timeoutSeconds: z
      .int()
      .min(1)
      .max(30)
      .default(5)
      .describe('Deadline for each probe step; a hung backend counts as failed after this long'),
    fallThreshold: z.int().min(1).max(10).default(2).describe('Consecutive failed rounds before deregistering; 2 ignores a single blip'),
    riseThreshold: z
      .int()
      .min(1)
      .max(10)
      .default(2)
      .describe('Consecutive good rounds before registering again; 2 avoids flapping back in'),
  })
  .default({ enabled: true, intervalSeconds: 10, timeoutSeconds: 5, fallThreshold: 2, riseThreshold: 2 })
  .describe('The FTP login health checker (Lambda)');

const nlbHealthCheckSchema = z
  .strictObject({
    intervalSeconds: z
      .int()
      .min(5)
      .max(300)
      .default(10)
      .describe("NLB TCP health check interval on port 21; 10 s notices a dead FTP server 3x faster than the NLB's 30 s default"),
    timeoutSeconds: z
      .int()
      .min(2)
      .max(120)
      .default(4)
      .describe(
        'Seconds the NLB waits for port 21 to answer; must stay below intervalSeconds (unset, a TCP check waits 10 s, longer than a 5-9 s interval). 4 s fits every interval and a TCP connect in the VPC takes milliseconds',
      ),
    healthyThreshold: z.int().min(2).max(10).default(3).describe('Consecutive good TCP checks before the NLB routes to a target again'),
    unhealthyThreshold: z
      .int()
      .min(2)
      .max(10)
      .default(2)
      .describe('Consecutive failed TCP checks before the NLB stops routing to a target'),
  })
  .default({ intervalSeconds: 10, timeoutSeconds: 4, healthyThreshold: 3, unhealthyThreshold: 2 })
  .describe("The NLB's own TCP health check of port 21 (passive target groups use it too)");

const bansSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "Refuse a client address on every backend after repeated failed logins; a server's own limit ends one session and the attacker reconnects to another backend",
      ),
    failedLogins: z
      .int()
      .min(3)
      .max(1000)
      .default(10)
      .describe(
        'Failed logins from one address, over all backends, within windowMinutes that ban it (M); 10 is three sessions of typos and far below a guessing run',
      ),
    windowMinutes: z
      .int()
      .min(1)
      .max(1440)
      .default(10)
      .describe('The window failed logins are counted in (T); 10 minutes catches a slow guesser that stays under the brute-force alarm'),
    banMinutes: z
      .int()
      .min(1)
      .max(10080)
      .default(15)
      .describe(
        'How long a ban lasts (B); 15 minutes slows guessing a hundredfold while an office that mistyped recovers on its own (npm run unban lifts one at once)',
      ),
    syncSeconds: z
      .int()
      .min(2)
      .max(60)
      .default(10)
      .describe(
        'How often each backend reports failures and loads the bans (S, the most a ban takes to reach every backend); 10 s costs one small DynamoDB query per backend each time',
      ),
    neverBanCidrs: z
      .array(cidrV4)
      .max(20)
      .default([])
      .describe(
        'Client ranges never banned (your offices, your monitoring); the VPC, where the health checker and the NLB health checks come from, never is',
      ),
  })
  .default({ enabled: true, failedLogins: 10, windowMinutes: 10, banMinutes: 15, syncSeconds: 10, neverBanCidrs: [] })
  .describe('Cluster-wide bans of addresses that keep failing to log in (a DynamoDB table every backend reads)');

export const ConfigSchema = z.strictObject({
  stackName: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'must start with a letter and hold only letters, digits and hyphens (max 64)')
    .default('NlbFtp')
    .describe('CloudFormation stack name; alarm names start with it'),
  backendCount: z
    .int()
    .min(1)
    .max(MAX_PASSIVE_PORTS)
    .default(2)
    .describe('Number of FTP server instances (slots); 2 survives the loss of one. With r it must fit the two budgets (at most 23)'),
  passivePortsPerBackend: z
    .int()
    .min(1)
    .max(MAX_PASSIVE_PORTS)
    .default(8)
    .describe('Passive ports (r) per backend = PASV/EPSV sessions a backend can open at once; 8 leaves room for 6 backends'),
  passivePortStart: z
    .int()
    .min(MIN_UNPRIVILEGED_PORT)
    .max(MAX_PORT)
    .default(40000)
    .describe('First passive port; slot i owns [start + i*r, start + i*r + r - 1]'),
  ftpServer: z
    .enum(['vsftpd', 'proftpd'])
    .default('proftpd')
    .describe(
      'FTP server on each backend. proftpd: many transfers share a passive port (1,000 downloads held open on 48 ports) and it serves SFTP; vsftpd: smallest attack surface, but one transfer per passive port at a time and no SFTP. Both run on Debian 13',
    ),
  sftp: z
    .enum(['on', 'off'])
    .optional()
    .describe(
      'SFTP on the same backends, users, files and audit trail, through one more NLB listener; unset means on with ProFTPD and off with vsftpd, which cannot serve it (on with vsftpd is refused)',
    ),
  sftpPort: z
    .int()
    .min(1)
    .max(MAX_PORT)
    .default(22)
    .describe("The NLB's SFTP port; 22 is what clients assume. Backends serve it on 2222, so their own sshd is never reachable"),
  sftpHostKeysSecretArn: secretArn
    .optional()
    .describe(
      'Secret with your SFTP host keys ({"ecdsa","rsa"} PEM private keys); unset creates one set at deploy, which every backend presents',
    ),
  instanceType: z
    .string()
    .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'must be an EC2 instance type such as t4g.small')
    .default('t4g.small')
    .describe(
      "Graviton burstable: FTP is I/O-bound and t4g.small is the cheapest type with enough memory; any type that EC2's API lists (lib/config/ec2-instance-types.ts)",
    ),
  maxAzs: z.int().min(1).max(6).default(2).describe('Availability zones (one NLB static IP each); 2 survives an AZ outage'),
  natGateways: z
    .int()
    .min(1)
    .max(6)
    .default(1)
    .describe('NAT gateways for backend boot (packages, SSM, Secrets Manager); 1 keeps cost down, use maxAzs for AZ independence'),
  allowedCidrs: z
    .array(cidrV4)
    .min(1)
    .max(20)
    .default(['0.0.0.0/0'])
    .describe('Client IPv4 ranges allowed to reach port 21 and the passive ports; the default is the whole internet'),
  controlIdleTimeoutSeconds: z
    .int()
    .min(60)
    .max(6000)
    .default(350)
    .describe('NLB TCP idle timeout on port 21; 350 s matches the ENI connection tracking, keepalives cover long transfers'),
  tcpKeepaliveSeconds: z
    .int()
    .min(5)
    .max(7200)
    .default(60)
    .describe(
      'net.ipv4.tcp_keepalive_time on backends (later probes every 10 s); below the idle timeout so control connections survive long transfers',
    ),
  deregistrationDelaySeconds: z
    .int()
    .min(0)
    .max(3600)
    .default(300)
    .describe('How long sessions already on a deregistered backend may continue; 300 s lets most transfers finish'),
  crossZone: z
    .boolean()
    .default(true)
    .describe("Let each AZ's static IP reach backends in every AZ, so one AZ's IP keeps working when its backends are out"),
  ftpUsersSecretArn: secretArn
    .optional()
    .describe('Existing secret of FTP users (JSON username -> password); unset creates one with a generated password'),
  initialFtpUser: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,30}$/, 'must be a Linux user name: lower-case letters, digits, _ and -, max 31')
    .default('ftpuser')
    .describe('User name created in a new users secret (ignored with ftpUsersSecretArn); root, system accounts and nlbftp-* are refused'),
  ftps: z
    .enum(['required', 'optional', 'off'])
    .default('required')
    .describe('Explicit FTPS (AUTH TLS) on port 21; required keeps passwords and files off the wire in clear text'),
  allowPlaintextFromInternet: z
    .boolean()
    .default(false)
    .describe(
      'With ftps=off, allow allowedCidrs beyond the private ranges; passwords and files then cross the internet in clear text, so it must be said',
    ),
  ftpsRequireSslReuse: z
    .boolean()
    .default(true)
    .describe("Data connections must resume the control connection's TLS session, so no other client can take them over"),
  ftpsMaxTlsVersion: z
    .enum(['1.2', '1.3'])
    .default('1.2')
    .describe('Highest TLS version; over 1.3, curl before 8.9 (Debian 12, RHEL 9) loses downloads after an upload (measured 14/30)'),
  ftpsCertificateSecretArn: secretArn
    .optional()
    .describe('Secret with your certificate ({"certificate","privateKey","ca"?} PEM); unset creates one self-signed certificate'),
  ftpsCertificateNames: z
    .array(
      z
        .string()
        .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a lower-case DNS name such as ftp.example.com'),
    )
    .max(20)
    .default([])
    .describe("Extra DNS names (your CNAME) for the self-signed certificate, besides the NLB's name and static IPs"),
  maxClientsPerBackend: z
    .int()
    .min(1)
    .max(10000)
    .default(200)
    .describe('Sessions one backend accepts (vsftpd max_clients, ProFTPD MaxInstances): caps its memory under a connection flood'),
  maxSessionsPerIp: z
    .int()
    .min(1)
    .max(1000)
    .default(20)
    .describe(
      'Sessions one client address may hold on one backend (vsftpd max_per_ip, ProFTPD MaxClientsPerHost; the NLB preserves the address, each backend counts alone); 20 allows offices behind NAT',
    ),
  removalPolicy: z
    .enum(['retain', 'destroy'])
    .default('retain')
    .describe('What stack deletion does to the file system and secrets; retain never loses customer files'),
  nlbHealthCheck: nlbHealthCheckSchema,
  healthCheck: healthCheckSchema,
  alarmEmail: z
    .email('must be an email address such as ops@example.com')
    .optional()
    .describe('Subscribes this address to the alarm topic (confirm the email AWS sends); unset leaves the topic without subscribers'),
  minHealthyBackends: z
    .int()
    .min(1)
    .max(MAX_PASSIVE_PORTS)
    .optional()
    .describe('Alarm when fewer backends are healthy on port 21; unset means 1, or N-1 when N >= 3'),
  auditLogRetentionDays: z
    .union(AUDIT_RETENTION_DAYS.map((d) => z.literal(d)) as unknown as [z.ZodLiteral<number>, z.ZodLiteral<number>])
    .default(365)
    .describe(`Days CloudWatch Logs keeps the audit trail (one of ${AUDIT_RETENTION_DAYS.join(', ')}); a year covers most audit periods`),
  failedLoginAlarmThreshold: z
    .int()
    .min(1)
    .max(100_000)
    .default(30)
    .describe(
      'Failed logins in 5 minutes, over all backends, that raise the brute-force alarm; 30 is far above typos (3 per session) and far below a guessing run',
    ),
  bans: bansSchema,
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Whether the stack serves SFTP: the setting, or on with ProFTPD and off with vsftpd. */
export function sftpEnabled(c: Pick<Config, 'sftp' | 'ftpServer'>): boolean {
  return (c.sftp ?? (c.ftpServer === 'proftpd' ? 'on' : 'off')) === 'on';
}

/** The healthy-backend floor the cluster alarm uses: the setting, or 1, or N-1 when N >= 3. */
export function minHealthyBackendsOf(c: Pick<Config, 'backendCount' | 'minHealthyBackends'>): number {
  return c.minHealthyBackends ?? (c.backendCount >= 3 ? c.backendCount - 1 : 1);
}
