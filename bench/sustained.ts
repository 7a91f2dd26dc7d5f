/**
 * `npm run bench:sustained`: sustained concurrency for both FTP servers (see sandbox/sustained.ts).
 *
 *   npm run bench:sustained                  both servers, C up to 256 (about 15 minutes)
 *   npm run bench:sustained -- --quick       C up to 64
 *   npm run bench:sustained -- --proftpd     ProFTPD only
 *   npm run bench:sustained -- --scale       ProFTPD, N=4, r=12, C=500 and C=1000 (about 12 minutes)
 *   npm run bench:sustained -- --scale --write   also write the rows into bench/RESULTS.md (section 4c)
 *
 * Reports, per server: the largest C with every file intact, that per passive port, the most
 * downloads seen open at once, and the first error. Figures are printed, never asserted.
 */

import { type CommandSpec, parseOrExit } from '../lib/cli/command';
import { cleanupSandbox } from '../sandbox/cluster';
import { measureSustained, SCALE_BENCH, SUSTAINED_BENCH, sustainedRows } from '../sandbox/sustained';
import { resultsSection, writeResultsSection } from './results-file';

/** The scale rows as section 4c of bench/RESULTS.md (bench/run.ts keeps the section when it rewrites the file). */
function writeScaleSection(rows: ReadonlyArray<readonly [string, string]>, minutes: number): void {
  const b = SCALE_BENCH;
  const heading = `## 4c. Sustained scale (N=${b.backends}, r=${b.portsPerBackend}: ${b.backends * b.portsPerBackend} passive ports; FTPS; ProFTPD; each ${b.fileBytes / 2 ** 20} MiB read at ${b.bytesPerSecond / 1024} KiB/s, one new every ${b.startSpacingMs} ms, SHA-256 checked)`;
  const note = 'Peaks are sampled every 2 s; "CPU" is both cores together.';
  writeResultsSection('## 4c.', resultsSection(heading, 'npm run bench:sustained -- --scale --write', minutes, rows, note), '## 5.');
}

const SUSTAINED_COMMAND: CommandSpec = {
  usage: 'npm run bench:sustained --',
  summary: 'Sustained concurrency for both FTP servers in the sandbox (root): FTPS downloads held open at once, each file checked.',
  options: {
    quick: { type: 'boolean', help: 'C up to 64', default: 'C up to 256' },
    proftpd: { type: 'boolean', help: 'ProFTPD only', default: 'both servers' },
    scale: { type: 'boolean', help: 'ProFTPD on N=4 x r=12: C=500 and C=1000, each download held ~256 s', default: 'off' },
    write: { type: 'boolean', help: 'with --scale: write the rows into bench/RESULTS.md (section 4c)', default: 'off' },
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
  const scale = args.scale === true;
  const started = Date.now();
  measureSustained(
    scale
      ? { servers: ['proftpd'], concurrencies: [500, 1000], ...SCALE_BENCH, log }
      : {
          servers: args.proftpd === true ? ['proftpd'] : ['vsftpd', 'proftpd'],
          concurrencies: quick ? [16, 32, 64] : [16, 32, 64, 128, 200, 256],
          ...SUSTAINED_BENCH,
          log,
        },
  )
    .then((figs) => {
      const rows = sustainedRows(figs, { peaks: scale });
      for (const [k, v] of rows) console.log(`${k}: ${v}`);
      if (scale && args.write === true) {
        writeScaleSection(rows, (Date.now() - started) / 60_000);
        console.log('wrote section 4c of bench/RESULTS.md');
      }
    })
    .catch((err) => {
      console.error(`bench failed: ${(err as Error).message}`);
      cleanupSandbox();
      process.exit(1);
    });
}

main();
