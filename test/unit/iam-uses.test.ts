/**
 * docs/iam.md's IAM table says, for every principal of the template, each action it is granted and what
 * uses it (lib/shared/iam-uses.ts). This keeps it true against the synthesized template: nothing
 * granted is missing from the table, nothing in the table is not granted, and docs/iam.md shows the
 * generated table.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { iamTable } from '../../bin/docs';
import { synth } from '../../harness/synth';
import { principalUsesOf, TEMPLATE_PRINCIPALS } from '../../lib/shared/iam-uses';
import { templatePrincipals } from '../../sandbox/aws/iam';
import { SANDBOX_VALUES } from '../../sandbox/synthesis';
import type { TemplateJson } from '../../sandbox/template-plan';

/** The configurations whose templates differ in principals: the default (FTPS, checker) and without both. */
const templates = [synth({}), synth({ ftps: 'off', allowPlaintextFromInternet: true, healthCheck: { enabled: false } })].map(
  (s) => s.json as unknown as TemplateJson,
);

/** Every role of a template: its actions from our own policies, and the AWS managed policies it attaches. */
function granted(t: TemplateJson): Map<string, { actions: Set<string>; managed: Set<string> }> {
  const out = new Map<string, { actions: Set<string>; managed: Set<string> }>();
  for (const [role, policies] of templatePrincipals(t, SANDBOX_VALUES)) {
    const g = { actions: new Set<string>(), managed: new Set<string>() };
    for (const p of policies) {
      if (p.managed) g.managed.add(p.name);
      else for (const st of p.document.Statement) for (const a of [st.Action].flat()) g.actions.add(a);
    }
    out.set(role, g);
  }
  return out;
}

describe("the IAM table (lib/shared/iam-uses.ts) against the template's policies", () => {
  it('every role of the template has an entry, and every action and managed policy it is granted says what uses it', () => {
    for (const t of templates) {
      for (const [role, g] of granted(t)) {
        const uses = principalUsesOf(role);
        expect(uses, `${role} has no entry in lib/shared/iam-uses.ts`).toBeDefined();
        for (const a of g.actions)
          expect(uses?.actions[a], `${role}: ${a} is granted but the table does not say what uses it`).toBeDefined();
        for (const m of g.managed) expect(uses?.managed?.[m], `${role}: managed ${m} is attached but not explained`).toBeDefined();
      }
    }
  });

  it('nothing in the table is ungranted: each entry names an action or managed policy some template grants', () => {
    const all = templates.map(granted);
    for (const p of TEMPLATE_PRINCIPALS) {
      const roles = all.flatMap((g) => [...g.entries()].filter(([role]) => role.startsWith(p.role)).map(([, x]) => x));
      expect(roles.length, `${p.role} is in the table but in no template`).toBeGreaterThan(0);
      for (const a of Object.keys(p.actions))
        expect(
          roles.some((r) => r.actions.has(a)),
          `${p.role}: ${a}`,
        ).toBe(true);
      for (const m of Object.keys(p.managed ?? {}))
        expect(
          roles.some((r) => r.managed.has(m)),
          `${p.role}: ${m}`,
        ).toBe(true);
    }
  });

  it('docs/iam.md shows the generated table (npm run docs:config)', () => {
    const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/iam.md'), 'utf8');
    expect(doc, 'the IAM table is stale: run npm run docs:config').toContain(iamTable());
  });
});
