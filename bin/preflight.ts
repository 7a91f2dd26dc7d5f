#!/usr/bin/env node
/** `npm run preflight -- [-c KEY=VALUE]...`: what the first `cdk deploy` needs from this account, checked read-only. */
import { runPreflight } from '../lib/cli/preflight';

runPreflight(process.argv.slice(2)).then(({ code, stdout, stderr }) => {
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  process.exitCode = code;
});
