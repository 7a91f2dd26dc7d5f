/**
 * `npm run bench:sustained`: sustained concurrency for both FTP servers (see sandbox/sustained.ts).
 *
 *   npm run bench:sustained                  both servers, C up to 256 (about 15 minutes)
 *   npm run bench:sustained -- --quick       C up to 64
 *   npm run bench:sustained -- --proftpd     ProFTPD only
 *
 * Reports, per server: the largest C with every file intact, that per passive port, the most
 * downloads seen open at once, and the first error. Figures are printed, never asserted.
 */

import { type CommandSpec, parseOrExit } from '../lib/cli/command';
import { cleanupSandbox } from '../sandbox/cluster';
import { measureSustained, SUSTAINED_BENCH, sustainedRows } from '../sandbox/sustained';

const SUSTAINED_COMMAND: CommandSpec = {
  usage: 'npm run bench:sustained --',
  summary: 'Sustained concurrency for both FTP servers in the sandbox (root): FTPS downloads held open at once, each file checked.',
  options: {
    quick: { type: 'boolean', help: 'C up to 64', default: 'C up to 256' },
    proftpd: { type: 'boolean', help: 'ProFTPD only', default: 'both servers' },
  },
  examples: ['sudo npm run bench:sustained -- --quick', 'sudo npm run bench:sustained -- --proftpd'],
};

function main(): void {
  const args = parseOrExit(SUSTAINED_COMMAND, process.argv.slice(2));
  const quick = args.quick === true;
  const log = (m: string) => process.stderr.write(`${m}\n`);
  process.on('SIGINT', () => {
    cleanupSandbox();
    process.exit(130);
  });
  cleanupSandbox();
  measureSustained({
    servers: args.proftpd === true ? ['proftpd'] : ['vsftpd', 'proftpd'],
    concurrencies: quick ? [16, 32, 64] : [16, 32, 64, 128, 200, 256],
    ...SUSTAINED_BENCH,
    log,
  })
    .then((figs) => {
      for (const [k, v] of sustainedRows(figs)) console.log(`${k}: ${v}`);
    })
    .catch((err) => {
      console.error(`bench failed: ${(err as Error).message}`);
      cleanupSandbox();
      process.exit(1);
    });
}

main();
