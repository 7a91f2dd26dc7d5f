/**
 * cfn-lint (1.51, with the CloudFormation registry schemas it ships) over the default template and
 * the largest template of each server, as a gate: no error, and no warning that is not named and
 * justified below. cfn-lint checks what CDK's own assertions cannot: property schemas, value
 * ranges, intrinsic-function shapes and references across the whole template.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { synth } from '../../harness/synth';
import type { ConfigInput } from '../../lib/config';

/** Warnings that are expected, each with why it is harmless. Matched on rule and message. */
const JUSTIFIED: ReadonlyArray<{ rule: string; message: RegExp; why: string }> = [
  {
    rule: 'W3005',
    message:
      /^'\w*(ServiceRole|CustomResourceProviderRole)\w*' dependency already enforced by a 'GetAtt' at 'Resources\/\w+\/Properties\/Role'$/,
    why: "CDK makes each Lambda function DependsOn its role's default policy and role, which a GetAtt of the role already implies; redundant, not wrong",
  },
];

interface Finding {
  readonly Rule: { readonly Id: string };
  readonly Level: string;
  readonly Message: string;
  readonly Location: { readonly Path: readonly (string | number)[] };
}

function lint(file: string): Finding[] {
  const r = spawnSync('cfn-lint', ['--format', 'json', '--', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return JSON.parse(r.stdout || '[]') as Finding[];
}

describe('cfn-lint gate', () => {
  let dir: string;
  beforeAll(() => {
    requireTools(['cfn-lint'], { root: false });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-cfnlint-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each<[string, ConfigInput]>([
    ['the default template', {}],
    ['the largest vsftpd template (23 x 1)', { ftpServer: 'vsftpd', backendCount: 23, passivePortsPerBackend: 1 }],
    [
      'the largest ProFTPD template with SFTP (21 x 2, own secrets, alarm email)',
      {
        ftpServer: 'proftpd',
        backendCount: 21,
        passivePortsPerBackend: 2,
        alarmEmail: 'ops@example.com',
        ftpUsersSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:users-AbCdEf',
        // With SFTP, 21 x 2 fits only when the certificate and host keys are brought too.
        ftpsCertificateSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cert-AbCdEf',
        sftpHostKeysSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys-AbCdEf',
      },
    ],
  ])(
    '%s: no error, and only justified warnings',
    (name, config) => {
      const file = path.join(dir, `${name.replace(/\W+/g, '-')}.json`);
      fs.writeFileSync(file, JSON.stringify(synth(config).json));
      const findings = lint(file);
      const unexplained = findings.filter((f) => !JUSTIFIED.some((j) => j.rule === f.Rule.Id && j.message.test(f.Message)));
      expect(unexplained.map((f) => `${f.Rule.Id} ${f.Level} ${f.Location.Path.join('/')}: ${f.Message}`)).toEqual([]);
      expect(findings.filter((f) => f.Level === 'Error')).toEqual([]);
      console.log(
        `cfn-lint, ${name}: ${findings.length} finding(s), all justified (${[...new Set(findings.map((f) => f.Rule.Id))].join(', ') || 'none'})`,
      );
    },
    180_000,
  );

  it('the gate can fail: a template with a bad property value is reported as an error', () => {
    const file = path.join(dir, 'bad.json');
    const t = synth({}).json;
    const [id] = Object.keys(t.Resources).filter((k) => t.Resources[k].Type === 'AWS::ElasticLoadBalancingV2::TargetGroup');
    (t.Resources[id].Properties as Record<string, unknown>).HealthCheckIntervalSeconds = 1000;
    fs.writeFileSync(file, JSON.stringify(t));
    expect(lint(file).some((f) => f.Level === 'Error')).toBe(true);
  }, 180_000);
});
