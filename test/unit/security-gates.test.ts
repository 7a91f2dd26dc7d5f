/**
 * Security gates over the synthesized app: the cdk-nag AwsSolutions pack with zero unsuppressed
 * errors or warnings, the project's own hardening checks, and template hygiene. Each gate is also
 * run on a deliberately broken input to prove it can fail.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { CDK_JSON_CONTEXT, NO_BUNDLING, resourcesOfType, scratchOutdir, synth } from '../../harness/synth';
import { type ConfigInput, parseConfig } from '../../lib/config';
import { NlbFtpStack } from '../../lib/infra/nlb-ftp-stack';
import { findSecrets, logGroupsWithoutRetention, sshExposure, wildcardGrants } from '../helpers/hardening';

const CONTEXT = {
  ...CDK_JSON_CONTEXT,
  ...NO_BUNDLING,
  // Keep nag's error annotations as annotations, so the test can list them instead of synth failing.
  '@aws-cdk/core:annotationsInValidationReport': false,
};

function nagFindings(build: (app: App) => Stack): string[] {
  const app = new App({ outdir: scratchOutdir(), context: CONTEXT });
  const stack = build(app);
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: false }));
  const a = Annotations.fromStack(stack);
  return [
    ...a.findError('*', Match.stringLikeRegexp('^AwsSolutions-')),
    ...a.findWarning('*', Match.stringLikeRegexp('^AwsSolutions-')),
  ].map((m) => `${m.id}: ${String(m.entry.data).split(':')[0]}`);
}

const nlbFtp = (input: ConfigInput) => (app: App) => new NlbFtpStack(app, 'NlbFtp', { config: parseConfig(input) });

/** A stack with exactly the two mistakes the gates must catch. */
function brokenStack(app: App): Stack {
  const stack = new Stack(app, 'Broken');
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 1,
    natGateways: 0,
    subnetConfiguration: [{ name: 'p', subnetType: ec2.SubnetType.PUBLIC }],
  });
  const sg = new ec2.SecurityGroup(stack, 'Sg', { vpc });
  sg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(22), 'ssh from anywhere');
  const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
  role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }));
  return stack;
}

describe('cdk-nag AwsSolutions', () => {
  it('has no unsuppressed error or warning with the default config', () => {
    expect(nagFindings(nlbFtp({}))).toEqual([]);
  });

  it('has no unsuppressed error or warning with a maximal config (FTPS required, alarm email, N=5)', () => {
    const maximal = { ftps: 'required', backendCount: 5, alarmEmail: 'ops@example.com' } as const;
    expect(nagFindings(nlbFtp(maximal))).toEqual([]);
    expect(nagFindings(nlbFtp({ ...maximal, allowedCidrs: ['198.51.100.0/24'] }))).toEqual([]);
    // The other FTPS variants: your own certificate (no generator), and plain FTP.
    expect(
      nagFindings(nlbFtp({ ...maximal, ftpsCertificateSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:c-AbCdEf' })),
    ).toEqual([]);
    expect(nagFindings(nlbFtp({ ...maximal, ftps: 'off', allowPlaintextFromInternet: true }))).toEqual([]);
    expect(nagFindings(nlbFtp({ ...maximal, ftpServer: 'proftpd' }))).toEqual([]);
  });

  it('fails a stack with an open port 22 and a wildcard IAM resource', () => {
    const findings = nagFindings(brokenStack);
    expect(findings.some((f) => f.includes('AwsSolutions-EC23'))).toBe(true);
    expect(findings.some((f) => f.includes('AwsSolutions-IAM5'))).toBe(true);
  });

  it('gives every acknowledgement a specific reason', () => {
    const s = synth({ backendCount: 2 });
    const reasons = Object.values(s.json.Resources).flatMap(
      (r) =>
        (r as { Metadata?: { cdk_nag?: { rules_to_suppress: Array<{ id: string; reason: string }> } } }).Metadata?.cdk_nag
          ?.rules_to_suppress ?? [],
    );
    expect(reasons.length).toBeGreaterThan(5);
    for (const r of reasons) {
      expect(r.reason.length, r.id).toBeGreaterThan(60);
      expect(r.reason).not.toMatch(/^(not needed|n\/a|none|ok)\.?$/i);
    }
  });
});

describe('hardening', () => {
  const s = synth({ backendCount: 3, alarmEmail: 'ops@example.com' });
  const resources = s.json.Resources;

  it('grants no IAM wildcard resource except where the API allows nothing narrower', () => {
    expect(wildcardGrants(resources)).toEqual([]);
  });

  it('opens no port 22 and uses no SSH key pair anywhere', () => {
    expect(sshExposure(resources)).toEqual([]);
  });

  it('gives every log group a retention period', () => {
    expect(resourcesOfType(s, 'AWS::Logs::LogGroup').length).toBeGreaterThanOrEqual(2);
    expect(logGroupsWithoutRetention(resources)).toEqual([]);
  });

  it("lets backends out only on HTTPS, HTTP (Debian's signed packages) and NFS to the file system", () => {
    for (const b of s.stack.backends.backends) {
      const sgId = s.stack.getLogicalId(b.securityGroup.node.defaultChild as never);
      const inline = ((resources[sgId].Properties as Record<string, unknown>).SecurityGroupEgress as Array<Record<string, unknown>>) ?? [];
      const separate = resourcesOfType(s, 'AWS::EC2::SecurityGroupEgress')
        .filter(([, p]) => JSON.stringify(p.GroupId).includes(sgId))
        .map(([, p]) => p);
      const rules = [...inline, ...separate].map((r) => `${r.IpProtocol}:${r.FromPort}-${r.ToPort}:${r.CidrIp ?? 'sg'}`).sort();
      expect(rules).toEqual(['tcp:2049-2049:sg', 'tcp:443-443:0.0.0.0/0', 'tcp:80-80:0.0.0.0/0']);
    }
  });

  it('the checks catch a deliberately broken stack', () => {
    const app = new App({ outdir: scratchOutdir(), context: CONTEXT });
    const broken = brokenStack(app);
    const json = app.synth().getStackByName(broken.stackName).template as { Resources: Parameters<typeof sshExposure>[0] };
    expect(sshExposure(json.Resources)).toEqual([expect.stringContaining('port 22')]);
    expect(wildcardGrants(json.Resources)).toEqual([expect.stringContaining('s3:GetObject')]);
  });
});

describe('template hygiene', () => {
  it('holds no password, PEM block or AWS key in the template, user data or asset manifest', () => {
    const outdir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'nlbftp-hygiene-'));
    try {
      const app = new App({ outdir, context: { ...CONTEXT } });
      new NlbFtpStack(app, 'NlbFtp', { config: parseConfig({ backendCount: 3, alarmEmail: 'ops@example.com' }) });
      app.synth();
      const files = fs.readdirSync(outdir).filter((f) => /\.(json)$/.test(f));
      expect(files).toEqual(expect.arrayContaining(['NlbFtp.template.json', 'NlbFtp.assets.json']));
      for (const f of files) expect(findSecrets(fs.readFileSync(path.join(outdir, f), 'utf8')), f).toEqual([]);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('the scan finds a seeded secret in a fixture', () => {
    const template = JSON.stringify(synth({}).json);
    const seeded = [
      template.replace(
        '"Resources":{',
        '"Resources":{"Leak":{"Type":"AWS::SecretsManager::Secret","Properties":{"SecretString":"hunter2-hunter2"}},',
      ),
      `${template}\n-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----`,
      template.replace('"Resources":{', '"Resources":{"K":{"Type":"X","Properties":{"Key":"AKIAABCDEFGHIJKLMNOP"}},'),
      `${template}\npassword=Tr0ub4dor&3`,
    ];
    expect(seeded.map((t) => findSecrets(t).length > 0)).toEqual([true, true, true, true]);
    expect(findSecrets(template, ['Kx9-known-generated-pw'])).toEqual([]);
    expect(findSecrets(`${template}Kx9-known-generated-pw`, ['Kx9-known-generated-pw'])).toHaveLength(1);
  });
});
