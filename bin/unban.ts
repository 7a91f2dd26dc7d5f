#!/usr/bin/env node
/** `npm run unban -- ADDRESS [--stack NAME]`: lift the ban on a client address before its end. */
import { runUnban } from '../lib/cli/unban';

runUnban(process.argv.slice(2)).then(({ code, stdout, stderr }) => {
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  process.exitCode = code;
});
