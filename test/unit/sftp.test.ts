/**
 * SFTP's pure parts: the host keys (generation, fingerprints as OpenSSH prints them, the secret's
 * shape), the custom resource that makes them once, ProFTPD's SFTP virtual host and hidden uploads,
 * and the boot's settings. ssh-keygen is the reference for fingerprints and known_hosts lines.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { synth } from '../../harness/synth';
import { apply } from '../../lambda/certificate-resource/handler';
import { ElbTargetRegistry } from '../../lambda/health-checker/target-registry';
import { renderProftpdConf, SFTP_BACKEND_PORT, SFTP_USER_KEYS_DIR } from '../../lib/backend/proftpd-conf';
import { renderBootSettings, SCRIPTS_DIR, settingsFile } from '../../lib/backend/user-data';
import {
  createSshHostKeys,
  knownHostsLine,
  parseSshHostKeys,
  SSH_HOST_KEY_TYPES,
  SSH_HOST_KEYS_RESOURCE_TYPE,
  sshFingerprint,
} from '../../lib/shared/ssh-host-keys';

const keys = createSshHostKeys();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-sftp-unit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('SFTP host keys', () => {
  it('are ECDSA P-256 and RSA 3072, and ssh-keygen prints the fingerprints this module computes', () => {
    for (const t of SSH_HOST_KEY_TYPES) {
      const file = path.join(tmp, t);
      fs.writeFileSync(file, keys[t], { mode: 0o600 });
      const printed = execFileSync('ssh-keygen', ['-lf', file], { encoding: 'utf8' });
      expect(printed).toContain(sshFingerprint(keys[t]));
      expect(printed).toMatch(t === 'rsa' ? /^3072 .*\(RSA\)$/m : /^256 .*\(ECDSA\)$/m);
    }
  });

  it('known_hosts lines name [host]:port (or the host alone on 22) and hold the key ssh-keygen derives', () => {
    const pub = execFileSync('ssh-keygen', ['-yf', path.join(tmp, 'ecdsa')], { encoding: 'utf8' }).trim();
    expect(knownHostsLine('198.18.0.2', 22, keys.ecdsa)).toBe(`198.18.0.2 ${pub}`);
    expect(knownHostsLine('198.18.0.2', 2200, keys.ecdsa)).toBe(`[198.18.0.2]:2200 ${pub}`);
  });

  it('the secret must hold both keys, each of its type, as PEM: each refusal names what is wrong', () => {
    expect(parseSshHostKeys(JSON.stringify(keys))).toEqual(keys);
    expect(() => parseSshHostKeys('not json')).toThrow(/must be JSON/);
    expect(() => parseSshHostKeys(JSON.stringify({ rsa: keys.rsa }))).toThrow(/no "ecdsa" private key/);
    expect(() => parseSshHostKeys(JSON.stringify({ ecdsa: keys.rsa, rsa: keys.rsa }))).toThrow(/"ecdsa" key is ssh-rsa/);
  });

  it('the boot writes them in the order the Python side names them (nlb-ftp-secrets.py HOST_KEY_TYPES)', () => {
    const py = fs.readFileSync(path.join(SCRIPTS_DIR, 'nlb-ftp-secrets.py'), 'utf8');
    expect(py).toContain(`HOST_KEY_TYPES = (${SSH_HOST_KEY_TYPES.map((t) => `"${t}"`).join(', ')})`);
    const secret = path.join(tmp, 'secret.json');
    fs.writeFileSync(secret, JSON.stringify({ SecretString: JSON.stringify(keys) }));
    execFileSync(
      'python3',
      [path.join(SCRIPTS_DIR, 'nlb-ftp-secrets.py'), '--api', 'host-keys', path.join(tmp, 'a'), path.join(tmp, 'b')],
      {
        input: fs.readFileSync(secret),
      },
    );
    expect(fs.readFileSync(path.join(tmp, 'a'), 'utf8')).toBe(`${keys.ecdsa.trim()}\n`);
    expect(fs.readFileSync(path.join(tmp, 'b'), 'utf8')).toBe(`${keys.rsa.trim()}\n`);
  });
});

describe('SFTP host keys custom resource', () => {
  const sm = mockClient(SecretsManagerClient);
  afterAll(() => sm.restore());
  afterEach(() => sm.reset());
  const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:nlb-ftp-sftp-AbCdEf';
  const base = {
    ResponseURL: 'http://127.0.0.1:1/',
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/nlb-ftp/x',
    RequestId: 'r-1',
    LogicalResourceId: 'SftpHostKeysGenerated',
    ResourceType: SSH_HOST_KEYS_RESOURCE_TYPE,
  };

  it('Create: puts both keys into the secret; the physical ID is both fingerprints, ECDSA first', async () => {
    sm.on(PutSecretValueCommand).resolves({});
    const r = await apply(
      { ...base, RequestType: 'Create', ResourceProperties: { SecretArn: secretArn } as never },
      new SecretsManagerClient({}),
    );
    const calls = sm.commandCalls(PutSecretValueCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input.SecretId).toBe(secretArn);
    const stored = parseSshHostKeys(calls[0].args[0].input.SecretString as string);
    expect(r).toEqual({ Status: 'SUCCESS', PhysicalResourceId: `${sshFingerprint(stored.ecdsa)} ${sshFingerprint(stored.rsa)}` });
  });

  it('Update of anything but the secret keeps the keys clients pinned (no write); Delete touches nothing', async () => {
    const props = { SecretArn: secretArn } as never;
    const kept = await apply(
      { ...base, RequestType: 'Update', PhysicalResourceId: 'SHA256:a SHA256:b', ResourceProperties: props, OldResourceProperties: props },
      new SecretsManagerClient({}),
    );
    expect(kept).toEqual({ Status: 'SUCCESS', PhysicalResourceId: 'SHA256:a SHA256:b' });
    const deleted = await apply(
      { ...base, RequestType: 'Delete', PhysicalResourceId: 'SHA256:a SHA256:b', ResourceProperties: props },
      new SecretsManagerClient({}),
    );
    expect(deleted.Status).toBe('SUCCESS');
    expect(sm.calls()).toHaveLength(0);
  });
});

describe("ProFTPD's SFTP and hidden uploads", () => {
  const slot = { slot: 0, pasvAddress: '203.0.113.10', pasvMinPort: 40000, pasvMaxPort: 40007, maxClients: 200, maxPerIp: 20 };

  it("serves SFTP as a virtual host on 2222 with the stack's host keys, the users' public keys or passwords; what both share is in <Global>", () => {
    const conf = renderProftpdConf({ ...slot, listenAddress: '169.254.21.2', sftp: { port: SFTP_BACKEND_PORT } });
    expect(conf).toContain('LoadModule mod_sftp.c');
    const vhost = /<VirtualHost 169\.254\.21\.2>\n([\s\S]*?)<\/VirtualHost>/.exec(conf)?.[1] ?? '';
    expect(vhost).toMatch(/^ {2}Port 2222$/m);
    expect(vhost).toMatch(/^ {2}SFTPEngine on$/m);
    expect(vhost).toMatch(/^ {2}SFTPAuthMethods publickey password$/m);
    expect(vhost).toMatch(/^ {2}SFTPAuthorizedUserKeys file:\/etc\/nlb-ftp\/ssh-keys\/%u$/m);
    // Where the users sync writes them (nlb-ftp-apply-users.py's default) is where the config reads.
    const apply = fs.readFileSync(path.join(SCRIPTS_DIR, 'nlb-ftp-apply-users.py'), 'utf8');
    expect(apply).toContain(`KEYS_DIR = os.environ.get("NLBFTP_KEYS_DIR", "${SFTP_USER_KEYS_DIR}")`);
    expect(vhost.match(/^ {2}SFTPHostKey \/etc\/proftpd\/nlb-ftp-ssh-(ecdsa|rsa)\.key$/gm)).toHaveLength(2);
    const global = /<Global>\n([\s\S]*?)<\/Global>/.exec(conf)?.[1] ?? '';
    for (const d of [
      'AuthPAM on',
      'DefaultRoot /srv/ftp/users/%u',
      'MaxLoginAttempts 3',
      'MaxClientsPerHost 22',
      'HiddenStores on',
      'DeleteAbortedStores on',
    ]) {
      expect(global).toContain(d);
    }
    expect(global).toMatch(/^ExtendedLog \S+ AUTH,READ,WRITE,EXIT nlbftp-audit$/m);
    // No SFTP without keys to present.
    expect(() => renderProftpdConf({ ...slot, sftp: { port: 2222 }, paths: { ...EMPTY_KEYS } })).toThrow(/hostKeyFiles/);
  });

  it('without sftp: no mod_sftp, no virtual host; uploads are still hidden until complete', () => {
    const conf = renderProftpdConf(slot);
    expect(conf).not.toContain('mod_sftp');
    expect(conf).not.toContain('<VirtualHost');
    expect(conf).toContain('HiddenStores on');
    expect(conf).toContain('HideFiles "^\\.in\\..+\\.$"');
  });

  it("the boot's settings: the namespace forwards 2222, the sync fetches the keys; vsftpd is refused", () => {
    const p = {
      ftp: slot,
      region: 'eu-west-1',
      urlSuffix: 'amazonaws.com',
      fileSystemId: 'fs-1',
      usersSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:u-AbCdEf',
      healthSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:h-AbCdEf',
      keepaliveSeconds: 60,
      bundle: { bucket: 'b', key: 'k' },
      sftp: { port: SFTP_BACKEND_PORT, hostKeysSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf' },
    };
    const s = renderBootSettings(p, 'proftpd');
    expect(settingsFile(s, 'namespace-env').text).toContain('PORTS=21,2222,40000:40007\n');
    expect(s.env).toMatchObject({ HOST_KEYS_SECRET_ARN: p.sftp.hostKeysSecretArn });
    // The sync finds the key files in the config it installs, ECDSA's first (the secret's order).
    const conf = settingsFile(s, 'server-conf').text;
    expect([...conf.matchAll(/^\s*SFTPHostKey (\S+)$/gm)].map((m) => m[1])).toEqual([
      '/etc/proftpd/nlb-ftp-ssh-ecdsa.key',
      '/etc/proftpd/nlb-ftp-ssh-rsa.key',
    ]);
    // The user data carries no comment lines of the config (EC2's 16 KB), only its header.
    expect(conf.split('\n').filter((l) => l.trim().startsWith('#'))).toEqual([expect.stringMatching(/^# proftpd\.conf for nlb-ftp/)]);
    expect(() => renderBootSettings(p, 'vsftpd')).toThrow(/SFTP needs ProFTPD/);
  });
});

const EMPTY_KEYS = {
  pamServiceName: 'nlb-ftp',
  usersRoot: '/srv/ftp/users',
  transferLog: '/x',
  systemLog: '/x',
  auditLog: '/x',
  pidFile: '/x',
  scoreboardFile: '/x',
  user: 'proftpd',
  group: 'nogroup',
  hostKeyFiles: [],
};

describe("the checker's registry with SFTP", () => {
  const elb = mockClient(ElasticLoadBalancingV2Client);
  afterAll(() => elb.restore());
  afterEach(() => elb.reset());

  it("registers and deregisters on the SFTP port, and reads only that port's targets (draining ones are leaving)", async () => {
    elb.on(RegisterTargetsCommand).resolves({});
    elb.on(DeregisterTargetsCommand).resolves({});
    elb.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        { Target: { Id: 'i-1', Port: SFTP_BACKEND_PORT }, TargetHealth: { State: 'healthy' } },
        { Target: { Id: 'i-2', Port: SFTP_BACKEND_PORT }, TargetHealth: { State: 'draining' } },
        { Target: { Id: 'i-3', Port: 21 }, TargetHealth: { State: 'healthy' } },
      ],
    });
    const registry = new ElbTargetRegistry(new ElasticLoadBalancingV2Client({}), 'arn:sftp', SFTP_BACKEND_PORT);
    expect([...(await registry.describe())]).toEqual([['i-1', 'healthy']]);
    await registry.deregister(['i-1']);
    await registry.register(['i-2', 'i-3']);
    const calls = elb
      .calls()
      .filter((c) => !(c.args[0] instanceof DescribeTargetHealthCommand))
      .map((c) => {
        const input = c.args[0].input as { TargetGroupArn: string; Targets: Array<{ Id: string; Port: number }> };
        return [c.args[0].constructor.name, input.TargetGroupArn, input.Targets.map((t) => `${t.Id}:${t.Port}`).join(',')];
      });
    expect(calls).toEqual([
      ['DeregisterTargetsCommand', 'arn:sftp', 'i-1:2222'],
      ['RegisterTargetsCommand', 'arn:sftp', 'i-2:2222,i-3:2222'],
    ]);
  });

  it('the stack gives the checker the SFTP group and lets it register there and in port 21 only', () => {
    const s = synth({});
    const fn = Object.values(s.json.Resources).find(
      (r) => r.Type === 'AWS::Lambda::Function' && JSON.stringify(r.Properties).includes('NLBFTP_SFTP_TG_ARN'),
    );
    if (!fn) throw new Error('no function has NLBFTP_SFTP_TG_ARN');
    const vars = (fn.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
    expect(vars.NLBFTP_SFTP_PORT).toBe(String(SFTP_BACKEND_PORT));
    expect(JSON.stringify(vars.NLBFTP_SFTP_TG_ARN)).toMatch(/LoadBalancerSftpTargetGroup/);
    const statements = Object.values(s.json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap(
        (r) => (r.Properties as { PolicyDocument: { Statement: Array<{ Action: unknown; Resource: unknown }> } }).PolicyDocument.Statement,
      )
      .filter((st) => JSON.stringify(st.Action).includes('elasticloadbalancing:RegisterTargets'));
    expect(statements.map((st) => JSON.stringify(st.Resource)).sort()).toEqual([
      expect.stringMatching(/LoadBalancerControlTargetGroup/),
      expect.stringMatching(/LoadBalancerSftpTargetGroup/),
    ]);
  });
});
