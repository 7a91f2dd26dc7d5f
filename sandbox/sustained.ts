/**
 * Sustained concurrency through the local sandbox (the emulated NLB, real servers, FTPS required):
 * C downloads held open at the same time, each read slowly and checked byte for byte (SHA-256),
 * C rising until one fails. A burst of short transfers hides the passive-port limit (each ends
 * before the next asks for a port); here all C data connections are open together. Used by
 * `npm run bench:sustained` and by the sandbox capacity test.
 */

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { curlFtpsArgs } from '../lib/shared/names';
import { CLIENT_NS, DRILL_NLB_HEALTH, NLB_NS, Sandbox } from './cluster';
import type { FtpServerKind } from './local-servers';
import { listNamespaces, nsExec } from './netns';

export interface SustainedOptions {
  readonly servers: readonly FtpServerKind[];
  readonly concurrencies: readonly number[];
  readonly backends: number;
  readonly portsPerBackend: number;
  /** Size of each download; with the read rate it sets how long each is held open. */
  readonly fileBytes: number;
  readonly bytesPerSecond: number;
  /**
   * Downloads start this far apart (clients arrive over a few seconds, as they do) and each lasts
   * longer than all the starts together, so all C are open at once. A burst that starts every
   * session in the same millisecond measures something else: see `burst` in docs/sizing.md.
   */
  readonly startSpacingMs: number;
  /**
   * curl `--retry` count: a client that retries a prompt 4xx refusal (ProFTPD's 425 when every
   * passive port of its backend is held at that instant), as standard clients do. @default 0
   */
  readonly retries?: number;
  readonly log: (m: string) => void;
}

export interface SustainedStep {
  readonly concurrency: number;
  readonly intact: number;
  /** The most downloads whose data connection was open at the same moment. */
  readonly maxOpenAtOnce: number;
  readonly medianSeconds: number;
  readonly firstError?: string;
  /** Intact downloads that needed a retry (each after a prompt refusal). */
  readonly retried: number;
  /** What the machine carried at the step's peak (sampled every 2 s): what limits C. */
  readonly peak: MachinePeak;
  /**
   * TCP resets during the step, by who sent them: each sandbox namespace's kernel (OutRsts of its
   * /proc/net/snmp) and the emulated NLB's reset of packets conntrack calls invalid. Where a
   * refused connection came from.
   */
  readonly resets: Readonly<Record<string, number>>;
}

export interface MachinePeak {
  /** Both cores busy = 100: the busiest 2 s, and the average over the step. */
  readonly cpuBusyPercent: number;
  readonly cpuAvgPercent: number;
  readonly serverProcesses: number;
  /** Resident memory of all server processes and of all curl clients, MiB. */
  readonly serverRssMiB: number;
  readonly clientRssMiB: number;
  /**
   * The server processes' memory as the kernel shares it out, at the sample with the most of them:
   * proportional set size (each shared page divided among the processes that map it) and private
   * memory (pages only one process maps). RSS counts every shared page in every process, so it
   * overstates what one more session costs; PSS sums to the real total and private is the floor.
   */
  readonly serverPssMiB: number;
  readonly serverPrivateMiB: number;
  /** Connections the kernel tracked in the emulated NLB's namespace (its conntrack table). */
  readonly nlbConntrack: number;
  readonly memAvailableMiB: number;
}

export interface SustainedFigures {
  readonly server: FtpServerKind;
  readonly passivePorts: number;
  readonly steps: readonly SustainedStep[];
  /** Largest C with every download intact. */
  readonly rated: number;
  readonly firstError?: string;
}

interface Download {
  readonly ok: boolean;
  readonly retried: boolean;
  readonly error?: string;
  /** When the data started to flow and when the last byte arrived (ms since epoch). */
  readonly firstByteAt?: number;
  readonly endAt: number;
  readonly startedAt: number;
}

/** One slow FTPS download, hashed as it arrives; curl's own rate limit keeps the connection open. */
function download(
  host: string,
  user: string,
  password: string,
  caFile: string,
  o: Pick<SustainedOptions, 'bytesPerSecond' | 'fileBytes'>,
  want: string,
): Promise<Download> {
  return new Promise((resolve) => {
    const startedAt = Date.now();
    const args = [
      '-sS',
      '-v',
      '--max-time',
      String(Math.ceil((o.fileBytes / o.bytesPerSecond) * 4 + 60)),
      '--limit-rate',
      String(o.bytesPerSecond),
      ...curlFtpsArgs(caFile),
      '-u',
      `${user}:${password}`,
      '-o',
      '-',
      `ftp://${host}/sustained.bin`,
    ];
    const p = spawn('ip', ['netns', 'exec', CLIENT_NS, 'curl', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const hash = createHash('sha256');
    let firstByteAt: number | undefined;
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      firstByteAt ??= Date.now();
      hash.update(d);
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('close', (code) => {
      const digest = hash.digest('hex');
      const ok = code === 0 && digest === want;
      const reply = stderr
        .split('\n')
        .filter((l) => /^< [45]\d\d /.test(l))
        .pop();
      // curl 7.88 says "Couldn't connect to server" for every failed connect; its verbose log
      // names the reason (refused, no route, no local port...), which tells where it came from.
      const why = /\* connect to \S+ port \d+ failed: ([^\n]*)/.exec(stderr)?.[1];
      const curlErr = /curl: \(\d+\)[^\n]*/.exec(stderr)?.[0]?.concat(why ? ` [${why}]` : '');
      const error = ok ? undefined : (reply?.slice(2, 80) ?? curlErr?.slice(0, 120) ?? (code === 0 ? 'checksum mismatch' : `exit ${code}`));
      resolve({ ok, retried: false, error, firstByteAt, endAt: Date.now(), startedAt });
    });
  });
}

interface ProcessMemory {
  readonly count: number;
  readonly rssMiB: number;
  /**
   * Only when asked for (`smaps`): from the smaps_rollup of at most SMAPS_SAMPLE of the processes,
   * evenly spread, scaled to all of them. Reading it walks every mapping of a process: for a
   * thousand sessions every 2 s it cost the machine a third of a core, which the run under
   * measurement then lacked (measured: 979 of 1,000 intact instead of 1,000).
   */
  readonly pssMiB: number;
  readonly privateMiB: number;
}

const SMAPS_SAMPLE = 48;

/** Count and memory (MiB) of the processes whose name is `comm`, from /proc. */
export function processes(comm: string, smaps = false): ProcessMemory {
  let pages = 0;
  const pids: string[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (name !== comm) continue;
      pids.push(pid);
      pages += Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[21]);
    } catch {
      /* gone */
    }
  }
  let sampled = 0;
  let pssKiB = 0;
  let privateKiB = 0;
  const step = Math.max(1, pids.length / SMAPS_SAMPLE);
  for (let i = 0; smaps && i < pids.length; i += step) {
    try {
      const rollup = fs.readFileSync(`/proc/${pids[Math.floor(i)]}/smaps_rollup`, 'utf8');
      const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
      pssKiB += kib('Pss');
      privateKiB += kib('Private_Clean') + kib('Private_Dirty');
      sampled++;
    } catch {
      /* gone */
    }
  }
  const scale = sampled > 0 ? pids.length / sampled / 1024 : 0;
  return { count: pids.length, rssMiB: (pages * 4096) / 2 ** 20, pssMiB: pssKiB * scale, privateMiB: privateKiB * scale };
}

function cpuTimes(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** TCP resets sent so far, by sender: every sandbox namespace, and the NLB's invalid-flow rule. */
function resetCounters(): Map<string, number> {
  const out = new Map<string, number>();
  for (const ns of listNamespaces()) {
    // A namespace that went away since it was listed answers nothing: skip it.
    const [head, values] = nsExec(ns, 'cat', ['/proc/net/snmp'], { allowFail: true })
      .split('\n')
      .filter((l) => l.startsWith('Tcp:'))
      .map((l) => l.trim().split(/\s+/));
    if (head && values) out.set(ns, Number(values[head.indexOf('OutRsts')]));
  }
  const forward = nsExec(NLB_NS, 'iptables', ['-L', 'FORWARD', '-v', '-n', '-x']);
  const reject = forward.split('\n').find((l) => l.includes('REJECT') && l.includes('INVALID'));
  if (reject) out.set(`${NLB_NS} (invalid flow)`, Number(reject.trim().split(/\s+/)[0]));
  return out;
}

function resetsSince(before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of resetCounters()) {
    const sent = v - (before.get(k) ?? 0);
    if (sent > 0) out[k] = sent;
  }
  return out;
}

function resetsText(r: Readonly<Record<string, number>>): string {
  const parts = Object.entries(r).map(([k, v]) => `${k} ${v}`);
  return parts.length ? `resets sent: ${parts.join(', ')}` : 'no resets';
}

/** Sample the machine every 2 s until stopped; report the peaks. */
function sampleMachine(server: FtpServerKind, nlbNamespace: string): { stop: () => MachinePeak } {
  let busySum = 0;
  let samples = 0;
  let peak: MachinePeak = {
    cpuBusyPercent: 0,
    cpuAvgPercent: 0,
    serverProcesses: 0,
    serverRssMiB: 0,
    clientRssMiB: 0,
    serverPssMiB: 0,
    serverPrivateMiB: 0,
    nlbConntrack: 0,
    memAvailableMiB: Number.POSITIVE_INFINITY,
  };
  let last = cpuTimes();
  const timer = setInterval(() => {
    const now = cpuTimes();
    const busy = now.total > last.total ? (100 * (now.busy - last.busy)) / (now.total - last.total) : 0;
    last = now;
    busySum += busy;
    samples++;
    const srv = processes(server, true);
    const cli = processes('curl');
    // 0 when no conntrack module is loaded.
    const conntrack = Number(nsExec(nlbNamespace, 'cat', ['/proc/sys/net/netfilter/nf_conntrack_count'], { allowFail: true }));
    const avail = Number(/MemAvailable:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024;
    const most = srv.count >= peak.serverProcesses;
    peak = {
      serverPssMiB: most ? Math.round(srv.pssMiB) : peak.serverPssMiB,
      serverPrivateMiB: most ? Math.round(srv.privateMiB) : peak.serverPrivateMiB,
      cpuBusyPercent: Math.max(peak.cpuBusyPercent, Math.round(busy)),
      cpuAvgPercent: Math.round(busySum / samples),
      serverProcesses: Math.max(peak.serverProcesses, srv.count),
      serverRssMiB: Math.max(peak.serverRssMiB, Math.round(srv.rssMiB)),
      clientRssMiB: Math.max(peak.clientRssMiB, Math.round(cli.rssMiB)),
      nlbConntrack: Math.max(peak.nlbConntrack, conntrack),
      memAvailableMiB: Math.min(peak.memAvailableMiB, Math.round(avail)),
    };
  }, 2000);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

function maxOverlap(ds: readonly Download[]): number {
  const events: Array<[number, number]> = [];
  for (const d of ds) if (d.firstByteAt !== undefined) events.push([d.firstByteAt, 1], [d.endAt, -1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let best = 0;
  for (const [, delta] of events) {
    open += delta;
    best = Math.max(best, open);
  }
  return best;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)];
};

/** The benchmark's settings (16 passive ports; each download ~32 s; 10 new clients a second). */
export const SUSTAINED_BENCH: Omit<SustainedOptions, 'servers' | 'concurrencies' | 'log'> = {
  backends: 2,
  portsPerBackend: 8,
  fileBytes: 2 * 1024 * 1024,
  bytesPerSecond: 64 * 1024,
  startSpacingMs: 100,
};

/**
 * The scale run: ProFTPD on 4 backends x 12 ports, each download 4 MiB at 16 KiB/s (256 s), one
 * new every 50 ms, so the last of 1,000 starts long before the first ends (starting 1,000 FTPS
 * sessions on 2 cores takes longer than the 50 s schedule: with 128 s downloads at most 557 were
 * open together). The rate is a slow client's: at 64 KiB/s, 500 held-open FTPS
 * downloads already kept both cores of this machine busy (every TLS byte is encrypted by a server
 * and decrypted by a curl on the same two cores), and the CPU, not the design, was the limit.
 */
export const SCALE_BENCH: Omit<SustainedOptions, 'servers' | 'concurrencies' | 'log'> = {
  backends: 4,
  portsPerBackend: 12,
  fileBytes: 4 * 1024 * 1024,
  bytesPerSecond: 16 * 1024,
  startSpacingMs: 50,
  // Like any standard client: a prompt 425 (every passive port of the backend held at that
  // instant) is retried. Without it, 1 to 9% of sessions at C = 300 to 500 got that 425 here.
  retries: 3,
};

export async function measureSustained(o: SustainedOptions): Promise<SustainedFigures[]> {
  const out: SustainedFigures[] = [];
  for (const server of o.servers) {
    const ports = o.backends * o.portsPerBackend;
    o.log(`[sustained ${server}] sandbox: ${o.backends} backends x ${o.portsPerBackend} passive ports (${ports}), FTPS required`);
    const sb = await Sandbox.up({
      context: {
        ftpServer: server,
        ftps: 'required',
        backendCount: String(o.backends),
        passivePortsPerBackend: String(o.portsPerBackend),
        // One client address carries every session here, so lift the caps above the load.
        maxSessionsPerIp: '1000',
        maxClientsPerBackend: '2000',
      },
      checker: false,
      nlbHealth: DRILL_NLB_HEALTH,
      log: (m) => {
        if (m.includes('NLB port 21')) o.log(`[sustained ${server}] ${m}`);
      },
    });
    try {
      out.push(await sustainedOn(sb, o));
    } finally {
      await sb.down();
    }
  }
  return out;
}

/**
 * The concurrency steps on a running sandbox (FTPS required, its per-address caps above the load:
 * one client address carries every session), as `measureSustained` runs them on the one it boots.
 */
export async function sustainedOn(
  sb: Sandbox,
  o: Pick<SustainedOptions, 'concurrencies' | 'fileBytes' | 'bytesPerSecond' | 'startSpacingMs' | 'retries' | 'log'>,
): Promise<SustainedFigures> {
  const server = sb.backends[0].server.kind;
  const ports = sb.backends.reduce((n, b) => n + b.maxPort - b.minPort + 1, 0);
  const content = Buffer.alloc(o.fileBytes);
  for (let i = 0; i < content.length; i++) content[i] = (i * 2654435761) >>> 24;
  const want = createHash('sha256').update(content).digest('hex');
  const steps: SustainedStep[] = [];
  let firstError: string | undefined;
  try {
    // Small socket buffers: the server's data connection stays busy for the whole read, as it
    // does for a file much larger than the buffers; no transfer can finish early in a buffer.
    sb.setSmallBuffers(true, 128 * 1024);
    sb.writeDemoFile('sustained.bin', content);
    for (const c of o.concurrencies) {
      const sampler = sampleMachine(server, NLB_NS);
      const resetsBefore = resetCounters();
      const ds = await Promise.all(
        Array.from({ length: c }, async (_, i) => {
          await new Promise((r) => setTimeout(r, i * o.startSpacingMs));
          // A prompt 4xx before any data is what a retrying client retries (curl's own --retry
          // does not count a 425 to PASV as transient): one second later, up to `retries` times.
          for (let attempt = 0; ; attempt++) {
            const d = await download(sb.endpoint, sb.demo.user, sb.demo.password, sb.certificateFile as string, o, want);
            const refused = !d.ok && d.firstByteAt === undefined && /^4\d\d /.test(d.error ?? '');
            if (!refused || attempt >= (o.retries ?? 0)) return attempt > 0 ? { ...d, retried: true } : d;
            await new Promise((r) => setTimeout(r, 1000));
          }
        }),
      );
      const intact = ds.filter((d) => d.ok).length;
      const err = ds.find((d) => !d.ok)?.error;
      const step: SustainedStep = {
        concurrency: c,
        intact,
        maxOpenAtOnce: maxOverlap(ds.filter((d) => d.ok)),
        medianSeconds: median(ds.map((d) => (d.endAt - d.startedAt) / 1000)),
        firstError: err,
        retried: ds.filter((d) => d.ok && d.retried).length,
        peak: sampler.stop(),
        resets: resetsSince(resetsBefore),
      };
      steps.push(step);
      o.log(
        `[sustained ${server}] C=${c}: ${intact}/${c} intact, ${step.maxOpenAtOnce} open at once, median ${step.medianSeconds.toFixed(1)} s, ${step.retried} retried; ${peakText(step.peak)}; ${resetsText(step.resets)}${err ? `; first error: ${err}` : ''}`,
      );
      if (intact < c) {
        firstError = err;
        break;
      }
    }
  } finally {
    sb.setSmallBuffers(false);
  }
  let rated = 0;
  for (const s of steps) if (s.intact === s.concurrency) rated = s.concurrency;
  return { server, passivePorts: ports, steps, rated, firstError };
}

/** Memory per server process at the peak (MiB, one decimal): RSS, PSS and private. */
export function perProcessMiB(p: MachinePeak): { rss: number; pss: number; private: number } {
  const per = (mib: number) => (p.serverProcesses > 0 ? Math.round((10 * mib) / p.serverProcesses) / 10 : 0);
  return { rss: per(p.serverRssMiB), pss: per(p.serverPssMiB), private: per(p.serverPrivateMiB) };
}

export function peakText(p: MachinePeak): string {
  const per = perProcessMiB(p);
  return `CPU ${p.cpuAvgPercent}% of 2 cores on average (peak ${p.cpuBusyPercent}%); peak: ${p.serverProcesses} server processes in ${p.serverRssMiB} MiB RSS, ${p.serverPssMiB} MiB PSS, ${p.serverPrivateMiB} MiB private (per process: RSS ${per.rss}, PSS ${per.pss}, private ${per.private} MiB), curl clients ${p.clientRssMiB} MiB RSS, NLB conntrack ${p.nlbConntrack}, ${p.memAvailableMiB} MiB still available`;
}

export function sustainedRows(figs: readonly SustainedFigures[], opts: { peaks?: boolean } = {}): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  for (const f of figs) {
    if (opts.peaks) {
      for (const st of f.steps) {
        rows.push([
          `${f.server}: C=${st.concurrency}`,
          `${st.intact}/${st.concurrency} intact, ${st.maxOpenAtOnce} open at once, median ${st.medianSeconds.toFixed(0)} s, ${st.retried} retried after a prompt refusal${st.firstError ? `; first error: ${st.firstError}` : ''}; ${peakText(st.peak)}; ${resetsText(st.resets)}`,
        ]);
      }
    }
    const best = f.steps.filter((s) => s.intact === s.concurrency).pop();
    rows.push([
      `${f.server}: largest C with every file intact (${f.passivePorts} passive ports)`,
      `${f.rated} (${(f.rated / f.passivePorts).toFixed(1)} per passive port; ${best?.maxOpenAtOnce ?? 0} open at once)`,
    ]);
    const failed = f.steps.find((s) => s.intact < s.concurrency);
    rows.push([
      `${f.server}: first error`,
      failed
        ? `${f.firstError} (C=${failed.concurrency}; ${resetsText(failed.resets)})`
        : `none up to C=${f.steps[f.steps.length - 1]?.concurrency ?? 0}`,
    ]);
  }
  return rows;
}
