/**
 * How many CloudFormation resources a configuration makes, so validation can refuse one that a
 * stack cannot hold (CloudFormation: 500 resources per stack) before anything is synthesized.
 *
 * The model is measured, not guessed: test/slow/config-budget.test.ts synthesizes a grid of
 * configurations and requires this count to equal the template's exactly, so any change to the
 * constructs that moves the count fails that test until the numbers here follow.
 */
import { MAX_PASSIVE_PORTS, NLB_MAX_LISTENERS } from '../shared/limits';
import { listenerCount } from '../shared/port-plan';
import { type Config, sftpEnabled } from './schema';

// CloudFormation: 500 resources per stack (a hard quota).
export const CFN_MAX_RESOURCES = 500;

/** The settings the count depends on. */
export type BudgetInput = Pick<
  Config,
  | 'backendCount'
  | 'passivePortsPerBackend'
  | 'maxAzs'
  | 'natGateways'
  | 'ftps'
  | 'ftpsCertificateSecretArn'
  | 'ftpUsersSecretArn'
  | 'alarmEmail'
  | 'ftpServer'
  | 'sftp'
  | 'sftpHostKeysSecretArn'
> & { readonly healthCheck: Pick<Config['healthCheck'], 'enabled'>; readonly bans: Pick<Config['bans'], 'enabled'> };

/** Resources of one backend slot with r passive ports. */
export function resourcesPerSlot(r: number, c: Pick<BudgetInput, 'healthCheck'>): number {
  // Launch template, Auto Scaling group, security group and its rules, no-instance alarm, NLB
  // alarm: 11; each passive port: a listener and a target group; the checker adds 2 ingress and
  // 2 egress rules and the login alarm. SFTP adds nothing here: its rules are inline, by range.
  return 11 + 2 * r + (c.healthCheck.enabled ? 5 : 0);
}

/** Resources that do not depend on the number of slots. */
export function fixedResources(c: Omit<BudgetInput, 'backendCount' | 'passivePortsPerBackend'>, azCount = c.maxAzs): number {
  const nat = Math.min(c.natGateways, azCount);
  const selfSignedCertificate = c.ftps !== 'off' && c.ftpsCertificateSecretArn === undefined;
  // SFTP: its listener and target group; generated host keys add their secret and custom resource,
  // and, without a self-signed certificate whose generator they share, the generator (function,
  // role, its policy, log group).
  const generatedHostKeys = c.sftpHostKeysSecretArn === undefined;
  const sftp = sftpEnabled(c) ? 2 + (generatedHostKeys ? 2 + (selfSignedCertificate ? 0 : 4) : 0) : 0;
  return (
    // Includes the backends' one shared instance profile, and the AWS::CDK::Metadata resource that
    // `cdk synth`/`cdk deploy` add (version reporting): a stack counted at exactly 500 without it
    // fails through the CLI with 501. The audit trail is 10 of them: its key, log group, five
    // metric filters, saved query, and the brute-force and users-skipped alarms.
    39 +
    // Per AZ: public and private subnet, route tables, associations, routes, the NLB's Elastic IP.
    10 * azCount +
    // Each NAT gateway beyond the first: the gateway and its Elastic IP.
    2 * (nat - 1) +
    (selfSignedCertificate ? 6 : 0) +
    sftp +
    (c.healthCheck.enabled ? 13 : 0) +
    // The bans table (the backends' policy grows; no new resource).
    (c.bans.enabled ? 1 : 0) +
    (c.alarmEmail !== undefined ? 1 : 0) +
    (c.ftpUsersSecretArn === undefined ? 1 : 0)
  );
}

export function stackResources(c: BudgetInput, azCount = c.maxAzs): number {
  return fixedResources(c, azCount) + c.backendCount * resourcesPerSlot(c.passivePortsPerBackend, c);
}

/** Does N x r fit both budgets: the NLB's 50 listeners and the stack's 500 resources? */
export function fits(c: BudgetInput, n: number, r: number): boolean {
  return (
    listenerCount(n, r, sftpEnabled(c)) <= NLB_MAX_LISTENERS &&
    stackResources({ ...c, backendCount: n, passivePortsPerBackend: r }) <= CFN_MAX_RESOURCES
  );
}

/** The largest backendCount that fits with this r (0 when none does). */
export function largestBackendCount(c: BudgetInput, r: number): number {
  let n = 0;
  while (n < MAX_PASSIVE_PORTS && fits(c, n + 1, r)) n++;
  return n;
}

/** The largest passivePortsPerBackend that fits with this N (0 when none does). */
export function largestPortsPerBackend(c: BudgetInput, n: number): number {
  let r = 0;
  while (r < MAX_PASSIVE_PORTS && fits(c, n, r + 1)) r++;
  return r;
}
