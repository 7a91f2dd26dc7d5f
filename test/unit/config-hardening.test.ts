/**
 * Bad input as a careless or hostile user would give it on the command line (`-c KEY=VALUE`, so
 * every value arrives as a string): each case must be refused with every problem at once, and
 * each message must name the setting and state what is allowed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblems, loadConfig, secretArnProblems } from '../../lib/config';
import { INSTANCE_FAMILIES, INSTANCE_SIZES, isArmInstanceType, unusableFamilyReason } from '../../lib/config/instance-types';
import { RESERVED_USER_NAMES } from '../../lib/shared/users';

function refusal(context: Record<string, unknown>, file?: unknown): ConfigError {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-cfg-'));
  try {
    if (file !== undefined) fs.writeFileSync(path.join(cwd, 'nlb-ftp.config.json'), typeof file === 'string' ? file : JSON.stringify(file));
    loadConfig({ context, cwd });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
  throw new Error(`accepted: ${JSON.stringify(context)}`);
}

const ARN = (region: string) => `arn:aws:secretsmanager:${region}:123456789012:secret:users-AbCdEf`;

/** [context, fields the problems must name (in any order), fragments the message must contain]. */
const CORPUS: ReadonlyArray<[Record<string, string>, string[], string[]]> = [
  // Reserved user names.
  [{ initialFtpUser: 'root' }, ['initialFtpUser'], ['system account', 'Nearest valid value: ftpuser.']],
  [{ initialFtpUser: 'ec2-user' }, ['initialFtpUser'], ['system account']],
  [{ initialFtpUser: 'nlbftp-health' }, ['initialFtpUser'], ['health-check account']],
  [{ initialFtpUser: 'systemd-network' }, ['initialFtpUser'], ['is a system account on the backends']],
  [{ initialFtpUser: 'systemd-coredump' }, ['initialFtpUser'], ['reserved']],
  [{ initialFtpUser: 'Root' }, ['initialFtpUser'], ['Linux user name']],
  // Names that exist on the backend images: Ubuntu's and Debian's default accounts, and groups
  // (groupadd exits 9 on a group name, which stopped the users sync and the boot).
  [{ initialFtpUser: 'ubuntu' }, ['initialFtpUser'], ['system account']],
  [{ initialFtpUser: 'admin' }, ['initialFtpUser'], ['system account']],
  [{ initialFtpUser: 'users' }, ['initialFtpUser'], ['system account']],
  [{ initialFtpUser: 'wheel' }, ['initialFtpUser'], ['system account']],
  [{ initialFtpUser: 'video' }, ['initialFtpUser'], ['system account']],
  [{ initialFtpUser: 'staff' }, ['initialFtpUser'], ['system account']],
  // Misspelt keys, with _ or - too.
  [{ backend_count: '3' }, ['backend_count'], ['is not a setting of nlb-ftp; did you mean backendCount?']],
  [{ 'backend-count': '3' }, ['backend-count'], ['did you mean backendCount?']],
  [{ backendcount: '3' }, ['backendcount'], ['did you mean backendCount?']],
  [{ 'healthCheck.interval': '10' }, ['healthCheck.interval'], ['did you mean healthCheck.intervalSeconds?']],
  // Silent changes are refused.
  [{ natGateways: '3', maxAzs: '2' }, ['natGateways'], ['cannot exceed maxAzs (2)', 'Nearest valid value: 2.']],
  [{ natGateways: '3' }, ['natGateways'], ['cannot exceed maxAzs (2, the default)']],
  [{ maxAzs: '1', natGateways: '2' }, ['natGateways'], ['cannot exceed maxAzs (1)']],
  [{ ftps: 'off', allowPlaintextFromInternet: 'true', ftpsCertificateNames: 'ftp.example.com' }, ['ftpsCertificateNames'], ['ftps is off']],
  [
    { ftps: 'off', allowPlaintextFromInternet: 'true', ftpsMaxTlsVersion: '1.3' },
    ['ftpsMaxTlsVersion'],
    ['a TLS setting, but ftps is off'],
  ],
  [
    { ftps: 'off', allowPlaintextFromInternet: 'true', ftpsRequireSslReuse: 'false' },
    ['ftpsRequireSslReuse'],
    ['a TLS setting, but ftps is off'],
  ],
  [
    { ftps: 'off' },
    ['ftps'],
    ['0.0.0.0/0', 'clear text across the internet', 'allowPlaintextFromInternet=true', 'Nearest valid value: ftps=required.'],
  ],
  [{ ftps: 'off', allowedCidrs: '["10.0.0.0/8","203.0.113.0/24"]' }, ['ftps'], ['203.0.113.0/24 (beyond the private ranges']],
  [{ allowPlaintextFromInternet: 'true' }, ['allowPlaintextFromInternet'], ['but ftps is required']],
  [
    { ftps: 'off', allowPlaintextFromInternet: 'true', ftpsCertificateSecretArn: ARN('eu-west-1') },
    ['ftpsCertificateSecretArn'],
    ['ftps is off'],
  ],
  // Instance types are checked offline, before anything is written.
  [{ instanceType: 't4g.smal' }, ['instanceType'], ['is not an EC2 instance size', 'Nearest valid value: t4g.small.']],
  [{ instanceType: 't5g.small' }, ['instanceType'], ['is not an EC2 instance family', 'Nearest valid value: t4g.small.']],
  [{ instanceType: 'small' }, ['instanceType'], ['must be an EC2 instance type such as t4g.small']],
  // Types that validated and then crashed synth (MalformedInstanceTypeIdentifier) or cannot launch.
  [{ instanceType: 'u-6tb1.112xlarge' }, ['instanceType'], ['cannot run a backend', 'high-memory', 'Nearest valid value: m7g.large.']],
  [{ instanceType: 'u7i-12tb.224xlarge' }, ['instanceType'], ['cannot run a backend', 'high-memory']],
  [{ instanceType: 'mac2-m2.metal' }, ['instanceType'], ['cannot run a backend', 'dedicated hosts']],
  [{ instanceType: 't4g.metal' }, ['instanceType'], ['EC2 has no t4g.metal: t4g comes in nano', 'Nearest valid value: t4g.2xlarge.']],
  // A CIDR with host bits set opens more than it says.
  [{ allowedCidrs: '10.0.0.1/8' }, ['allowedCidrs[0]'], ['host bits set', 'all of 10.0.0.0/8', 'Nearest valid value: 10.0.0.0/8.']],
  [{ allowedCidrs: '["203.0.113.0/24","198.51.100.7/20"]' }, ['allowedCidrs[1]'], ['Nearest valid value: 198.51.96.0/20.']],
  // The NLB's health-check timeout must stay below its interval.
  [
    { 'nlbHealthCheck.timeoutSeconds': '10' },
    ['nlbHealthCheck.timeoutSeconds'],
    ['must be below nlbHealthCheck.intervalSeconds (10, the default)', 'Nearest valid value: 9.'],
  ],
  [
    { 'nlbHealthCheck.intervalSeconds': '5', 'nlbHealthCheck.timeoutSeconds': '5' },
    ['nlbHealthCheck.timeoutSeconds'],
    ['must be below nlbHealthCheck.intervalSeconds (5)'],
  ],
  // Numbers: range and type in every message.
  [{ backendCount: 'three' }, ['backendCount'], ['must be a whole number from 1 to 49']],
  [{ backendCount: '' }, ['backendCount'], ['must be a whole number from 1 to 49']],
  [{ backendCount: '1.5' }, ['backendCount'], ['must be a whole number from 1 to 49']],
  [{ backendCount: '1e3' }, ['backendCount'], ['= 1000', 'must be a whole number from 1 to 49', 'Nearest valid value: 49']],
  [{ backendCount: '-1' }, ['backendCount'], ['must be a whole number from 1 to 49', 'Nearest valid value: 1']],
  [{ passivePortStart: '80' }, ['passivePortStart'], ['from 1024 to 65535']],
  [
    { healthCheck: '5' },
    ['healthCheck'],
    ['must be an object with the keys enabled, intervalSeconds, timeoutSeconds, fallThreshold, riseThreshold'],
  ],
  [{ 'healthCheck.enabled': 'maybe' }, ['healthCheck.enabled'], ['must be true or false']],
  [{ ftps: 'yes' }, ['ftps'], ['must be one of "required", "optional", "off"']],
  // Secret ARNs: a real region form.
  [{ ftpUsersSecretArn: ARN('useast1') }, ['ftpUsersSecretArn'], ['complete ARN of a Secrets Manager secret']],
  [{ ftpUsersSecretArn: ARN('us-east-1').replace('-AbCdEf', '') }, ['ftpUsersSecretArn'], ['6-character suffix']],
  // Budgets: the listener budget and CloudFormation's 500 resources, with values that fit both.
  [
    { ftpServer: 'vsftpd', backendCount: '49', passivePortsPerBackend: '1' },
    ['backendCount'],
    ['makes 962 CloudFormation resources', 'backendCount <= 23'],
  ],
  [
    { ftpServer: 'vsftpd', backendCount: '24', passivePortsPerBackend: '1' },
    ['backendCount'],
    ['makes 512', 'backendCount <= 23', 'second stack'],
  ],
  [{ backendCount: '24', passivePortsPerBackend: '2' }, ['backendCount'], ['makes 564 CloudFormation resources', 'backendCount <= 20']],
  [{ passivePortsPerBackend: '25' }, ['passivePortsPerBackend'], ['needs 52 NLB listeners', 'passivePortsPerBackend <= 24']],
  // Documented minimums with the other setting left at its default: blame the one the user changed.
  [
    { controlIdleTimeoutSeconds: '60' },
    ['controlIdleTimeoutSeconds'],
    ['must be above tcpKeepaliveSeconds (60, the default)', 'also set tcpKeepaliveSeconds below it, e.g. 45'],
  ],
  [
    { 'healthCheck.intervalSeconds': '5' },
    ['healthCheck.intervalSeconds'],
    ['must be above healthCheck.timeoutSeconds (5, the default)', 'healthCheck.timeoutSeconds to 4 or less'],
  ],
  [{ tcpKeepaliveSeconds: '400' }, ['tcpKeepaliveSeconds'], ['must be below controlIdleTimeoutSeconds (350, the default)']],
  [{ maxSessionsPerIp: '300' }, ['maxSessionsPerIp'], ['must not exceed maxClientsPerBackend (200, the default)']],
  // Every problem at once: per-setting and between settings.
  [{ backendCount: '0', tcpKeepaliveSeconds: '400' }, ['backendCount', 'tcpKeepaliveSeconds'], ['2 problems']],
  [
    { initialFtpUser: 'root', instanceType: 't4g.smal', backend_count: '3' },
    ['initialFtpUser', 'instanceType', 'backend_count'],
    ['3 problems'],
  ],
];

describe('bad input is refused, naming the setting and what is allowed', () => {
  it.each(CORPUS)('%j', (context, fields, fragments) => {
    const err = refusal(context);
    expect(err.problems.map((p) => p.field).sort()).toEqual([...fields].sort());
    for (const f of fragments) expect(err.message).toContain(f);
    expect(err.message).not.toMatch(/ at .*\.ts:\d+/); // no stack trace
  });

  it('accepts a config file that starts with a UTF-8 byte-order mark', () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-cfg-'));
    try {
      fs.writeFileSync(path.join(cwd, 'nlb-ftp.config.json'), '\uFEFF{"backendCount": 3}');
      expect(loadConfig({ context: {}, cwd }).backendCount).toBe(3);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('refuses a secret from another partition or region when the region is known, naming the copy to make', () => {
    const config = loadConfig({
      context: { ftpUsersSecretArn: 'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:users-AbCdEf' },
      cwd: os.tmpdir(),
    });
    const problems = secretArnProblems(config, 'eu-west-1');
    expect(problems.map((p) => p.field)).toEqual(['ftpUsersSecretArn']);
    expect(formatProblems(problems)).toContain('is in aws-cn/cn-north-1, but the stack deploys to aws/eu-west-1');
    expect(problems[0].nearest).toContain('arn:aws:secretsmanager:eu-west-1:123456789012:secret:users-AbCdEf');
    expect(secretArnProblems(config, 'cn-north-1')).toEqual([]);
  });

  it('shows a number too large for JSON as itself, not null', () => {
    const err = refusal({}, '{"backendCount": 1e309}');
    expect(err.message).toContain('backendCount = Infinity (a number too large to use) (from nlb-ftp.config.json)');
    expect(err.message).toContain('must be a whole number from 1 to 49');
  });

  it('lists the allowed keys of an object setting given the wrong type in a file', () => {
    const err = refusal({}, { nlbHealthCheck: [] });
    expect(err.message).toContain('nlbHealthCheck = []');
    expect(err.message).toContain('intervalSeconds, timeoutSeconds, healthyThreshold, unhealthyThreshold');
  });

  it("ignores CDK's own context keys: feature flags, the CLI's settings and cached lookups", () => {
    const config = loadConfig({
      context: {
        '@aws-cdk/core:checkSecretUsage': true,
        'aws:cdk:enable-path-metadata': true,
        'aws:cdk:bundling-stacks': ['**'],
        'availability-zones:account=123456789012:region=eu-west-1': ['eu-west-1a'],
        'acknowledged-issue-numbers': [1],
      },
      cwd: os.tmpdir(),
    });
    expect(config.backendCount).toBe(2);
  });
});

describe('the offline lists follow aws-cdk-lib', () => {
  it("instance families and sizes are exactly aws-cdk-lib's InstanceClass and InstanceSize", () => {
    const families = new Set(
      Object.values(ec2.InstanceClass).map(
        (c) =>
          ec2.InstanceType.of(c as ec2.InstanceClass, ec2.InstanceSize.LARGE)
            .toString()
            .split('.')[0],
      ),
    );
    expect([...families].sort()).toEqual([...INSTANCE_FAMILIES].sort());
    expect([...new Set(Object.values(ec2.InstanceSize))].sort()).toEqual([...INSTANCE_SIZES].sort());
  });

  it('every family it accepts is one aws-cdk-lib can read an architecture from (synth never crashes on it)', () => {
    const accepted = INSTANCE_FAMILIES.filter((f) => !unusableFamilyReason(f));
    expect(accepted.length).toBeGreaterThan(100);
    for (const f of accepted) {
      const cdk = new ec2.InstanceType(`${f}.large`).architecture;
      // The offline reading of the architecture (preflight's AMI check) is aws-cdk-lib's.
      expect(isArmInstanceType(`${f}.large`), f).toBe(cdk === ec2.InstanceArchitecture.ARM_64);
    }
  });

  it('accepts real instance types of both architectures', () => {
    for (const t of ['t4g.small', 'm7g.large', 'c7gn.2xlarge', 't3.micro', 'm5.metal', 'c6i.32xlarge']) {
      expect(loadConfig({ context: { instanceType: t }, cwd: os.tmpdir() }).instanceType).toBe(t);
    }
  });

  it('refuses every reserved user name as initialFtpUser', () => {
    for (const name of RESERVED_USER_NAMES) {
      expect(refusal({ initialFtpUser: name }).problems.map((p) => p.field)).toContain('initialFtpUser');
    }
  });
});
