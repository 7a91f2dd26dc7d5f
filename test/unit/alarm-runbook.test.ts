/**
 * docs/alarms.md is the runbook: one entry (a `## heading`) per alarm, and every alarm's description
 * in the template ends with a link to its entry. This walks every alarm the template defines and
 * fails when one has no entry or no link, or an entry names no alarm of the template.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { synth } from '../../harness/synth';
import { ALARM_RUNBOOK, runbookAnchor } from '../../lib/shared/names';

const RUNBOOK = fs.readFileSync(path.resolve(__dirname, '../..', ALARM_RUNBOOK), 'utf8');
/** The runbook's entries: its `## ` headings, each its own anchor. */
const entries = [...RUNBOOK.matchAll(/^## (.+)$/gm)].map((m) => m[1].trim());

/** Every alarm of a template: name and description. */
function alarmsOf(input: Parameters<typeof synth>[0]): Array<{ name: string; description: string }> {
  const s = synth(input);
  return Object.values(s.json.Resources)
    .filter((r) => r.Type === 'AWS::CloudWatch::Alarm' || r.Type === 'AWS::CloudWatch::CompositeAlarm')
    .map((r) => ({ name: String(r.Properties?.AlarmName), description: String(r.Properties?.AlarmDescription ?? '') }));
}

// With the checker, the audit trail and FTPS (the defaults), and a stack without the checker.
const alarms = [
  ...alarmsOf({ backendCount: 3, stackName: 'Ops' }),
  ...alarmsOf({ backendCount: 2, stackName: 'Ops', healthCheck: { enabled: false } }),
];

describe('the alarm runbook (docs/alarms.md)', () => {
  it('every alarm of the template links its runbook entry at the end of its description, which exists', () => {
    expect(alarms.length).toBeGreaterThan(10);
    for (const a of alarms) {
      const anchor = runbookAnchor('Ops', a.name);
      expect(entries, `${a.name}: no "## ${anchor}" in ${ALARM_RUNBOOK}`).toContain(anchor);
      expect(a.description.endsWith(` Runbook: ${ALARM_RUNBOOK}#${anchor}`), a.name).toBe(true);
      // CloudWatch: an alarm description is at most 1024 characters.
      expect(a.description.length, a.name).toBeLessThanOrEqual(1024);
    }
  });

  it('every runbook entry names an alarm of the template', () => {
    const kinds = new Set(alarms.map((a) => runbookAnchor('Ops', a.name)));
    expect(entries.length).toBeGreaterThan(5);
    for (const e of entries) expect(kinds, `${ALARM_RUNBOOK} has "## ${e}", which no alarm is`).toContain(e);
  });

  it('names a slot alarm by its kind, whatever the slot', () => {
    expect(runbookAnchor('Ops', 'Ops-slot12-ftp-login-failing')).toBe('slot-ftp-login-failing');
    expect(runbookAnchor('Ops', 'Ops-checker-broken')).toBe('checker-broken');
    expect(() => runbookAnchor('Ops', 'Other-checker-broken')).toThrow(/does not start with the stack name/);
  });
});
