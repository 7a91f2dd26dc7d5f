/**
 * The exhaustive walks (slow project: CI runs it, the fast unit suite does not): every N x r pair
 * within the listener budget, and both edges of every numeric setting, either synthesize under
 * CloudFormation's 500 resources or are refused with a message naming the setting.
 */
import { describe, expect, it } from 'vitest';
import { synth } from '../../harness/synth';
import { type Config, ConfigError, type ConfigInput, parseConfig, settingsDoc } from '../../lib/config';
import { CFN_MAX_RESOURCES } from '../../lib/config/resource-budget';
import { NLB_MAX_LISTENERS } from '../../lib/shared/limits';

function measured(input: ConfigInput): { count: number } {
  return { count: Object.keys(synth(input).json.Resources).length };
}

function tryParse(input: ConfigInput): Config | string[] {
  try {
    return parseConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.field);
    throw err;
  }
}

describe('every N x r within the listener budget synthesizes or is refused cleanly', () => {
  const pairs: Array<[number, number]> = [];
  for (let n = 1; n < NLB_MAX_LISTENERS; n++) for (let r = 1; 1 + n * r <= NLB_MAX_LISTENERS; r++) pairs.push([n, r]);

  it(`walks all ${pairs.length} pairs`, () => {
    let accepted = 0;
    for (const [n, r] of pairs) {
      const input = { backendCount: n, passivePortsPerBackend: r };
      const parsed = tryParse(input);
      if (Array.isArray(parsed)) {
        expect(parsed, `${n}x${r}`).toEqual([expect.stringMatching(/^(backendCount|passivePortsPerBackend)$/)]);
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
