/**
 * `npm run bench:checker`: figures for the health checker, printed, never asserted (also part of
 * `npm run bench`).
 *   - wall time of one probe round against K = 1, 4, 16 real vsftpd backends on loopback, and the
 *     ratio K=16 / K=1 (target <= 1.3: the probes run concurrently);
 *   - the size of the Lambda asset CDK bundles;
 *   - the time to require() that bundle cold, as a proxy for Lambda init.
 * Needs root and Debian's vsftpd (like the integration tests).
 */

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { synthWithCheckerBundle } from '../harness/synth';
import { runRound } from '../lambda/health-checker/checker';
import { probeBackend } from '../lambda/health-checker/probe';
import { fixedLocator, slotsOf } from '../lambda/health-checker/slot-locator';
import { parseConfig } from '../lib/config';
import { type BackendRef, checkerEnvironment } from '../lib/shared/contract';
import { slotPorts } from '../lib/shared/port-plan';
import { LocalUsers, LocalVsftpd } from '../sandbox/local-vsftpd';

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

/** One real round (probes + decision) with in-memory stand-ins for the AWS side. */
async function roundMs(inventory: readonly BackendRef[]): Promise<number> {
  const registered = new Map(inventory.map((b) => [b.instanceId, 'healthy']));
  const t0 = performance.now();
  const out = await runRound(
    {
      registry: { describe: async () => registered, register: async () => {}, deregister: async () => {} },
      locator: fixedLocator(inventory),
      store: { load: async () => ({ version: 0, counters: {} }), save: async () => true },
      credentials: { get: async () => ({ username: BENCH_USER, password: PASS }), invalidate() {} },
      probe: probeBackend,
      log: quiet,
      metrics: noMetrics,
    },
    { slots: slotsOf(inventory), thresholds: { fall: 2, rise: 2 }, intervalMs: 10_000, stepTimeoutMs: 5000 },
  );
  const ms = performance.now() - t0;
  const failed = out.results.filter((r) => !r.ok);
  if (failed.length) throw new Error(`probe failed during the benchmark: ${JSON.stringify(failed[0])}`);
  return ms;
}

export interface FanoutFigures {
  /** What the 16 vsftpd servers hash the health password with (see below). */
  /** `latency`: SHA-512 hashes and 50 ms round trip to every backend (see measureFanout). */
  readonly hash: FanoutVariant;
  /** Median wall time of one round, by number of backends K. */
  readonly roundMs: Readonly<Record<1 | 4 | 16, number>>;
  /** The same 16 probes one after another. */
  readonly sequential16Ms: number;
  readonly repeats: number;
}

/**
 * One probe round against K = 1, 4 and 16 real vsftpd backends on loopback, and 16 probes one
 * after another. Debian's chpasswd stores yescrypt hashes, which cost ~50 ms of CPU per login by
 * design; here all 16 "backends" share this machine's cores, so that cost serializes, while on AWS
 * each backend pays it on its own CPU. The `sha512` variant swaps in a SHA-512 hash for the
 * health account (this bench only) to show the checker's own concurrency.
 */
export type FanoutVariant = 'yescrypt' | 'sha512' | 'latency';

/** One-way delay of the latency variant: 25 ms each way, a 50 ms round trip, as across AZs and busy hosts. */
const ONE_WAY_DELAY_MS = 25;

/**
 * A TCP relay that holds every chunk for `delayMs` in each direction, on the backend's port 21 and
 * its passive range, so a probe is network-bound. (The kernel here has no netem qdisc:
 * `tc qdisc add ... netem` answers "Specified qdisc kind is unknown".)
 */
function delayRelay(listenHost: string, ports: readonly number[], targetHost: string, delayMs: number): net.Server[] {
  return ports.map((port) => {
    const server = net.createServer((client) => {
      const upstream = net.connect(port, targetHost);
      const relay = (from: net.Socket, to: net.Socket) => {
        from.on('data', (d) => setTimeout(() => to.writable && to.write(d), delayMs));
        from.on('end', () => setTimeout(() => to.end(), delayMs));
        from.on('error', () => to.destroy());
      };
      relay(client, upstream);
      relay(upstream, client);
    });
    server.listen(port, listenHost);
    return server;
  });
}

export async function measureFanout(opts: {
  repeats: number;
  hashes: readonly FanoutVariant[];
  log?: (m: string) => void;
}): Promise<FanoutFigures[]> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-bench-'));
  const users = new LocalUsers(root, { [BENCH_USER]: PASS });
  const servers: LocalVsftpd[] = [];
  try {
    users.apply();
    const inventory: BackendRef[] = [];
    log('starting 16 vsftpd backends on loopback ...');
    for (let slot = 0; slot < 16; slot++) {
      const ip = `127.18.5.${slot + 1}`;
      const ports = slotPorts(slot, { passivePortsPerBackend: 3, passivePortStart: 44000 });
      const v = new LocalVsftpd({
        slot,
        listenAddress: ip,
        pasvAddress: ip,
        pasvMinPort: ports.minPort,
        pasvMaxPort: ports.maxPort,
        maxClients: 50,
        maxPerIp: 50,
        allowFile: users.allowFile,
      });
      servers.push(v);
      await v.start();
      inventory.push({ slot, instanceId: `i-bench${slot}`, privateIp: ip });
    }
    const out: FanoutFigures[] = [];
    const relays: net.Server[] = [];
    for (const hash of opts.hashes) {
      let targets = inventory;
      if (hash === 'latency') {
        // On AWS each backend hashes on its own CPU: use the cheap hash so only the network is left.
        const sha512 = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: PASS, encoding: 'utf8' }).trim();
        execFileSync('usermod', ['-p', sha512, BENCH_USER]);
        targets = inventory.map((b) => {
          const ip = b.privateIp.replace('127.18.5.', '127.18.6.');
          const ports = slotPorts(b.slot, { passivePortsPerBackend: 3, passivePortStart: 44000 });
          relays.push(...delayRelay(ip, [21, ...ports.ports], b.privateIp, ONE_WAY_DELAY_MS));
          return { ...b, privateIp: ip };
        });
        log(`  latency variant: every backend behind a relay adding ${2 * ONE_WAY_DELAY_MS} ms round trip`);
      }
      if (hash === 'sha512') {
        const sha512 = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: PASS, encoding: 'utf8' }).trim();
        execFileSync('usermod', ['-p', sha512, BENCH_USER]);
      }
      await roundMs(targets); // warm up: first logins load PAM modules and libraries
      const roundMsByK = {} as Record<1 | 4 | 16, number>;
      for (const k of [1, 4, 16] as const) {
        const times: number[] = [];
        for (let i = 0; i < opts.repeats; i++) times.push(await roundMs(targets.slice(0, k)));
        roundMsByK[k] = median(times);
        log(`  checker fan-out (${hash}), K=${k}: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
      }
      const seq: number[] = [];
      for (let i = 0; i < opts.repeats; i++) {
        const t0 = performance.now();
        for (const b of targets) await roundMs([b]);
        seq.push(performance.now() - t0);
      }
      out.push({ hash, roundMs: roundMsByK, sequential16Ms: median(seq), repeats: opts.repeats });
    }
    for (const r of relays) r.close();
    return out;
  } finally {
    for (const v of servers) await v.dispose();
    users.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export function fanoutRows(figures: readonly FanoutFigures[]): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  // The figure that says whether the checker fans out: probes bound by the network, as on AWS.
  const lat = figures.find((f) => f.hash === 'latency');
  if (lat) {
    const r = lat.roundMs[16] / lat.roundMs[1];
    rows.push([`ratio K=16/K=1 (latency-bound): ${r.toFixed(2)}`, `target <= 1.3: ${r <= 1.3 ? 'OK' : 'OVER TARGET'}`]);
  }
  for (const f of figures) {
    for (const k of [1, 4, 16] as const)
      rows.push([`probe round, ${f.hash}, K=${k} (median of ${f.repeats})`, `${f.roundMs[k].toFixed(0)} ms`]);
    const ratio = f.roundMs[16] / f.roundMs[1];
    rows.push([`ratio K=16 / K=1, ${f.hash} (target <= 1.3)`, `${ratio.toFixed(2)} ${ratio <= 1.3 ? 'OK' : 'OVER TARGET'}`]);
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

async function main() {
  if (process.getuid?.() !== 0) throw new Error('bench:checker needs root: it starts vsftpd on port 21.');
  const rows = [
    ...fanoutRows(await measureFanout({ repeats: REPEATS, hashes: ['yescrypt', 'sha512', 'latency'] })),
    ...artifactRows(measureArtifact(REPEATS)),
  ];
  printTable(`nlb-ftp checker benchmark (${os.cpus().length} cores, node ${process.version}, ${new Date().toISOString()})`, rows);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`bench:checker failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
