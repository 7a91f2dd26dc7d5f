#!/usr/bin/env node
/** `npm run status -- [--stack NAME]`: the health of a deployed nlb-ftp stack, as one table. */
import { runStatus } from '../lib/cli/status';

runStatus(process.argv.slice(2)).then(({ code, stdout, stderr }) => {
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  process.exitCode = code;
});
