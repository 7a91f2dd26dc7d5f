/**
 * The folders' import rules (biome.json `overrides`, rule noRestrictedImports) are a lint failure,
 * not a convention: each case lints a one-line fixture placed in the folder it names, in a scratch
 * copy of the project's own biome.json, and expects the rule to refuse or allow it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const BIOME = path.join(ROOT, 'node_modules', '.bin', 'biome');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-layering-'));
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'biome.json'), 'utf8'));
  // The scratch folder is no git checkout; everything else, the overrides above all, is kept.
  delete config.vcs;
  delete config.$schema;
  fs.writeFileSync(path.join(dir, 'biome.json'), JSON.stringify(config));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Lint `import { x } from '<spec>'` as if it were the file `file`; true when the import rule refuses it. */
function refused(file: string, spec: string): boolean {
  const full = path.join(dir, file);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, `import { x } from '${spec}';\n\nexport const y = x;\n`);
  try {
    const r = spawnSync(BIOME, ['lint', '--max-diagnostics=50', file], { cwd: dir, encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`;
    if (r.error) throw r.error;
    return out.includes('noRestrictedImports');
  } finally {
    fs.rmSync(full);
  }
}

describe('import direction between folders is enforced by lint', () => {
  it.each([
    ['lambda/health-checker/f.ts', '../../lib/config'],
    ['lambda/health-checker/f.ts', '../../lib/config/schema'],
    ['lambda/health-checker/f.ts', '../../lib/infra/ftp-load-balancer'],
    ['lambda/health-checker/f.ts', '../../lib/backend/vsftpd-conf'],
    ['lambda/health-checker/f.ts', 'zod'],
    ['lambda/health-checker/f.ts', 'aws-cdk-lib/aws-ec2'],
    ['lambda/certificate-resource/f.ts', '../../sandbox/cluster'],
    ['lib/shared/f.ts', '../config'],
    ['lib/shared/f.ts', '../infra/nag'],
    ['lib/shared/f.ts', 'aws-cdk-lib'],
    ['lib/config/f.ts', 'aws-cdk-lib'],
    ['lib/config/f.ts', '../infra/nlb-ftp-stack'],
    ['lib/backend/f.ts', '../config'],
    ['lib/cli/f.ts', '../infra/nlb-ftp-stack'],
    ['lib/infra/f.ts', '../../lambda/health-checker/decision'],
    ['bench/f.ts', '../test/helpers/certs'],
    ['sandbox/f.ts', '../test/helpers/certs'],
    ['harness/f.ts', '../test/helpers/checker-harness'],
    // harness/ is below the sandbox and the benchmarks: no cycle back up.
    ['harness/f.ts', '../sandbox/cluster'],
    ['harness/f.ts', '../bench/run'],
    ['harness/f.ts', '../bin/sandbox'],
    ['bin/f.ts', '../test/helpers/hardening'],
  ])('%s may not import %s', (file, spec) => {
    expect(refused(file, spec)).toBe(true);
  });

  it.each([
    ['lambda/health-checker/f.ts', '../../lib/shared/contract'],
    ['lambda/health-checker/f.ts', './decision'],
    ['lib/config/f.ts', '../shared/limits'],
    ['lib/backend/f.ts', '../shared/ftps'],
    ['lib/infra/f.ts', '../config'],
    ['lib/cli/f.ts', '../config'],
    ['bench/f.ts', '../harness/sessions'],
    ['test/unit/f.ts', '../../lib/infra/nlb-ftp-stack'],
  ])('%s may import %s', (file, spec) => {
    expect(refused(file, spec)).toBe(false);
  });
});
