/**
 * No configuration that validation accepts fails to synthesize (slow project: many synths). The
 * resource model equals the real template's count (AWS::CDK::Metadata included, as the CLI writes
 * it), every N x r pair within the listener budget and both edges of every numeric setting either
 * synthesize under CloudFormation's 500 resources or are refused naming the setting, and the
 * docs/configuration.md's budget table lists only pairs that synthesize.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { synth } from '../../harness/synth';
import { type Config, ConfigError, type ConfigInput, parseConfig, settingsDoc } from '../../lib/config';
import {
  CFN_MAX_RESOURCES,
  fixedResources,
  largestBackendCount,
  largestPortsPerBackend,
  resourcesPerSlot,
  stackResources,
} from '../../lib/config/resource-budget';
import { NLB_MAX_LISTENERS } from '../../lib/shared/limits';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf';

/** Resources in the synthesized template, and the AZs it really has (an env-agnostic synth has 2). */
function measured(input: ConfigInput): { count: number; azs: number } {
  const s = synth(input);
  const resources = Object.values(s.json.Resources);
  const azs = resources.filter((r) => r.Type === 'AWS::EC2::Subnet').length / 2;
  return { count: resources.length, azs };
}

/** Parse, or return the problems' fields when refused (anything but a ConfigError fails the test). */
function tryParse(input: ConfigInput): Config | string[] {
  try {
    return parseConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.field);
    throw err;
  }
}

describe('the resource model', () => {
  const variants: ConfigInput[] = [
    {},
    { ftps: 'off', allowPlaintextFromInternet: true },
    { ftpsCertificateSecretArn: ARN },
    { healthCheck: { enabled: false } },
    { maxAzs: 1 },
    { natGateways: 2 },
    { alarmEmail: 'ops@example.com' },
    { ftpUsersSecretArn: ARN },
    { ftpServer: 'vsftpd' },
    { sftp: 'off' },
    { sftpHostKeysSecretArn: ARN },
    { ftps: 'off', allowPlaintextFromInternet: true, sftp: 'off' },
    { ftpServer: 'vsftpd', ftps: 'off', allowPlaintextFromInternet: true },
  ];
  it.each(variants)('counts exactly what %j synthesizes, at N = 1 and 3, r = the smallest its server takes and 3', (v) => {
    // ProFTPD (the default) needs r >= 2; vsftpd takes 1.
    const rs = v.ftpServer === 'vsftpd' ? [1, 3] : [2, 3];
    for (const [n, r] of [
      [1, rs[0]],
      [3, rs[0]],
      [1, rs[1]],
      [3, rs[1]],
    ]) {
      const input = { ...v, backendCount: n, passivePortsPerBackend: r };
      const { count, azs } = measured(input);
      expect(stackResources(parseConfig(input), azs), JSON.stringify(input)).toBe(count);
    }
  });
});

describe('the largest deployable configurations', () => {
  it('defaults (ProFTPD, SFTP): the largest N is 20 (at r = 2), and at N = 1 the largest r is 48', () => {
    const c = parseConfig({});
    expect(largestBackendCount(c, 2)).toBe(20);
    expect(largestPortsPerBackend(c, 1)).toBe(48);
    expect(measured({ backendCount: 20, passivePortsPerBackend: 2 }).count).toBeLessThanOrEqual(CFN_MAX_RESOURCES);
    expect(measured({ backendCount: 1, passivePortsPerBackend: 48 }).count).toBeLessThanOrEqual(CFN_MAX_RESOURCES);
    expect(tryParse({ backendCount: 21, passivePortsPerBackend: 2 })).toEqual(['backendCount']);
    expect(tryParse({ backendCount: 1, passivePortsPerBackend: 49 })).toEqual(['backendCount']);
  });

  it('vsftpd (no SFTP): the largest N at r = 1 is 23, and at N = 1 the largest r is 49', () => {
    const c = parseConfig({ ftpServer: 'vsftpd' });
    expect(largestBackendCount(c, 1)).toBe(23);
    expect(largestPortsPerBackend(c, 1)).toBe(49);
    expect(measured({ ftpServer: 'vsftpd', backendCount: 23, passivePortsPerBackend: 1 }).count).toBeLessThanOrEqual(CFN_MAX_RESOURCES);
    expect(measured({ ftpServer: 'vsftpd', backendCount: 1, passivePortsPerBackend: 49 }).count).toBeLessThanOrEqual(CFN_MAX_RESOURCES);
    // 24 x 1 was accepted at exactly 500 without the CLI's AWS::CDK::Metadata, and failed as 501.
    expect(tryParse({ ftpServer: 'vsftpd', backendCount: 24, passivePortsPerBackend: 1 })).toEqual(['backendCount']);
  });
});

describe('docs/configuration.md', () => {
  it('lists in its budget table only N x r that synthesize, each with the largest r that does', () => {
    const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/configuration.md'), 'utf8');
    const start = doc.indexOf('## The two budgets');
    expect(start).toBeGreaterThanOrEqual(0);
    const section = doc.slice(start, doc.indexOf('\n## ', start + 1) >= 0 ? doc.indexOf('\n## ', start + 1) : undefined);
    // The prose's figures are the model's (lib/config/resource-budget.ts).
    const c0 = parseConfig({});
    expect(section).toContain(`stack has ${fixedResources(c0)} fixed resources plus \`16 + 2r\` per backend`);
    expect(resourcesPerSlot(1, c0)).toBe(16 + 2);
    const rows = [...section.matchAll(/^\| (\d+) \| (\d+)[^|]*\| (\d+) \|/gm)].map((m) => m.slice(1, 4).map(Number));
    expect(rows.length).toBeGreaterThan(5);
    const c = parseConfig({});
    for (const [n, r, used] of rows) {
      expect(largestPortsPerBackend(c, n), `N=${n}`).toBe(r);
      expect(used).toBe(n * r);
      expect(measured({ backendCount: n, passivePortsPerBackend: r }).count).toBeLessThanOrEqual(CFN_MAX_RESOURCES);
    }
  });
});

describe('every N x r within the listener budget synthesizes or is refused cleanly', () => {
  const pairs: Array<[number, number]> = [];
  for (let n = 1; n < NLB_MAX_LISTENERS; n++) for (let r = 1; 1 + n * r <= NLB_MAX_LISTENERS; r++) pairs.push([n, r]);

  it(`walks all ${pairs.length} pairs`, () => {
    let accepted = 0;
    for (const [n, r] of pairs) {
      const input = { backendCount: n, passivePortsPerBackend: r };
      const parsed = tryParse(input);
      if (Array.isArray(parsed)) {
        // A budget, or ProFTPD's r >= 2: either way named by N or r, nothing else.
        expect(parsed.length, `${n}x${r}`).toBeGreaterThan(0);
        for (const f of parsed) expect(f, `${n}x${r}`).toMatch(/^(backendCount|passivePortsPerBackend)$/);
        continue;
      }
      accepted++;
      const { count } = measured(input);
      expect(count, `${n}x${r}`).toBeLessThanOrEqual(CFN_MAX_RESOURCES);
    }
    console.log(`${accepted} of ${pairs.length} N x r pairs accepted, each synthesized under ${CFN_MAX_RESOURCES} resources`);
    expect(accepted).toBeGreaterThan(100);
  }, 300_000);
});

describe('the edges of every numeric setting synthesize or are refused cleanly', () => {
  const numeric = settingsDoc().filter((d) => /^\d+ to \d+$/.test(d.allowed));
  it.each(numeric.map((d) => [d.key, d.allowed]))('%s (%s)', (key, allowed) => {
    const [min, max] = allowed.split(' to ').map(Number);
    for (const value of [min, max]) {
      const keys = key.split('.');
      const input = (keys.length === 1 ? { [key]: value } : { [keys[0]]: { [keys[1]]: value } }) as ConfigInput;
      const parsed = tryParse(input);
      if (Array.isArray(parsed)) {
        expect(parsed.length, `${key}=${value}`).toBeGreaterThan(0);
      } else {
        expect(measured(input).count, `${key}=${value}`).toBeLessThanOrEqual(CFN_MAX_RESOURCES);
      }
    }
  });
});
