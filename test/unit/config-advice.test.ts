/**
 * The exact list of EC2 instance types the config accepts (lib/config/ec2-instance-types.ts): kept
 * sorted and unique, equal to EC2's API model in the installed SDK, and used: a family and a size
 * that each exist but that EC2 does not sell together are refused with the sizes that exist. And
 * the budget advice: whatever it suggests is accepted.
 */
import { describe, expect, it } from 'vitest';
import { sdkInstanceTypes } from '../../bin/instance-types';
import { loadConfig } from '../../lib/config';
import { EC2_INSTANCE_TYPES } from '../../lib/config/ec2-instance-types';

const refusalOf = (context: Record<string, string>): string => {
  try {
    loadConfig({ context, cwd: '/nonexistent' });
    return 'accepted';
  } catch (err) {
    return (err as Error).message;
  }
};
const refusal = (instanceType: string): string => refusalOf({ instanceType });

describe('the EC2 instance types list', () => {
  it('is sorted and unique', () => {
    expect(EC2_INSTANCE_TYPES.length).toBeGreaterThan(1000);
    expect([...EC2_INSTANCE_TYPES]).toEqual([...new Set(EC2_INSTANCE_TYPES)].sort());
  });

  it("equals EC2's API model in the installed @aws-sdk/client-ec2 (run `npm run instance-types` after an SDK update)", () => {
    expect([...EC2_INSTANCE_TYPES]).toEqual(sdkInstanceTypes());
  });

  it.each([
    ['c7g.nano', /EC2 has no c7g\.nano: c7g comes in medium, large,.* Nearest valid value: c7g\.medium/],
    ['t4g.48xlarge', /EC2 has no t4g\.48xlarge: t4g comes in nano, .*, 2xlarge\. Nearest valid value: t4g\.2xlarge/],
    ['parallel5-extended.48xlarge', /EC2 has no parallel5-extended\.48xlarge: its API lists no instance type of family parallel5-extended/],
  ])('refuses %s, naming what exists', (type, message) => {
    expect(refusal(type)).toMatch(message);
  });

  it.each(['t4g.small', 'm7g.large', 'c7g.medium', 't3.micro'])('accepts %s', (type) => {
    expect(refusal(type)).toBe('accepted');
  });
});

describe('the budget advice names only pairs that are accepted (no advice loops)', () => {
  it('for both servers, every refused N x r is told a backendCount or passivePortsPerBackend that every rule accepts', () => {
    const tried: string[] = [];
    for (const ftpServer of ['vsftpd', 'proftpd']) {
      for (let n = 1; n <= 30; n++) {
        for (let r = 1; r <= 8; r++) {
          const message = refusalOf({ ftpServer, backendCount: String(n), passivePortsPerBackend: String(r) });
          const advice = /Use (.*?); for more, deploy a second stack/.exec(message)?.[1];
          if (!advice) continue;
          for (const fix of advice.split(' or ')) {
            const m = /^(passivePortsPerBackend|backendCount) <= (\d+)(?: with passivePortsPerBackend=(\d+))?$/.exec(fix);
            expect(m, `${ftpServer} ${n}x${r}: "${fix}"`).not.toBeNull();
            const [, field, value, withR] = m as RegExpExecArray;
            const pair = { ftpServer, backendCount: String(n), passivePortsPerBackend: withR ?? String(r), [field]: value };
            tried.push(`${ftpServer} ${n}x${r} -> ${pair.backendCount}x${pair.passivePortsPerBackend}`);
            expect(refusalOf(pair), `${ftpServer} ${n}x${r} advised ${fix}`).toBe('accepted');
          }
        }
      }
    }
    // The walk reached refusals of both kinds, for both servers.
    expect(tried.some((t) => t.startsWith('proftpd 24x1'))).toBe(true);
    expect(tried.filter((t) => t.startsWith('vsftpd')).length).toBeGreaterThan(10);
  });
});
