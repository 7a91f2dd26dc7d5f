/**
 * `npx cdk synth` as a user runs it, with no AWS credentials and no network at all: the CLI runs
 * in a fresh network namespace (`unshare -n`) that has only a down loopback, so nothing can leave.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../harness/ftp-clients';
import { requireTools } from '../../harness/prerequisites';
import { parseConfig } from '../../lib/config';
import { stackResources } from '../../lib/config/resource-budget';

const ROOT = path.resolve(__dirname, '../..');

async function cdkSynth(...context: string[]) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-cdkout-'));
  const args = [
    '-n',
    'env',
    '-u',
    'AWS_ACCESS_KEY_ID',
    '-u',
    'AWS_SECRET_ACCESS_KEY',
    '-u',
    'AWS_PROFILE',
    'AWS_EC2_METADATA_DISABLED=true',
  ];
  args.push('bash', '-c', `cd "$0" && exec npx cdk synth -q -o "$1" ${context.map((c) => `-c ${c}`).join(' ')}`, ROOT, out);
  const r = await run('unshare', args, { timeoutMs: 400_000 });
  return { ...r, out };
}

describe('cdk synth from the command line, offline', () => {
  beforeAll(() => requireTools(['unshare']));

  it('synthesizes -c backendCount=3: 26 listeners (21, SFTP, 3 x 8 passive)', async () => {
    const r = await cdkSynth('backendCount=3');
    try {
      expect(r.code, r.stderr).toBe(0);
      const t = JSON.parse(fs.readFileSync(path.join(r.out, 'NlbFtp.template.json'), 'utf8'));
      const listeners = Object.values(t.Resources as Record<string, { Type: string }>).filter(
        (x) => x.Type === 'AWS::ElasticLoadBalancingV2::Listener',
      );
      expect(listeners).toHaveLength(26);
    } finally {
      fs.rmSync(r.out, { recursive: true, force: true });
    }
  });

  it('synthesizes -c backendCount=4 -c alarmEmail=ops@example.com with alarms, topic, subscription and dashboard', async () => {
    const r = await cdkSynth('backendCount=4', 'alarmEmail=ops@example.com');
    try {
      expect(r.code, r.stderr).toBe(0);
      const t = JSON.parse(fs.readFileSync(path.join(r.out, 'NlbFtp.template.json'), 'utf8'));
      const count = (type: string) => Object.values(t.Resources as Record<string, { Type: string }>).filter((x) => x.Type === type).length;
      expect(count('AWS::CloudWatch::Alarm')).toBe(4 * 2 + 4 + 4 + 2); // per slot: login, target; cluster: 4; no-instance: 4; failed logins, users skipped
      expect(count('AWS::CloudWatch::CompositeAlarm')).toBe(2);
      expect(count('AWS::SNS::Topic')).toBe(1);
      expect(count('AWS::SNS::Subscription')).toBe(1);
      expect(count('AWS::CloudWatch::Dashboard')).toBe(1);
    } finally {
      fs.rmSync(r.out, { recursive: true, force: true });
    }
  });

  it('refuses -c backendCount=40 with the budget message', async () => {
    const r = await cdkSynth('backendCount=40');
    fs.rmSync(r.out, { recursive: true, force: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('needs 322 NLB listeners (1 for port 21 + 1 for SFTP + 40x8 passive)');
    expect(r.stderr).toContain('Use backendCount <= 6;');
  });

  it('refuses -c backendCount=0 naming backendCount', async () => {
    const r = await cdkSynth('backendCount=0');
    fs.rmSync(r.out, { recursive: true, force: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('backendCount = 0 (from -c context): must be a whole number from 1 to 49');
  });

  it.each([
    [['initialFtpUser=root'], 'initialFtpUser = "root"'],
    [['backend_count=3'], 'backend_count = 3 (from -c context): is not a setting of nlb-ftp; did you mean backendCount?'],
    [['natGateways=3', 'maxAzs=2'], 'natGateways = 3 (from -c context): cannot exceed maxAzs (2)'],
    [['instanceType=t4g.smal'], 'Nearest valid value: t4g.small.'],
    [['ftpServer=vsftpd', 'backendCount=24', 'passivePortsPerBackend=1'], 'makes 512 CloudFormation resources'],
    [['backendCount=21', 'passivePortsPerBackend=2'], 'makes 504 CloudFormation resources'],
  ])('refuses -c %j with one message, exit 1, no stack trace and nothing in the output directory', async (context, text) => {
    const r = await cdkSynth(...context);
    try {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('nlb-ftp: invalid configuration, 1 problem. Nothing was synthesized.');
      expect(r.stderr).toContain(text);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(fs.readdirSync(r.out)).toEqual([]);
    } finally {
      fs.rmSync(r.out, { recursive: true, force: true });
    }
  });

  it('the largest budget-table row (20 x 2, the defaults: ProFTPD with SFTP) synthesizes through the CLI at the modelled count, AWS::CDK::Metadata included', async () => {
    const r = await cdkSynth('backendCount=20', 'passivePortsPerBackend=2');
    try {
      expect(r.code, r.stderr).toBe(0);
      const t = JSON.parse(fs.readFileSync(path.join(r.out, 'NlbFtp.template.json'), 'utf8'));
      const resources = Object.values(t.Resources as Record<string, { Type: string }>);
      expect(resources.filter((x) => x.Type === 'AWS::CDK::Metadata')).toHaveLength(1);
      // CloudFormation: 500 resources per stack. The model counts exactly what the CLI writes.
      expect(resources.length).toBe(stackResources(parseConfig({ backendCount: 20, passivePortsPerBackend: 2 })));
      expect(resources.length).toBeLessThanOrEqual(500);
    } finally {
      fs.rmSync(r.out, { recursive: true, force: true });
    }
  });

  it('the largest template (ProFTPD with SFTP 20 x 2, 20 CIDRs, 20 names, 20 never-ban CIDRs, alarm email, 64-character stack name) is under 1,000,000 bytes as written', async () => {
    const cidrs = Array.from({ length: 20 }, (_, i) => `203.0.${i}.0/24`);
    const names = Array.from({ length: 20 }, (_, i) => `ftp${i}.a-rather-long-customer-domain-name.example.com`);
    const stack = `S${'x'.repeat(63)}`;
    const r = await cdkSynth(
      'ftpServer=proftpd',
      'backendCount=20',
      'passivePortsPerBackend=2',
      'alarmEmail=ops@example.com',
      `allowedCidrs=${cidrs.join(',')}`,
      `ftpsCertificateNames=${names.join(',')}`,
      `stackName=${stack}`,
      // In every launch template's user data.
      `bans.neverBanCidrs=${cidrs.join(',')}`,
    );
    try {
      expect(r.code, r.stderr).toBe(0);
      // CloudFormation refuses a template body over 1,000,000 bytes, even from S3; the CLI only warns.
      const bytes = fs.statSync(path.join(r.out, `${stack}.template.json`)).size;
      console.log(`largest template: ${bytes} bytes`);
      expect(bytes).toBeLessThan(1_000_000);
      expect(`${r.stdout}${r.stderr}`).not.toContain('Template size exceeds limit');
    } finally {
      fs.rmSync(r.out, { recursive: true, force: true });
    }
  });

  it('warns, and builds 2 AZs, when maxAzs=3 cannot be looked up offline', async () => {
    const r = await cdkSynth('maxAzs=3', 'natGateways=1');
    fs.rmSync(r.out, { recursive: true, force: true });
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain('maxAzs=3 but only 2 AZs are available to this synth');
  });
});
