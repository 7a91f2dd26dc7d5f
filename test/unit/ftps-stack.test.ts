/**
 * FTPS in the synthesized template: what each mode renders on the backends, who may read the
 * certificate, and that no certificate or key material is in the template.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootSettingsOf, launchTemplates, resourcesOfType, type Synthesized, synth } from '../../harness/synth';
import { flatten, refOf } from '../../harness/template';
import { type BootSettings, SCRIPTS_DIR, SYNC_SCRIPT, settingsFile } from '../../lib/backend/user-data';
import { CheckerEnv } from '../../lib/shared/contract';

type Statement = { Action: string | string[]; Resource: unknown };
const MY_CERT = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ftp-example-com-AbCdEf';

/** The vsftpd.conf of one slot's settings. */
function vsftpdConf(settings: BootSettings): string {
  const f = settingsFile(settings, 'server-conf');
  expect(f.path).toBe('/etc/vsftpd/vsftpd.conf');
  return f.text;
}

/** Every policy statement granting `action`, with the role(s) its policy is attached to. */
function grants(s: Synthesized, action: string): Array<{ roles: string[]; resources: unknown[] }> {
  return resourcesOfType(s, 'AWS::IAM::Policy').flatMap(([, p]) =>
    (p.PolicyDocument as { Statement: Statement[] }).Statement.filter((st) => ([] as string[]).concat(st.Action).includes(action)).map(
      (st) => ({ roles: (p.Roles as unknown[]).map(refOf), resources: ([] as unknown[]).concat(st.Resource) }),
    ),
  );
}

describe.each([
  ['required', { force_local_logins_ssl: 'YES', force_local_data_ssl: 'YES', ssl_enable: 'YES' }],
  ['optional', { force_local_logins_ssl: 'NO', force_local_data_ssl: 'NO', ssl_enable: 'YES' }],
  ['off', { ssl_enable: 'NO' }],
] as const)('ftps=%s', (mode, expected) => {
  // Plain FTP only to private ranges: any other range would need allowPlaintextFromInternet.
  const s = synth({ ftpServer: 'vsftpd', backendCount: 2, ftps: mode, ...(mode === 'off' ? { allowedCidrs: ['10.0.0.0/8'] } : {}) });
  const scripts = bootSettingsOf(s);

  it('renders the matching vsftpd settings on every backend', () => {
    expect(scripts).toHaveLength(2);
    for (const script of scripts) {
      const conf = vsftpdConf(script);
      for (const [k, v] of Object.entries(expected)) expect(conf).toMatch(new RegExp(`^${k}=${v}$`, 'm'));
      if (mode === 'off') {
        expect(conf).not.toMatch(/^rsa_cert_file=/m);
        expect(script.files['openssl-conf']).toBeUndefined();
        expect(script.env.CERTIFICATE_SECRET_ARN).toBe('');
      } else {
        expect(conf).toMatch(/^rsa_cert_file=\/etc\/vsftpd\/nlb-ftp\.crt$/m);
        expect(conf).toMatch(/^rsa_private_key_file=\/etc\/vsftpd\/nlb-ftp\.key$/m);
        expect(conf).toMatch(/^require_ssl_reuse=YES$/m);
        expect(conf).toMatch(/^allow_anon_ssl=NO$/m);
        // TLS 1.2 floor and ceiling for the vsftpd process; the key lands 0600.
        const openssl = settingsFile(script, 'openssl-conf');
        expect(openssl.path).toBe('/etc/vsftpd/openssl.cnf');
        expect(openssl.text).toMatch(/^MinProtocol = TLSv1\.2$/m);
        expect(openssl.text).toMatch(/^MaxProtocol = TLSv1\.2$/m);
        expect(fs.readFileSync(path.join(SCRIPTS_DIR, 'units/vsftpd.service.d/nlb-ftp-openssl.conf'), 'utf8')).toContain(
          `Environment=OPENSSL_CONF=${openssl.path}`,
        );
        expect(script.env).toMatchObject({ CERT_FILE: '/etc/vsftpd/nlb-ftp.crt', KEY_FILE: '/etc/vsftpd/nlb-ftp.key' });
        expect(script.env.CERTIFICATE_SECRET_ARN).toMatch(/^\$\{Ref:FtpsCertificateSecret/);
        expect(fs.readFileSync(SYNC_SCRIPT, 'utf8')).toContain('install -m 0600 -o root -g root "$new/key" "$KEY_FILE"');
      }
    }
  });

  it('tells the checker the mode, and where the certificate is when there is one', () => {
    const [, fn] = resourcesOfType(s, 'AWS::Lambda::Function').find(([id]) => id.startsWith('HealthCheckerFunction')) as [
      string,
      Record<string, unknown>,
    ];
    const env = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env[CheckerEnv.ftps]).toBe(mode);
    if (mode === 'off') expect(env[CheckerEnv.certificateSecretArn]).toBeUndefined();
    else expect(refOf(env[CheckerEnv.certificateSecretArn])).toMatch(/^FtpsCertificateSecret/);
  });

  it('keeps every NLB listener TCP: the NLB never terminates (or reads) FTPS', () => {
    const protocols = new Set(resourcesOfType(s, 'AWS::ElasticLoadBalancingV2::Listener').map(([, p]) => p.Protocol));
    expect([...protocols]).toEqual(['TCP']);
  });
});

describe('the self-signed certificate (no ftpsCertificateSecretArn)', () => {
  const s = synth({ backendCount: 3, ftpsCertificateNames: ['ftp.example.com'] });
  const json = JSON.stringify(s.json);
  const [certSecretId] = resourcesOfType(s, 'AWS::SecretsManager::Secret').find(([id]) => id.startsWith('FtpsCertificateSecret')) as [
    string,
    unknown,
  ];

  it('is made once by a custom resource for the NLB name, every static IP and your names', () => {
    const resources = Object.entries(s.json.Resources).filter(([, r]) => r.Type === 'Custom::NlbFtpSelfSignedCertificate');
    expect(resources).toHaveLength(1);
    const props = resources[0][1].Properties as Record<string, unknown>;
    expect(refOf(props.SecretArn)).toBe(certSecretId);
    expect(flatten(props.CommonName)).toMatch(/^\$\{LoadBalancer\w+\.DNSName\}$/);
    expect((props.Names as unknown[]).map(flatten)).toEqual([
      expect.stringMatching(/^\$\{LoadBalancerEip0\w+\.PublicIp\}$/),
      expect.stringMatching(/^\$\{LoadBalancerEip1\w+\.PublicIp\}$/),
      'ftp.example.com',
    ]);
  });

  it('is read only by the backends and the checker; the generator may only put it', () => {
    const readers = grants(s, 'secretsmanager:GetSecretValue').filter((g) =>
      g.resources.some((r) => JSON.stringify(r).includes(certSecretId)),
    );
    expect(readers.flatMap((g) => g.roles).sort()).toEqual([
      expect.stringMatching(/^BackendsRole/),
      expect.stringMatching(/^HealthCheckerFunctionServiceRole/),
    ]);
    // The same generator puts the SFTP host keys (SftpHostKeys), each statement to its own secret.
    const writers = grants(s, 'secretsmanager:PutSecretValue').filter((g) =>
      g.resources.some((r) => JSON.stringify(r).includes(certSecretId)),
    );
    expect(writers).toHaveLength(1);
    expect(writers[0].roles).toEqual([expect.stringMatching(/^FtpsCertificateGeneratorServiceRole/)]);
    expect(writers[0].resources.map(refOf)).toEqual([certSecretId]);
    // The generator reads nothing.
    expect(grants(s, 'secretsmanager:GetSecretValue').flatMap((g) => g.roles)).not.toContainEqual(
      expect.stringMatching(/^FtpsCertificateGenerator/),
    );
  });

  it('is in the secret before any backend boots or the checker runs', () => {
    const [crId] = Object.entries(s.json.Resources).find(([, r]) => r.Type === 'Custom::NlbFtpSelfSignedCertificate') as [string, unknown];
    const deps = (id: string) => ([] as string[]).concat((s.json.Resources[id] as { DependsOn?: string[] }).DependsOn ?? []);
    const groups = resourcesOfType(s, 'AWS::AutoScaling::AutoScalingGroup');
    expect(groups.length).toBeGreaterThan(0);
    for (const [id] of groups) expect(deps(id)).toContain(crId);
    const [fnId] = resourcesOfType(s, 'AWS::Lambda::Function').find(([id]) => id.startsWith('HealthCheckerFunction')) as [string, unknown];
    expect(deps(fnId)).toContain(crId);
  });

  it('puts no certificate or key material in the template', () => {
    const bootScripts = launchTemplates(s).map(([, lt]) => flatten(lt.UserData));
    expect(bootScripts.length).toBeGreaterThan(0);
    const template = JSON.parse(json) as {
      Resources: Record<string, { Type: string; Properties: { LaunchTemplateData?: { UserData?: unknown } } }>;
    };
    for (const r of Object.values(template.Resources))
      if (r.Type === 'AWS::EC2::LaunchTemplate') delete r.Properties.LaunchTemplateData?.UserData;
    const rest = JSON.stringify(template);
    for (const text of [rest, ...bootScripts]) {
      expect(text).not.toMatch(/-----BEGIN/);
      expect(text).not.toMatch(/MII[A-Za-z0-9+/]{20}/); // base64 DER
    }
    s.template.hasOutput('FtpsCertificateFingerprint', {});
  });
});

describe('your own certificate (ftpsCertificateSecretArn)', () => {
  const s = synth({ backendCount: 2, ftpsCertificateSecretArn: MY_CERT });

  it('creates no certificate, and grants read on exactly that ARN to the backends and the checker only', () => {
    expect(Object.values(s.json.Resources).filter((r) => r.Type === 'Custom::NlbFtpSelfSignedCertificate')).toEqual([]);
    expect(Object.keys(s.json.Resources).filter((id) => id.startsWith('FtpsCertificateGenerator'))).toEqual([]);
    const readers = grants(s, 'secretsmanager:GetSecretValue').filter((g) => g.resources.includes(MY_CERT));
    expect(readers.flatMap((g) => g.roles).sort()).toEqual([
      expect.stringMatching(/^BackendsRole/),
      expect.stringMatching(/^HealthCheckerFunctionServiceRole/),
    ]);
    expect(bootSettingsOf(s).map((x) => x.env.CERTIFICATE_SECRET_ARN)).toEqual([MY_CERT, MY_CERT]);
    expect(Object.keys(s.template.toJSON().Outputs)).not.toContain('FtpsCertificateFingerprint');
  });
});
