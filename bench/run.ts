/**
 * `npm run bench`: the figures users need to size nlb-ftp, all measured in this run on the local
 * sandbox (real vsftpd, the emulated NLB, the real checker, FTPS as deployed by default):
 *
 *   1-3. failover: detection and recovery time / the configured bound, and sessions lost
 *   4.   concurrency capacity for N = 2 and r in {1, 2, 4, 8}, with a chart (a burst: all start at once)
 *   4b.  sustained concurrency, vsftpd and ProFTPD: C downloads held open at the same time
 *   5.   checker fan-out: one probe round for 16 backends / for 1
 *   6.   synth scaling: `cdk synth` N=12 / N=1, and nlb-ftp / an empty CDK app
 *   7.   checker artifact: bundle size and cold require()
 *
 *   npm run bench                  full run (about 10 minutes on 2 cores), progress on stderr
 *   npm run bench -- --quick       a smaller run in under 3 minutes
 *   npm run bench -- --write       also write bench/RESULTS.md and bench/capacity.svg
 *
 * Figures are printed, never asserted: targets are shown next to them. Needs root and the same
 * Debian packages as the tests. Not part of `npm test`.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../harness/ftp-clients';
import { hasTool } from '../harness/prerequisites';
import { curlTlsArgs, removeSessionFiles, runDrill, type Target, waitFor } from '../harness/sessions';
import { type CommandSpec, parseOrExit } from '../lib/cli/command';
import { slotFromBanner } from '../lib/shared/names';
import { checkerBoundsMs, checkerContext, cleanupSandbox, DRILL_CHECKER, DRILL_NLB_HEALTH, Sandbox } from '../sandbox/cluster';
import { removeUser } from '../sandbox/local-vsftpd';
import { measureSustained, SUSTAINED_BENCH, type SustainedFigures, sustainedRows } from '../sandbox/sustained';
import { lineChartSvg } from './chart';
import {
  type ArtifactFigures,
  artifactRows,
  BENCH_USER,
  FANOUT_HEADING,
  type FanoutFigures,
  fanoutRows,
  measureArtifact,
  measureFanout,
  median,
  printTable,
} from './checker';
import { RESULTS_FILE } from './results-file';

const ROOT = path.resolve(__dirname, '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => process.stderr.write(`${m}\n`);
/** Temp dirs in use, removed on Ctrl-C too (the signal handler exits without running finally blocks). */
const tempDirs = new Set<string>();

interface Options {
  readonly quick: boolean;
  readonly write: boolean;
}

const BENCH_COMMAND: CommandSpec = {
  usage: 'npm run bench --',
  summary: 'Every benchmark in the sandbox (root): failover timing, capacity, synth scaling, the checker fan-out. Prints figures.',
  options: {
    quick: { type: 'boolean', help: 'fewer rounds and sizes (minutes, not the full run)' },
    write: { type: 'boolean', help: 'write the figures into bench/RESULTS.md and bench/capacity.svg (the chart docs/sizing.md shows)' },
  },
  examples: ['sudo npm run bench -- --quick', 'sudo npm run bench -- --write'],
};

function parseArgs(argv: readonly string[]): Options {
  const v = parseOrExit(BENCH_COMMAND, argv);
  return { quick: v.quick === true, write: v.write === true };
}

// ---- 6. synth scaling ---------------------------------------------------------------------------

interface SynthFigure {
  readonly label: string;
  readonly medianMs: number;
  readonly runsMs: readonly number[];
  readonly templateBytes?: number;
  readonly resources?: number;
}

/** `cdk synth` through the CLI, as users run it, without network (unshare -n) when possible. */
function cdkSynthMs(args: readonly string[], outdir: string): number {
  const offline = process.getuid?.() === 0 && hasTool('unshare');
  const cmd = ['npx', 'cdk', 'synth', '-q', '--no-notices', '-o', outdir, ...args];
  const t0 = performance.now();
  const r = spawnSync(offline ? 'unshare' : cmd[0], offline ? ['-n', ...cmd] : cmd.slice(1), {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true', CDK_DISABLE_CLI_TELEMETRY: 'true' },
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`cdk synth ${args.join(' ')} failed: ${r.stderr.slice(-500)}`);
  return ms;
}

function measureSynth(repeats: number): SynthFigure[] {
  const variants: Array<{ label: string; args: string[]; template?: string }> = [
    { label: 'empty one-stack CDK app', args: ['--app', 'npx tsx bench/empty-app.ts'] },
    { label: 'nlb-ftp N=1, r=4', args: ['-c', 'backendCount=1', '-c', 'passivePortsPerBackend=4'], template: 'NlbFtp.template.json' },
    { label: 'nlb-ftp N=12, r=4', args: ['-c', 'backendCount=12', '-c', 'passivePortsPerBackend=4'], template: 'NlbFtp.template.json' },
  ];
  const runs = variants.map(() => [] as number[]);
  const sizes: Array<{ bytes: number; resources: number } | undefined> = variants.map(() => undefined);
  const total = repeats * variants.length;
  let done = 0;
  // Round-robin, so drift on a noisy machine hits every variant alike.
  for (let rep = 0; rep < repeats; rep++) {
    variants.forEach((v, i) => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-bench-synth-'));
      tempDirs.add(out);
      try {
        const ms = cdkSynthMs(v.args, out);
        runs[i].push(ms);
        if (v.template) {
          const text = fs.readFileSync(path.join(out, v.template), 'utf8');
          sizes[i] = { bytes: Buffer.byteLength(text), resources: Object.keys(JSON.parse(text).Resources).length };
        }
        log(`[synth ${++done}/${total}] ${v.label}: ${(ms / 1000).toFixed(2)} s`);
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
        tempDirs.delete(out);
      }
    });
  }
  return variants.map((v, i) => ({
    label: v.label,
    medianMs: median(runs[i]),
    runsMs: runs[i],
    templateBytes: sizes[i]?.bytes,
    resources: sizes[i]?.resources,
  }));
}

// ---- 1-3. failover --------------------------------------------------------------------------------

const HC = DRILL_CHECKER;

interface Drill {
  readonly slot: number;
  readonly detectMs: number;
  readonly recoverMs: number;
  /** Sessions started between the break and deregistration. */
  readonly windowSessions: number;
  readonly windowFailed: number;
  /** Of those failures, how many were answered by the broken backend (banner). */
  readonly windowFailedOnBroken: number;
  readonly afterSessions: number;
  readonly afterFailed: number;
}

interface FailoverFigures {
  readonly backends: number;
  readonly detectBoundMs: number;
  readonly recoverBoundMs: number;
  readonly drills: readonly Drill[];
}

async function measureFailover(drills: number): Promise<FailoverFigures> {
  const n = 3;
  log(
    `[failover] sandbox: ${n} backends, FTPS required, checker every ${HC.interval} s, timeout ${HC.timeout} s, fall ${HC.fall}, rise ${HC.rise}`,
  );
  const sb = await Sandbox.up({
    context: {
      backendCount: String(n),
      passivePortsPerBackend: '4',
      ...checkerContext(HC),
    },
    nlbHealth: DRILL_NLB_HEALTH,
    log: (m) => log(`  ${m}`),
  });
  const out: Drill[] = [];
  try {
    const target: Target = { host: sb.endpoint, user: sb.demo.user, password: sb.demo.password, caFile: sb.certificateFile };
    // Let the checker settle: every backend registered and counted healthy.
    await waitFor(() => sb.checkerLines.slice(-12).some((l) => l.includes(`"HealthyBackends":${n}`)), 30_000, 'a healthy first round');
    for (let i = 0; i < drills; i++) {
      const slot = i % n;
      const { broke, detectedAt, repaired, back, results } = await runDrill(target, {
        name: `drill ${i + 1}`,
        breakIt: () => sb.breakLogin(slot),
        detected: () => !sb.registeredSlots().includes(slot),
        repair: () => sb.repairLogin(slot),
        recovered: () => sb.registeredSlots().includes(slot),
        detectTimeoutMs: 60_000,
        recoverTimeoutMs: 60_000,
        loadEveryMs: 250,
        afterDetectionMs: 4000, // keep starting sessions after deregistration
      });
      const window = results.filter((r) => r.startedAt >= broke && r.startedAt < detectedAt);
      const after = results.filter((r) => r.startedAt >= detectedAt);
      const d: Drill = {
        slot,
        detectMs: detectedAt - broke,
        recoverMs: back - repaired,
        windowSessions: window.length,
        windowFailed: window.filter((r) => !r.ok).length,
        windowFailedOnBroken: window.filter((r) => !r.ok && r.slot === slot).length,
        afterSessions: after.length,
        afterFailed: after.filter((r) => !r.ok).length,
      };
      out.push(d);
      log(
        `[failover ${i + 1}/${drills}] slot ${slot}: deregistered after ${(d.detectMs / 1000).toFixed(1)} s, back ${(d.recoverMs / 1000).toFixed(1)} s after repair; ` +
          `window ${d.windowFailed}/${d.windowSessions} failed, after ${d.afterFailed}/${d.afterSessions} failed`,
      );
      await sleep(2000);
    }
  } finally {
    await sb.down();
    removeSessionFiles();
  }
  return {
    backends: n,
    detectBoundMs: checkerBoundsMs(HC).detect,
    recoverBoundMs: checkerBoundsMs(HC).recover,
    drills: out,
  };
}

// ---- 4. concurrency capacity ----------------------------------------------------------------------

interface CapacityStep {
  readonly concurrency: number;
  readonly ok: number;
  readonly medianMs: number;
  /** Failure reasons, counted (last FTP error reply or curl error). */
  readonly failures: Readonly<Record<string, number>>;
}

interface CapacityVariant {
  readonly r: number;
  /** FTPS as deployed by default, or plain FTP for comparison. */
  readonly ftps: 'required' | 'off';
}

interface CapacityFigures {
  readonly backends: number;
  readonly byR: ReadonlyArray<CapacityVariant & { readonly steps: readonly CapacityStep[] }>;
}

const variantLabel = (v: CapacityVariant) => `r=${v.r}${v.ftps === 'off' ? ' plain FTP' : ''}`;

const MB = 1024 * 1024;

/** One session as a client does it: FTPS login, a listing and a 1 MB download on one connection. */
async function capacitySession(t: Target): Promise<{ ok: boolean; ms: number; reason?: string; slot?: number }> {
  const base = ['-sS', '-v', '--max-time', '60', '-u', `${t.user}:${t.password}`, ...curlTlsArgs(t)];
  const t0 = performance.now();
  const r = await run(
    'curl',
    [...base, '-o', '/dev/null', `ftp://${t.host}/`, '--next', ...base, '-o', '/dev/null', `ftp://${t.host}/1mb.bin`],
    {
      timeoutMs: 70_000,
    },
  );
  const ms = performance.now() - t0;
  // Both transfers (the listing and the download) ended with 226.
  const received = (r.stderr.match(/< 226 /g) ?? []).length >= 2;
  if (r.code === 0 && received) return { ok: true, ms, slot: slotFromBanner(r.stderr) };
  const reply = r.stderr
    .split('\n')
    .filter((l) => /^< [45]\d\d /.test(l))
    .pop();
  const curlErr = /curl: \((\d+)\)/.exec(r.stderr)?.[0];
  return { ok: false, ms, reason: (reply?.slice(2, 60) ?? curlErr ?? `exit ${r.code}`).trim(), slot: slotFromBanner(r.stderr) };
}

async function measureCapacity(variants: readonly CapacityVariant[], cs: readonly number[]): Promise<CapacityFigures> {
  const n = 2;
  const byR: Array<CapacityVariant & { steps: CapacityStep[] }> = [];
  for (const [ri, v] of variants.entries()) {
    const { r } = v;
    const tag = variantLabel(v);
    log(`[capacity ${tag} (${ri + 1}/${variants.length})] sandbox: ${n} backends, ${r} passive port(s) each, FTPS ${v.ftps}, checker off`);
    const sb = await Sandbox.up({
      context: {
        ftps: v.ftps,
        // The sandbox's client address (198.18.x) is no private range: plain FTP to it is acknowledged.
        ...(v.ftps === 'off' ? { allowPlaintextFromInternet: 'true' } : {}),
        backendCount: String(n),
        passivePortsPerBackend: String(r),
        // One client address carries every session here, so lift the per-IP cap above the load.
        maxSessionsPerIp: '1000',
        maxClientsPerBackend: '1000',
      },
      checker: false,
      nlbHealth: DRILL_NLB_HEALTH,
      log: () => undefined,
    });
    const steps: CapacityStep[] = [];
    try {
      sb.writeDemoFile('1mb.bin', Buffer.alloc(MB, 0x5a));
      const target: Target = { host: sb.endpoint, user: sb.demo.user, password: sb.demo.password, caFile: sb.certificateFile };
      for (const c of cs) {
        const results = await Promise.all(Array.from({ length: c }, () => capacitySession(target)));
        const failures: Record<string, number> = {};
        for (const x of results.filter((y) => !y.ok)) failures[x.reason ?? '?'] = (failures[x.reason ?? '?'] ?? 0) + 1;
        const step = {
          concurrency: c,
          ok: results.filter((x) => x.ok).length,
          medianMs: median(results.map((x) => x.ms)),
          failures,
        };
        steps.push(step);
        log(
          `[capacity ${tag}] C=${c}: ${step.ok}/${c} ok, median ${(step.medianMs / 1000).toFixed(2)} s${Object.keys(failures).length ? `; failures: ${JSON.stringify(failures)}` : ''}`,
        );
        await sleep(500);
      }
    } finally {
      await sb.down();
    }
    byR.push({ ...v, steps });
  }
  return { backends: n, byR };
}

/** Largest C with 100% success, up to the first C that was not: the rated concurrency for this r. */
function ratedConcurrency(steps: readonly CapacityStep[]): number {
  let best = 0;
  for (const s of steps) {
    if (s.ok !== s.concurrency) break;
    best = s.concurrency;
  }
  return best;
}

// ---- report ---------------------------------------------------------------------------------------

interface Report {
  readonly options: Options;
  readonly machine: string;
  readonly date: string;
  readonly seconds: number;
  readonly synth: readonly SynthFigure[];
  readonly fanout: readonly FanoutFigures[];
  readonly artifact: ArtifactFigures;
  readonly failover: FailoverFigures;
  readonly capacity: CapacityFigures;
  readonly sustained: readonly SustainedFigures[];
}

const fmt = (x: number, d = 2) => x.toFixed(d);
const verdict = (ok: boolean) => (ok ? 'meets target' : 'OVER TARGET');

function machine(): string {
  const v = (cmd: string, args: string[], re: RegExp) => {
    try {
      return re.exec(execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))?.[1] ?? '?';
    } catch {
      return '?';
    }
  };
  const vsftpd = v('dpkg-query', ['-W', '-f=$' + '{Version}', 'vsftpd'], /^(\S+)/);
  const curl = v('curl', ['--version'], /^curl (\S+)/);
  return `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}, vsftpd ${vsftpd}, curl ${curl}`;
}

function rowsOf(rep: Report): Array<[string, Array<[string, string]>]> {
  const f = rep.failover;
  const detect = f.drills.map((d) => d.detectMs / f.detectBoundMs);
  const recover = f.drills.map((d) => d.recoverMs / f.recoverBoundMs);
  const window = f.drills.reduce((a, d) => a + d.windowSessions, 0);
  const windowFailed = f.drills.reduce((a, d) => a + d.windowFailed, 0);
  const windowOnBroken = f.drills.reduce((a, d) => a + d.windowFailedOnBroken, 0);
  const after = f.drills.reduce((a, d) => a + d.afterSessions, 0);
  const afterFailed = f.drills.reduce((a, d) => a + d.afterFailed, 0);
  const [empty, n1, n12] = rep.synth;
  const synthRatio = n12.medianMs / n1.medianMs;
  const appRatio = n1.medianMs / empty.medianMs;
  const cap = rep.capacity;
  return [
    [
      `1-3. Failover (${f.drills.length} drills, ${f.backends} backends; bound = fall x interval + timeout = ${f.detectBoundMs / 1000} s)`,
      [
        [
          'detection / bound, median (max)',
          `${fmt(median(detect))} (${fmt(Math.max(...detect))})  target <= 1.1: ${verdict(Math.max(...detect) <= 1.1)}`,
        ],
        [
          'recovery / bound, median (max)',
          `${fmt(median(recover))} (${fmt(Math.max(...recover))})  target <= 1.1: ${verdict(Math.max(...recover) <= 1.1)}`,
        ],
        [
          'detection, absolute: median (max)',
          `${fmt(median(f.drills.map((d) => d.detectMs)) / 1000, 1)} s (${fmt(Math.max(...f.drills.map((d) => d.detectMs)) / 1000, 1)} s)`,
        ],
        ['failed sessions started after deregistration', `${afterFailed} of ${after}  target 0: ${verdict(afterFailed === 0)}`],
        [
          'failed sessions started between break and deregistration',
          `${windowFailed} of ${window} (${window ? fmt((100 * windowFailed) / window, 0) : 0}%; flow hash sends ~1/${f.backends} = ${fmt(100 / f.backends, 0)}% to the broken backend; ${windowOnBroken} of the failures were answered by it)`,
        ],
      ],
    ],
    [
      `4. Concurrency capacity (N=${cap.backends}, all C sessions start at once, each: login + list + 1 MB download)`,
      cap.byR.flatMap((v) => {
        const { r, steps } = v;
        const tag = variantLabel(v);
        const rated = ratedConcurrency(steps);
        return [
          [`${tag}: success by C`, steps.map((s) => `C=${s.concurrency} ${fmt((100 * s.ok) / s.concurrency, 0)}%`).join(', ')] as [
            string,
            string,
          ],
          [`${tag}: median session time by C`, steps.map((s) => `C=${s.concurrency} ${fmt(s.medianMs / 1000, 1)} s`).join(', ')] as [
            string,
            string,
          ],
          [
            `${tag}: rated concurrency (largest C at 100%)`,
            `${rated} session${rated === 1 ? '' : 's'} = ${fmt(rated / (cap.backends * r), 1)} per backend per passive port${rated === steps.at(-1)?.concurrency ? ' (not reached: the highest C tried)' : ''}; most at once: ${Math.max(...steps.map((s) => s.ok))}`,
          ] as [string, string],
        ];
      }),
    ],
    [
      '4b. Sustained concurrency (N=2, r=8: 16 passive ports; FTPS; C downloads held open at once, 10 new a second, each 2 MB read at 64 KB/s, SHA-256 checked)',
      [
        ...rep.sustained.flatMap((f) =>
          f.steps.map((st): [string, string] => [
            `${f.server}: C=${st.concurrency}`,
            `${st.intact}/${st.concurrency} intact, ${st.maxOpenAtOnce} open at once${st.firstError ? `; first error: ${st.firstError}` : ''}`,
          ]),
        ),
        ...sustainedRows(rep.sustained),
      ],
    ],
    [FANOUT_HEADING.slice(3), fanoutRows(rep.fanout)],
    [
      '6. Synth scaling (npx cdk synth, offline, median)',
      [
        ...rep.synth.map((s): [string, string] => [
          s.label,
          `${fmt(s.medianMs / 1000)} s${s.templateBytes ? `, template ${(s.templateBytes / 1024).toFixed(0)} KiB, ${s.resources} resources` : ''}`,
        ]),
        ['N=12 / N=1', `${fmt(synthRatio)}  target <= 1.3: ${verdict(synthRatio <= 1.3)}`],
        ['nlb-ftp N=1 / empty app', `${fmt(appRatio)}  target <= 2.0: ${verdict(appRatio <= 2.0)}`],
      ],
    ],
    ['7. Checker artifact', artifactRows(rep.artifact)],
  ];
}

function capacityChart(rep: Report): string {
  const cap = rep.capacity;
  const xs = cap.byR[0]?.steps.map((s) => s.concurrency) ?? [1];
  return lineChartSvg({
    title: `nlb-ftp: sessions that succeed vs. concurrent sessions (N=${cap.backends})`,
    subtitle: `FTPS unless marked, login + list + 1 MB download each; sandbox, ${rep.date.slice(0, 10)}, ${os.cpus().length} cores${rep.options.quick ? ', --quick' : ''}`,
    xLabel: 'concurrent sessions C (all started at once)',
    yLabel: 'sessions that succeeded',
    xs,
    series: cap.byR.map((v) => ({
      label: `${variantLabel(v)} (rated ${ratedConcurrency(v.steps)})`,
      points: v.steps.map((s) => ({ x: s.concurrency, y: (100 * s.ok) / s.concurrency })),
    })),
  });
}

function markdown(rep: Report, sections: Array<[string, Array<[string, string]>]>): string {
  const cmd = `npm run bench -- ${rep.options.quick ? '--quick ' : ''}--write`;
  const out = [
    '# nlb-ftp benchmark results',
    '',
    `Generated by \`${cmd}\` (bench/run.ts); every figure below comes from that one run. Do not edit by hand: run it again.`,
    '',
    `- **Date:** ${rep.date}`,
    `- **Machine:** ${rep.machine}`,
    `- **Duration:** ${fmt(rep.seconds / 60, 1)} min`,
    "- **Setup:** the local sandbox (network namespaces, kernel-DNAT emulated NLB, Debian vsftpd configured from the synthesized template, FTPS required as by default, the real checker against a local AWS endpoint). Client and all backends share this machine's cores, so absolute times are context only; the ratios and counts are the figures.",
    '',
  ];
  for (const [title, rows] of sections) {
    out.push(`## ${title}`, '', '| Figure | Value |', '| --- | --- |');
    for (const [k, v] of rows) out.push(`| ${k} | ${v.replace(/\|/g, '\\|')} |`);
    out.push('');
  }
  out.push('![Concurrency capacity](capacity.svg)', '');
  const f = rep.failover;
  out.push(
    '## Failover drills',
    '',
    '| # | Slot | Detected (s) | / bound | Back (s) | / bound | Window: failed / started | After: failed / started |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  f.drills.forEach((d, i) => {
    out.push(
      `| ${i + 1} | ${d.slot} | ${fmt(d.detectMs / 1000, 1)} | ${fmt(d.detectMs / f.detectBoundMs)} | ${fmt(d.recoverMs / 1000, 1)} | ${fmt(d.recoverMs / f.recoverBoundMs)} | ${d.windowFailed} / ${d.windowSessions} | ${d.afterFailed} / ${d.afterSessions} |`,
    );
  });
  out.push('', '## Capacity steps', '', '| variant | C | ok | median session (s) | failures |', '| --- | --- | --- | --- | --- |');
  for (const v of rep.capacity.byR) {
    for (const s of v.steps)
      out.push(
        `| ${variantLabel(v)} | ${s.concurrency} | ${s.ok} | ${fmt(s.medianMs / 1000)} | ${
          Object.entries(s.failures)
            .map(([k, count]) => `${count}x ${k}`)
            .join('; ') || '-'
        } |`,
      );
  }
  out.push('');
  return out.join('\n');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('npm run bench needs root: it creates network namespaces and runs vsftpd on port 21.');
  const started = Date.now();
  const onSignal = () => {
    log('\ninterrupted: removing the sandbox ...');
    cleanupSandbox();
    for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
    removeUser(BENCH_USER); // the fan-out bench's account, if it was interrupted
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  cleanupSandbox(); // a crashed earlier run must not break this one

  log(`nlb-ftp benchmark (${opts.quick ? 'quick' : 'full'})`);
  const synth = measureSynth(opts.quick ? 1 : 3);
  const fanout = await measureFanout({
    repeats: opts.quick ? 3 : 7,
    hashes: opts.quick ? ['yescrypt', 'latency-ftps'] : ['yescrypt', 'sha512', 'latency', 'latency-ftps'],
    log,
  });
  const artifact = measureArtifact(opts.quick ? 3 : 7);
  const failover = await measureFailover(opts.quick ? 2 : 5);
  const rs = opts.quick ? [1, 4] : [1, 2, 4, 8];
  const capacity = await measureCapacity(
    // Plain FTP at r=4 as well (full run): how much of the limit comes from TLS here.
    [...rs.map((r) => ({ r, ftps: 'required' as const })), ...(opts.quick ? [] : [{ r: 4, ftps: 'off' as const }])],
    opts.quick ? [1, 4, 16, 32] : [1, 2, 4, 8, 16, 32, 64, 128],
  );

  const sustained = await measureSustained({
    servers: ['vsftpd', 'proftpd'],
    concurrencies: opts.quick ? [16, 32, 64] : [16, 32, 64, 128, 200, 256],
    ...SUSTAINED_BENCH,
    log,
  });

  const rep: Report = {
    options: opts,
    machine: machine(),
    date: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    synth,
    fanout,
    artifact,
    failover,
    capacity,
    sustained,
  };
  const sections = rowsOf(rep);
  for (const [title, rows] of sections) printTable(title, rows);
  console.log(`\n${rep.machine}\nfinished in ${fmt(rep.seconds / 60, 1)} min`);
  if (opts.write) {
    // Sections 4c (`npm run bench:sustained -- --scale --write`) and 8 (`npm run bench:users --
    // --write`) come from separate, longer runs: keep them where they were.
    const old = fs.existsSync(RESULTS_FILE) ? fs.readFileSync(RESULTS_FILE, 'utf8') : '';
    const kept = (marker: string) => {
      const at = old.indexOf(marker);
      return at < 0 ? '' : old.slice(at, old.indexOf('\n## ', at + 1) + 1 || undefined);
    };
    let text = markdown(rep, sections);
    const scale = kept('## 4c.');
    if (scale && text.includes('## 5.')) text = text.replace('## 5.', `${scale}## 5.`);
    const users = kept('## 8.');
    if (users && text.includes('## Failover drills')) text = text.replace('## Failover drills', `${users}\n## Failover drills`);
    fs.writeFileSync(RESULTS_FILE, text);
    fs.writeFileSync(path.join(__dirname, 'capacity.svg'), capacityChart(rep));
    console.log('wrote bench/RESULTS.md and bench/capacity.svg');
  }
}

main().catch((err) => {
  console.error(`bench failed: ${(err as Error).message}`);
  cleanupSandbox();
  process.exit(1);
});
