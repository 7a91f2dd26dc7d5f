#!/usr/bin/env node
/** `npm run roll -- [--dry-run] [--stack NAME] ...`: move each slot onto its current launch template, one at a time. */
import { runRoll } from '../lib/cli/roll';

const stamp = () => new Date().toISOString().slice(11, 19);
runRoll(process.argv.slice(2), { log: (line) => process.stdout.write(`${stamp()} ${line}\n`) }).then(({ code }) => {
  process.exitCode = code;
});
