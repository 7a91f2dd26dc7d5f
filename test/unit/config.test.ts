import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigSchema, loadConfig, parseConfig, settingsDoc, settingsTable, sftpEnabled } from '../../lib/config';
import { planPorts } from '../../lib/shared/port-plan';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ftp-users-AbCdEf';

function problemsOf(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, but the config was accepted');
}

/** [description, raw CDK context (strings, as the CLI passes them), field the message must name] */
const INVALID_CONTEXT: Array<[string, Record<string, string>, string]> = [
  ['zero backends', { backendCount: '0' }, 'backendCount'],
  ['negative backends', { backendCount: '-2' }, 'backendCount'],
  ['fractional backends', { backendCount: '2.5' }, 'backendCount'],
  ['non-numeric backends', { backendCount: 'three' }, 'backendCount'],
  ['backends over 49', { backendCount: '50', passivePortsPerBackend: '1' }, 'backendCount'],
  ['listener budget exceeded', { backendCount: '40' }, 'backendCount'],
  ['listener budget exceeded by r', { backendCount: '5', passivePortsPerBackend: '10' }, 'backendCount'],
  ['zero passive ports', { passivePortsPerBackend: '0' }, 'passivePortsPerBackend'],
  ['passive ports over 49', { passivePortsPerBackend: '50' }, 'passivePortsPerBackend'],
  ['passive start at 21', { passivePortStart: '21' }, 'passivePortStart'],
  ['passive start privileged', { passivePortStart: '1023' }, 'passivePortStart'],
  ['passive start above 65535', { passivePortStart: '70000' }, 'passivePortStart'],
  ['passive range runs past 65535', { passivePortStart: '65530' }, 'passivePortStart'],
  ['passive start not a number', { passivePortStart: '40k' }, 'passivePortStart'],
  ['sftp not on or off', { sftp: 'yes' }, 'sftp'],
  ['sftp on with vsftpd', { ftpServer: 'vsftpd', sftp: 'on' }, 'sftp'],
  ['sftpPort zero', { sftpPort: '0' }, 'sftpPort'],
  ['sftpPort on a passive port', { sftpPort: '40003' }, 'sftpPort'],
  ['sftpPort on 21', { sftpPort: '21' }, 'sftpPort'],
  [
    'SFTP host keys ARN without its suffix',
    { sftpHostKeysSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys' },
    'sftpHostKeysSecretArn',
  ],
  ['instance type upper case', { instanceType: 'T4G.SMALL' }, 'instanceType'],
  ['instance type without size', { instanceType: 't4g' }, 'instanceType'],
  ['zero AZs', { maxAzs: '0' }, 'maxAzs'],
  ['seven AZs', { maxAzs: '7' }, 'maxAzs'],
  ['bad CIDR', { allowedCidrs: '10.0.0.0/33' }, 'allowedCidrs.0'],
  ['ftps misspelled', { ftps: 'yes' }, 'ftps'],
  ['ftps upper case', { ftps: 'Required' }, 'ftps'],
  ['TLS version 1.1', { ftpsMaxTlsVersion: '1.1' }, 'ftpsMaxTlsVersion'],
  ['ssl reuse not a boolean', { ftpsRequireSslReuse: 'sometimes' }, 'ftpsRequireSslReuse'],
  [
    'certificate ARN without suffix',
    { ftpsCertificateSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cert' },
    'ftpsCertificateSecretArn',
  ],
  [
    'certificate ARN with ftps off',
    { ftps: 'off', allowPlaintextFromInternet: 'true', ftpsCertificateSecretArn: ARN },
    'ftpsCertificateSecretArn',
  ],
  ['plaintext acknowledged while FTPS is on', { allowPlaintextFromInternet: 'true' }, 'allowPlaintextFromInternet'],
  ['certificate name with a scheme', { ftpsCertificateNames: 'ftp://ftp.example.com' }, 'ftpsCertificateNames.0'],
  [
    'certificate names with your own certificate',
    { ftpsCertificateSecretArn: ARN, ftpsCertificateNames: 'ftp.example.com' },
    'ftpsCertificateNames',
  ],
  ['second CIDR bad', { allowedCidrs: '10.0.0.0/8,300.1.1.1/32' }, 'allowedCidrs.1'],
  ['empty CIDR list', { allowedCidrs: '[]' }, 'allowedCidrs'],
  ['IPv6 CIDR', { allowedCidrs: '2001:db8::/32' }, 'allowedCidrs.0'],
  ['idle timeout below 60', { controlIdleTimeoutSeconds: '59' }, 'controlIdleTimeoutSeconds'],
  ['idle timeout above 6000', { controlIdleTimeoutSeconds: '6001' }, 'controlIdleTimeoutSeconds'],
  ['keepalive not below idle timeout', { controlIdleTimeoutSeconds: '120', tcpKeepaliveSeconds: '120' }, 'tcpKeepaliveSeconds'],
  ['deregistration delay negative', { deregistrationDelaySeconds: '-1' }, 'deregistrationDelaySeconds'],
  ['deregistration delay above 3600', { deregistrationDelaySeconds: '3601' }, 'deregistrationDelaySeconds'],
  ['crossZone not boolean', { crossZone: 'maybe' }, 'crossZone'],
  ['partial secret ARN', { ftpUsersSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ftp-users' }, 'ftpUsersSecretArn'],
  ['secret ARN of another service', { ftpUsersSecretArn: 'arn:aws:s3:::bucket' }, 'ftpUsersSecretArn'],
  ['initial user with capitals', { initialFtpUser: 'Admin' }, 'initialFtpUser'],
  ['initial user with colon', { initialFtpUser: 'a:b' }, 'initialFtpUser'],
  ['removal policy unknown', { removalPolicy: 'delete' }, 'removalPolicy'],
  ['misspelt key', { backendCont: '3' }, 'backendCont'],
  ['misspelt nested key', { 'healthCheck.intervalSecond': '5' }, 'healthCheck.intervalSecond'],
  ['checker interval below 5', { 'healthCheck.intervalSeconds': '4' }, 'healthCheck.intervalSeconds'],
  ['checker timeout not below interval', { 'healthCheck.timeoutSeconds': '10' }, 'healthCheck.timeoutSeconds'],
  ['checker fall threshold zero', { 'healthCheck.fallThreshold': '0' }, 'healthCheck.fallThreshold'],
  ['checker rise threshold 11', { 'healthCheck.riseThreshold': '11' }, 'healthCheck.riseThreshold'],
  ['checker enabled not boolean', { 'healthCheck.enabled': 'sometimes' }, 'healthCheck.enabled'],
  ['NLB check interval 2', { 'nlbHealthCheck.intervalSeconds': '2' }, 'nlbHealthCheck.intervalSeconds'],
  ['NLB healthy threshold 1', { 'nlbHealthCheck.healthyThreshold': '1' }, 'nlbHealthCheck.healthyThreshold'],
  ['max per IP above max clients', { maxClientsPerBackend: '10', maxSessionsPerIp: '11' }, 'maxSessionsPerIp'],
  ['NAT gateways zero', { natGateways: '0' }, 'natGateways'],
  ['stack name with underscore', { stackName: 'my_stack' }, 'stackName'],
  ['health check as broken JSON', { healthCheck: '{"intervalSeconds": }' }, 'healthCheck'],
  ['unknown server', { ftpServer: 'pureftpd' }, 'ftpServer'],
  ['NLB check timeout not below its interval', { 'nlbHealthCheck.timeoutSeconds': '10' }, 'nlbHealthCheck.timeoutSeconds'],
  ['NLB unhealthy threshold 11', { 'nlbHealthCheck.unhealthyThreshold': '11' }, 'nlbHealthCheck.unhealthyThreshold'],
  ['alarm email without a domain', { alarmEmail: 'ops' }, 'alarmEmail'],
  ['zero healthy backends', { minHealthyBackends: '0' }, 'minHealthyBackends'],
  ['retention CloudWatch does not offer', { auditLogRetentionDays: '100' }, 'auditLogRetentionDays'],
  ['failed-login threshold zero', { failedLoginAlarmThreshold: '0' }, 'failedLoginAlarmThreshold'],
  ['zero sessions per backend', { maxClientsPerBackend: '0' }, 'maxClientsPerBackend'],
  ['bans enabled not boolean', { 'bans.enabled': 'yes please' }, 'bans.enabled'],
  ['ban after 2 failures (below a session of typos)', { 'bans.failedLogins': '2' }, 'bans.failedLogins'],
  ['ban window of 0 minutes', { 'bans.windowMinutes': '0' }, 'bans.windowMinutes'],
  ['ban longer than a week', { 'bans.banMinutes': '10081' }, 'bans.banMinutes'],
  ['ban sync every second', { 'bans.syncSeconds': '1' }, 'bans.syncSeconds'],
  ['never-ban CIDR not IPv4', { 'bans.neverBanCidrs': '203.0.113.0/33' }, 'bans.neverBanCidrs.0'],
];

describe('config validation', () => {
  it.each(INVALID_CONTEXT)('rejects %s, naming the field', (_name, context, field) => {
    const err = problemsOf(() => loadConfig({ context, cwd: os.tmpdir() }));
    expect(err.problems.map((p) => p.field)).toContain(field);
    expect(err.message).toContain(`${field} = `);
    expect(err.message).toContain('Nothing was synthesized');
  });

  it('has an invalid case for every setting of the schema (a new setting needs one)', () => {
    // A field as the message names it: `allowedCidrs.1` is the setting allowedCidrs.
    const covered = new Set(INVALID_CONTEXT.map(([, , field]) => field.replace(/\.\d+$/, '')));
    const missing = settingsDoc()
      .map((row) => row.key)
      .filter((key) => !covered.has(key));
    expect(missing).toEqual([]);
  });

  it('lists every invalid field at once, not just the first', () => {
    const err = problemsOf(() =>
      loadConfig({ context: { backendCount: '0', maxAzs: '9', crossZone: 'perhaps', removalPolicy: 'x' }, cwd: os.tmpdir() }),
    );
    expect(err.problems.map((p) => p.field).sort()).toEqual(['backendCount', 'crossZone', 'maxAzs', 'removalPolicy']);
    expect(err.message).toContain('4 problems');
  });

  it('explains the listener budget with the largest N and r that fit', () => {
    const err = problemsOf(() => loadConfig({ context: { backendCount: '40' }, cwd: os.tmpdir() }));
    expect(err.message).toContain('needs 322 NLB listeners (1 for port 21 + 1 for SFTP + 40x8 passive)');
    expect(err.message).toContain('an NLB has 50');
    // No r deploys 40 backends (the stack would exceed 500 resources), so only N is suggested.
    expect(err.message).not.toContain('passivePortsPerBackend <=');
    expect(err.message).toContain('backendCount <= 6');
  });

  it('gives the allowed range and nearest valid value for numbers', () => {
    const err = problemsOf(() => loadConfig({ context: { backendCount: '0' }, cwd: os.tmpdir() }));
    expect(err.message).toContain('backendCount = 0 (from -c context): must be a whole number from 1 to 49. Nearest valid value: 1.');
  });

  it('suggests the setting a typo meant', () => {
    const err = problemsOf(() => loadConfig({ context: { backendCont: '3' }, cwd: os.tmpdir() }));
    expect(err.message).toContain('did you mean backendCount?');
  });

  it('ignores CDK-owned context such as feature flags and CLI settings', () => {
    const c = loadConfig({
      context: { '@aws-cdk/core:newStyleStackSynthesis': true, 'aws:cdk:enable-path-metadata': true, backendCount: '3' },
      cwd: os.tmpdir(),
    });
    expect(c.backendCount).toBe(3);
  });
});

describe('config sources', () => {
  function withFile(content: unknown, fn: (dir: string) => void) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-config-'));
    try {
      fs.writeFileSync(path.join(dir, 'nlb-ftp.config.json'), typeof content === 'string' ? content : JSON.stringify(content));
      fn(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it('applies defaults when nothing is given', () => {
    const c = loadConfig({ context: {}, cwd: os.tmpdir() });
    expect(c).toMatchObject({
      backendCount: 2,
      passivePortsPerBackend: 8,
      passivePortStart: 40000,
      crossZone: true,
      removalPolicy: 'retain',
    });
    expect(c.healthCheck).toEqual({ enabled: true, intervalSeconds: 10, timeoutSeconds: 5, fallThreshold: 2, riseThreshold: 2 });
  });

  it('merges defaults < nlb-ftp.config.json < context', () => {
    withFile({ backendCount: 4, passivePortsPerBackend: 4, healthCheck: { fallThreshold: 3 } }, (dir) => {
      const c = loadConfig({ context: { backendCount: '5', 'healthCheck.riseThreshold': '4' }, cwd: dir });
      expect(c.backendCount).toBe(5); // context wins over the file
      expect(c.passivePortsPerBackend).toBe(4); // file wins over the default
      expect(c.healthCheck.fallThreshold).toBe(3); // nested file value survives a nested context key
      expect(c.healthCheck.riseThreshold).toBe(4);
      expect(c.healthCheck.intervalSeconds).toBe(10);
    });
  });

  it('reads -c config=path and reports its errors with the file as source', () => {
    withFile({ backendCount: 0 }, (dir) => {
      const err = problemsOf(() => loadConfig({ context: { config: 'nlb-ftp.config.json' }, cwd: dir }));
      expect(err.message).toContain('backendCount = 0 (from nlb-ftp.config.json)');
    });
  });

  it('fails clearly when the named config file is missing or not JSON', () => {
    expect(problemsOf(() => loadConfig({ context: { config: 'nope.json' }, cwd: os.tmpdir() })).message).toContain('file not found');
    withFile('{ not json', (dir) => {
      expect(problemsOf(() => loadConfig({ context: {}, cwd: dir })).problems[0].field).toBe('config');
    });
  });

  it('coerces context strings: numbers, booleans, comma lists and JSON lists', () => {
    const c = loadConfig({
      context: { backendCount: '3', crossZone: 'false', allowedCidrs: '198.51.100.0/24, 203.0.113.7/32', 'healthCheck.enabled': 'no' },
      cwd: os.tmpdir(),
    });
    expect(c.backendCount).toBe(3);
    expect(c.crossZone).toBe(false);
    expect(c.allowedCidrs).toEqual(['198.51.100.0/24', '203.0.113.7/32']);
    expect(c.healthCheck.enabled).toBe(false);
    expect(loadConfig({ context: { allowedCidrs: '["10.0.0.0/8"]' }, cwd: os.tmpdir() }).allowedCidrs).toEqual(['10.0.0.0/8']);
  });

  it('accepts a complete secret ARN', () => {
    expect(parseConfig({ ftpUsersSecretArn: ARN }).ftpUsersSecretArn).toBe(ARN);
  });
});

describe('valid configurations produce the expected plan', () => {
  it.each([
    [{ backendCount: 3 }, 26, [40000, 40007], [40016, 40023]],
    [{ backendCount: 6 }, 50, [40000, 40007], [40040, 40047]],
    [{ ftpServer: 'vsftpd', backendCount: 23, passivePortsPerBackend: 1, passivePortStart: 50000 }, 24, [50000, 50000], [50022, 50022]],
    [{ backendCount: 1, passivePortsPerBackend: 49, passivePortStart: 65487, sftp: 'off' }, 50, [65487, 65535], [65487, 65535]],
    [{ backendCount: 1, passivePortsPerBackend: 48, passivePortStart: 65488 }, 50, [65488, 65535], [65488, 65535]],
  ] as const)('%j', (input, listeners, first, last) => {
    const c = parseConfig(input);
    const plan = planPorts({ ...c, sftpListener: sftpEnabled(c) });
    expect(plan.listenerCount).toBe(listeners);
    expect([plan.slots[0].minPort, plan.slots[0].maxPort]).toEqual(first);
    const l = plan.slots[plan.slots.length - 1];
    expect([l.minPort, l.maxPort]).toEqual(last);
  });
});

describe('settings documentation', () => {
  it('gives every setting a reason', () => {
    for (const row of settingsDoc()) expect(row.reason, row.key).not.toBe('');
  });

  it('the settings table in docs/configuration.md lists every setting of the schema', () => {
    const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/configuration.md'), 'utf8');
    for (const row of settingsDoc()) expect(doc, `docs/configuration.md is missing ${row.key}`).toContain(`| \`${row.key}\` |`);
    expect(doc, 'the settings table is stale: run npm run docs:config').toContain(settingsTable());
    expect(Object.keys(ConfigSchema.shape).length).toBeGreaterThan(10);
  });
});
