/**
 * A long message arrives whole whatever stderr is. The CDK app (bin/nlb-ftp.ts) and every operator
 * command end through `writeAllAndExit`; here it writes 300 KB to a pipe whose reader leaves it
 * unread for a second, so it fills. The same through `console.error` then `process.exit`, as the
 * app did, is cut off: that is the control, so this test can fail.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const LINE = 100; // bytes: 99 x and a newline
const COPIES = 3000; // 300 KB
const TEXT = `'x'.repeat(99).concat('\\n').repeat(${COPIES})`;

/** Run `code` in a Node process (through tsx, from the repository) and read its stderr late. */
async function stderrOf(code: string): Promise<{ exit: number | null; bytes: number }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), '-e', code], {
    cwd: ROOT,
    // A clean environment: the test runner's own NODE_OPTIONS and hooks are not the user's.
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const closed = new Promise<number | null>((r) => child.on('close', r));
  child.stderr.pause();
  await new Promise((r) => setTimeout(r, 1000));
  let bytes = 0;
  child.stderr.on('data', (d: Buffer) => {
    bytes += d.length;
  });
  child.stderr.resume();
  return { exit: await closed, bytes };
}

it('writeAllAndExit delivers all 300 KB through a full pipe, then exits with the code', async () => {
  expect(await stderrOf(`require('./lib/cli/command').writeAllAndExit(2, ${TEXT}, 1)`)).toEqual({ exit: 1, bytes: LINE * COPIES });
}, 30_000);

it('the control: console.error then process.exit loses the end of the same text', async () => {
  const before = await stderrOf(`console.error(${TEXT}); process.exit(1)`);
  expect(before.exit).toBe(1);
  expect(before.bytes).toBeLessThan(LINE * COPIES);
}, 30_000);
