/**
 * `npm run bench:checker`: figures for the health checker, printed, never asserted (also part of
 * `npm run bench`).
 *   - wall time of one probe round against K = 1, 4, 16 real vsftpd backends on loopback, and the
 *     ratio K=16 / K=1 (target <= 1.3: the probes run concurrently);
 *   - the size of the Lambda asset CDK bundles;
 *   - the time to require() that bundle cold, as a proxy for Lambda init.
 * Needs root and Debian's vsftpd (like the integration tests).
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { synthWithCheckerBundle } from '../harness/synth';
import { runRound } from '../lambda/health-checker/checker';
import { type ProbeTls, probeBackend } from '../lambda/health-checker/probe';
import { fixedLocator, slotsOf } from '../lambda/health-checker/slot-locator';
import { type CommandSpec, parseOrExit } from '../lib/cli/command';
import { parseConfig } from '../lib/config';
import { checkerMemoryMb, roundCpuWallMs } from '../lib/shared/checker-sizing';
import { type BackendRef, checkerEnvironment } from '../lib/shared/contract';
import { slotPorts } from '../lib/shared/port-plan';
import { createSelfSignedCertificate } from '../lib/shared/self-signed-certificate';
import { LocalUsers, type LocalVsftpd, startVsftpdBackends } from '../sandbox/local-vsftpd';
import { resultsSection, writeResultsSection } from './results-file';

export const BENCH_USER = 'nlbftpbench';
const PASS = 'Bench-Health-Pass-123';
const REPEATS = Number(process.env.BENCH_REPEATS ?? 7);

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const quiet = { info() {}, warn() {}, error() {} };
const noMetrics = { probe() {}, round() {}, heartbeat() {}, flush() {} };

/** Wall time and this process's CPU time (user + system) of one thing, in milliseconds. */
interface Timed {
  readonly ms: number;
  readonly cpuMs: number;
}

/** One real round (probes + decision) with in-memory stand-ins for the AWS side. */
async function roundMs(inventory: readonly BackendRef[], tls?: ProbeTls): Promise<Timed> {
  const registered = new Map(inventory.map((b) => [b.instanceId, 'healthy']));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await runRound(
    {
      registry: { describe: async () => registered, register: async () => {}, deregister: async () => {} },
      locator: fixedLocator(inventory),
      store: { load: async () => ({ version: 0, counters: {} }), save: async () => true },
      credentials: { get: async () => ({ username: BENCH_USER, password: PASS }), invalidate() {} },
      ...(tls ? { tls: { get: async () => tls, invalidate() {} } } : {}),
      probe: probeBackend,
      log: quiet,
      metrics: noMetrics,
    },
    { slots: slotsOf(inventory), thresholds: { fall: 2, rise: 2 }, intervalMs: 10_000, stepTimeoutMs: 5000 },
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const failed = out.results.filter((r) => !r.ok);
  if (failed.length) throw new Error(`probe failed during the benchmark: ${JSON.stringify(failed[0])}`);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/**
 * On AWS the checker and every backend have CPUs of their own; here they share two cores. The
 * checker and the delay relays (which stand for the network) run at high priority (nice -10), the
 * backends at low priority (nice 10): the checker never waits behind a backend's login, while the
 * backends still get every core the checker leaves idle.
 */
const CHECKER_NICE = -10;
const BACKEND_NICE = 10;

/** Set a process's nice value (its threads' too: on Linux a nice value belongs to each thread). */
function renice(pid: number, nice: number): void {
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) execFileSync('renice', ['-n', String(nice), '-p', tid], { stdio: 'ignore' });
}

/**
 * CPU time of a server so far, with its sessions: the listener's own time plus what it reaped
 * (vsftpd forks each session from the listener and reaps it; cutime and cstime add those up).
 */
function serverCpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After the ")" that ends the command name, state is field 3, so utime..cstime (fields 14-17) are at 11..14.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return (ticks * 1000) / clockTicks();
}

/** Clock ticks per second of /proc's CPU times (getconf CLK_TCK), read once when first needed. */
let ticksPerSecond: number | undefined;
function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

/** The delay relays as a process of their own at the checker's priority; resolves once they listen. */
async function startRelays(spec: { delayMs: number; relays: Array<{ listenHost: string; targetHost: string; ports: number[] }> }) {
  const script = path.join(__dirname, 'delay-relay.ts');
  const child = spawn('nice', ['-n', String(CHECKER_NICE), process.execPath, '--import', 'tsx', script, JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`delay relays exited with ${code}: ${err.trim()}`)));
  });
  return child;
}

/** 16 vsftpd backends on 127.18.<net>.1-16, plain FTP or FTPS required, at the backends' priority. */
async function startFleet(
  net: number,
  passivePortStart: number,
  allowFile: string,
  tls?: { certFile: string; keyFile: string },
): Promise<{ servers: LocalVsftpd[]; inventory: BackendRef[] }> {
  const inventory = Array.from({ length: 16 }, (_, slot) => ({
    slot,
    instanceId: `i-bench${net}-${slot}`,
    privateIp: `127.18.${net}.${slot + 1}`,
  }));
  const servers = await startVsftpdBackends(inventory, {
    allowFile,
    passivePortStart,
    passivePortsPerBackend: PASSIVE_PORTS_PER_BACKEND,
    maxPerIp: 50,
    tlsFiles: tls && (() => tls),
  });
  for (const pid of servers.flatMap((v) => [v.pid, v.auditPid])) if (pid) renice(pid, BACKEND_NICE);
  return { servers, inventory };
}

export interface FanoutFigures {
  /** How the backends hash the health password, and whether probes cross a delay (see below). */
  readonly hash: FanoutVariant;
  /** Median wall time of one round, by number of backends K. */
  readonly roundMs: Readonly<Record<1 | 4 | 16, number>>;
  /** The checker's own CPU time per probe (user + system), median over the K = 16 rounds. */
  readonly cpuPerProbeMs: number;
  /** The backends' CPU time per probe (the vsftpd sessions: fork, PAM, TLS), over the K = 16 rounds. */
  readonly backendCpuPerProbeMs: number;
  /** The same 16 probes one after another. */
  readonly sequential16Ms: number;
  readonly repeats: number;
}

/**
 * One probe round against K = 1, 4 and 16 real vsftpd backends on loopback, and 16 probes one
 * after another. Debian's chpasswd stores yescrypt hashes, which cost ~50 ms of CPU per login by
 * design; here all 16 "backends" share this machine's cores, so that cost serializes, while on AWS
 * each backend pays it on its own CPU. The `sha512` variant swaps in a SHA-512 hash for the
 * health account (this bench only) to show the checker's own concurrency. The `latency` variants
 * add a 50 ms round trip to every backend, so that probes are bound by the network as on AWS;
 * `latency-ftps` probes as the default stack does (AUTH TLS, a protected listing).
 */
export type FanoutVariant = 'yescrypt' | 'sha512' | 'latency' | 'latency-ftps';

/** One-way delay of the latency variant: 25 ms each way, a 50 ms round trip, as across AZs and busy hosts. */
const ONE_WAY_DELAY_MS = 25;
/** Where the plain and the FTPS fleets' passive ranges begin, and their size. */
const PASSIVE_PORTS_PER_BACKEND = 3;
const PLAIN_PASSIVE_START = 44000;
const FTPS_PASSIVE_START = 45000;

export async function measureFanout(opts: {
  repeats: number;
  hashes: readonly FanoutVariant[];
  log?: (m: string) => void;
}): Promise<FanoutFigures[]> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-bench-'));
  const users = new LocalUsers(root, { [BENCH_USER]: PASS });
  const servers: LocalVsftpd[] = [];
  const relays: ChildProcess[] = [];
  const niceBefore = os.getPriority();
  try {
    users.apply();
    renice(process.pid, CHECKER_NICE);
    log(`the checker and the delay relays at nice ${CHECKER_NICE}, the backends at nice ${BACKEND_NICE}`);
    // The one start path that is not a boot (issue: one start path): this bench measures the
    // checker's fan-out, not a backend, so 32 loopback servers stand in for backends, rendered by
    // the same renderers the boot's settings carry. Booting 32 Debian instances here would measure
    // apt, not the checker.
    log(
      'NOT BOOTED: this bench measures the checker, not a backend; its 32 loopback vsftpd servers use the same renderers as the boot, and every other test and bench boots its backends from the user data',
    );
    log('starting 16 plain-FTP and 16 FTPS vsftpd backends on loopback ...');
    const certificate = createSelfSignedCertificate({ commonName: 'nlb-ftp-bench', names: ['127.18.7.1'] });
    const tlsFiles = { certFile: path.join(root, '.bench.crt'), keyFile: path.join(root, '.bench.key') };
    fs.writeFileSync(tlsFiles.certFile, certificate.certificate);
    fs.writeFileSync(tlsFiles.keyFile, certificate.privateKey, { mode: 0o600 });
    const plain = await startFleet(5, PLAIN_PASSIVE_START, users.allowFile);
    const ftps = await startFleet(7, FTPS_PASSIVE_START, users.allowFile, tlsFiles);
    servers.push(...plain.servers, ...ftps.servers);
    const out: FanoutFigures[] = [];
    for (const hash of opts.hashes) {
      const withTls = hash === 'latency-ftps';
      const fleet = withTls ? ftps : plain;
      let targets = fleet.inventory;
      const latency = hash === 'latency' || withTls;
      // On AWS each backend hashes on its own CPU: the cheap hash leaves only the network.
      if (latency || hash === 'sha512') {
        const sha512 = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: PASS, encoding: 'utf8' }).trim();
        execFileSync('usermod', ['-p', sha512, BENCH_USER]);
      }
      if (latency) {
        const net = withTls ? 8 : 6;
        const delayed = (ip: string) => ip.replace(/^127\.18\.\d+\./, `127.18.${net}.`);
        relays.push(
          await startRelays({
            delayMs: ONE_WAY_DELAY_MS,
            relays: targets.map((b) => ({
              listenHost: delayed(b.privateIp),
              targetHost: b.privateIp,
              ports: [
                21,
                ...slotPorts(b.slot, {
                  passivePortsPerBackend: PASSIVE_PORTS_PER_BACKEND,
                  passivePortStart: withTls ? FTPS_PASSIVE_START : PLAIN_PASSIVE_START,
                }).ports,
              ],
            })),
          }),
        );
        targets = targets.map((b) => ({ ...b, privateIp: delayed(b.privateIp) }));
        log(`  ${hash}: every backend behind a relay adding ${2 * ONE_WAY_DELAY_MS} ms round trip`);
      }
      const tls: ProbeTls | undefined = withTls ? { ca: certificate.certificate } : undefined;
      await roundMs(targets, tls); // warm up: first logins load PAM modules and libraries
      const roundMsByK = {} as Record<1 | 4 | 16, number>;
      let cpuPerProbeMs = 0;
      let backendCpuPerProbeMs = 0;
      for (const k of [1, 4, 16] as const) {
        const runs: Timed[] = [];
        const backendCpu0 = fleet.servers.reduce((sum, v) => sum + serverCpuMs(v.pid), 0);
        for (let i = 0; i < opts.repeats; i++) runs.push(await roundMs(targets.slice(0, k), tls));
        roundMsByK[k] = median(runs.map((r) => r.ms));
        if (k === 16) {
          cpuPerProbeMs = median(runs.map((r) => r.cpuMs)) / 16;
          // Sessions are reaped a moment after QUIT: let the last ones end before reading.
          await new Promise((r) => setTimeout(r, 500));
          backendCpuPerProbeMs = (fleet.servers.reduce((sum, v) => sum + serverCpuMs(v.pid), 0) - backendCpu0) / (16 * opts.repeats);
        }
        log(`  checker fan-out (${hash}), K=${k}: ${runs.map((r) => r.ms.toFixed(0)).join(', ')} ms`);
      }
      const seq: number[] = [];
      for (let i = 0; i < opts.repeats; i++) {
        const t0 = performance.now();
        for (const b of targets) await roundMs([b], tls);
        seq.push(performance.now() - t0);
      }
      out.push({ hash, roundMs: roundMsByK, cpuPerProbeMs, backendCpuPerProbeMs, sequential16Ms: median(seq), repeats: opts.repeats });
    }
    return out;
  } finally {
    for (const r of relays) r.kill('SIGKILL');
    for (const v of servers) await v.dispose();
    users.dispose();
    fs.rmSync(root, { recursive: true, force: true });
    renice(process.pid, niceBefore);
  }
}

/** Section 5 of bench/RESULTS.md. */
export const FANOUT_HEADING = '## 5. Checker fan-out (one probe round, real vsftpd on loopback)';

export function fanoutRows(figures: readonly FanoutFigures[]): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  // The figure that says whether the checker fans out: probes bound by the network, as on AWS.
  const lat = figures.find((f) => f.hash === 'latency');
  if (lat) {
    const r = lat.roundMs[16] / lat.roundMs[1];
    rows.push([`ratio K=16/K=1 (latency-bound): ${r.toFixed(2)}`, `target <= 1.3: ${r <= 1.3 ? 'OK' : 'OVER TARGET'}`]);
  }
  const ftps = figures.find((f) => f.hash === 'latency-ftps');
  if (ftps) {
    const r = ftps.roundMs[16] / ftps.roundMs[1];
    rows.push([`ratio K=16/K=1 (latency-bound, FTPS as deployed): ${r.toFixed(2)}`, `target <= 1.3: ${r <= 1.3 ? 'OK' : 'OVER TARGET'}`]);
    // What that CPU means on Lambda, where memory buys CPU (lib/shared/checker-sizing.ts).
    for (const backends of [2, 12, 23]) {
      for (const mb of new Set([256, checkerMemoryMb(backends, 5)])) {
        rows.push([
          `a round of ${backends} FTPS probes on Lambda at ${mb} MB: its CPU alone`,
          `${roundCpuWallMs(backends, mb, ftps.cpuPerProbeMs).toFixed(0)} ms (step deadline 5000 ms)`,
        ]);
      }
    }
  }
  for (const f of figures) {
    for (const k of [1, 4, 16] as const)
      rows.push([`probe round, ${f.hash}, K=${k} (median of ${f.repeats})`, `${f.roundMs[k].toFixed(0)} ms`]);
    const ratio = f.roundMs[16] / f.roundMs[1];
    rows.push([`ratio K=16 / K=1, ${f.hash} (target <= 1.3)`, `${ratio.toFixed(2)} ${ratio <= 1.3 ? 'OK' : 'OVER TARGET'}`]);
    rows.push([`checker CPU per probe, ${f.hash} (median over K=16 rounds)`, `${f.cpuPerProbeMs.toFixed(1)} ms`]);
    rows.push([`backend CPU per probe, ${f.hash} (the vsftpd session, K=16 rounds)`, `${f.backendCpuPerProbeMs.toFixed(1)} ms`]);
    // Where a round for 16 takes longer than for 1: here the 16 backends' sessions share this
    // machine's cores, while on AWS each backend has its own.
    rows.push([
      `K=16 round over K=1, ${f.hash}: what the 16 backends' CPU takes on ${os.cpus().length} cores`,
      `${(f.roundMs[16] - f.roundMs[1]).toFixed(0)} ms longer; ${((16 * f.backendCpuPerProbeMs) / os.cpus().length).toFixed(0)} ms of backend CPU per core`,
    ]);
    rows.push([
      `16 probes one after another, ${f.hash} (median)`,
      `${f.sequential16Ms.toFixed(0)} ms (concurrency gain ${(f.sequential16Ms / f.roundMs[16]).toFixed(1)}x on ${os.cpus().length} cores)`,
    ]);
  }
  return rows;
}

export interface ArtifactFigures {
  readonly bundleBytes: number;
  readonly coldRequireMs: number;
  readonly repeats: number;
}

export function measureArtifact(repeats: number): ArtifactFigures {
  process.stderr.write('bundling the checker with the stack (esbuild) ...\n');
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-bench-cdkout-'));
  const file = synthWithCheckerBundle(parseConfig({}), outdir).checkerBundle;
  if (!file) throw new Error('the default stack has no health checker function');
  const bytes = fs.statSync(file).size;
  const env = {
    ...process.env,
    ...checkerEnvironment({
      slots: [{ slot: 0, passiveTargetGroup: 'targetgroup/x-s0/0', passivePorts: { min: 40000, max: 40003 } }],
      controlTargetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/0',
      healthSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf',
      stateTable: 't',
      intervalSeconds: 10,
      timeoutSeconds: 5,
      fallThreshold: 2,
      riseThreshold: 2,
      budgetSeconds: 60,
    }),
    AWS_REGION: 'eu-west-1',
    NODE_NO_WARNINGS: '1',
  };
  // Each require runs in a fresh node process: cold, as in a new Lambda execution environment.
  // Nothing is invoked, so no request is ever sent.
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(file)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) times.push(Number(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' })));
  fs.rmSync(outdir, { recursive: true, force: true });
  return { bundleBytes: bytes, coldRequireMs: median(times), repeats };
}

export function artifactRows(a: ArtifactFigures): Array<[string, string]> {
  return [
    ['checker bundle size (minified, all dependencies inside)', `${(a.bundleBytes / 1024).toFixed(0)} KiB`],
    [`cold require() of the bundle (median of ${a.repeats})`, `${a.coldRequireMs.toFixed(0)} ms`],
  ];
}

export function printTable(title: string, rows: ReadonlyArray<readonly [string, string]>): void {
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\n${title}`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
}

const CHECKER_COMMAND: CommandSpec = {
  usage: 'npm run bench:checker --',
  summary: 'Health checker figures (root): probe rounds against 16 real vsftpd backends, its CPU per probe, the bundle.',
  options: {
    write: { type: 'boolean', help: 'also write section 5 (fan-out) of bench/RESULTS.md', default: 'off' },
  },
  examples: ['sudo npm run bench:checker', 'sudo npm run bench:checker -- --write'],
};

async function main() {
  const args = parseOrExit(CHECKER_COMMAND, process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('bench:checker needs root: it starts vsftpd on port 21.');
  const started = Date.now();
  const fanout = fanoutRows(await measureFanout({ repeats: REPEATS, hashes: ['yescrypt', 'sha512', 'latency', 'latency-ftps'] }));
  const rows = [...fanout, ...artifactRows(measureArtifact(REPEATS))];
  printTable(`nlb-ftp checker benchmark (${os.cpus().length} cores, node ${process.version}, ${new Date().toISOString()})`, rows);
  if (args.write === true) {
    const section = resultsSection(FANOUT_HEADING, 'npm run bench:checker -- --write', (Date.now() - started) / 60_000, fanout);
    writeResultsSection('## 5.', section, '## 6.');
    console.log('wrote section 5 of bench/RESULTS.md');
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`bench:checker failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
