/**
 * Sustained concurrency through the local sandbox (the emulated NLB, real servers, FTPS required):
 * C downloads held open at the same time, each read slowly and checked byte for byte (SHA-256),
 * C rising until one fails. A burst of short transfers hides the passive-port limit (each ends
 * before the next asks for a port); here all C data connections are open together. Used by
 * `npm run bench:sustained` and by the sandbox capacity test.
 */

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { curlFtpsArgs } from '../lib/shared/names';
import { CLIENT_NS, DRILL_NLB_HEALTH, Sandbox } from './cluster';
import type { FtpServerKind } from './local-servers';

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
   * session in the same millisecond measures something else: see `burst` in the README.
   */
  readonly startSpacingMs: number;
  readonly log: (m: string) => void;
}

export interface SustainedStep {
  readonly concurrency: number;
  readonly intact: number;
  /** The most downloads whose data connection was open at the same moment. */
  readonly maxOpenAtOnce: number;
  readonly medianSeconds: number;
  readonly firstError?: string;
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
  readonly error?: string;
  /** When the data started to flow and when the last byte arrived (ms since epoch). */
  readonly firstByteAt?: number;
  readonly endAt: number;
  readonly startedAt: number;
}

/** One slow FTPS download, hashed as it arrives; curl's own rate limit keeps the connection open. */
function download(host: string, user: string, password: string, caFile: string, o: SustainedOptions, want: string): Promise<Download> {
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
      const curlErr = /curl: \(\d+\)[^\n]*/.exec(stderr)?.[0];
      const error = ok ? undefined : (reply?.slice(2, 80) ?? curlErr?.slice(0, 80) ?? (code === 0 ? 'checksum mismatch' : `exit ${code}`));
      resolve({ ok, error, firstByteAt, endAt: Date.now(), startedAt });
    });
  });
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

export async function measureSustained(o: SustainedOptions): Promise<SustainedFigures[]> {
  const out: SustainedFigures[] = [];
  const content = Buffer.alloc(o.fileBytes);
  for (let i = 0; i < content.length; i++) content[i] = (i * 2654435761) >>> 24;
  const want = createHash('sha256').update(content).digest('hex');
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
    const steps: SustainedStep[] = [];
    let firstError: string | undefined;
    try {
      // Small socket buffers: the server's data connection stays busy for the whole read, as it
      // does for a file much larger than the buffers; no transfer can finish early in a buffer.
      sb.setSmallBuffers(true, 128 * 1024);
      sb.writeDemoFile('sustained.bin', content);
      for (const c of o.concurrencies) {
        const ds = await Promise.all(
          Array.from({ length: c }, async (_, i) => {
            await new Promise((r) => setTimeout(r, i * o.startSpacingMs));
            return download(sb.endpoint, sb.demo.user, sb.demo.password, sb.certificateFile as string, o, want);
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
        };
        steps.push(step);
        o.log(
          `[sustained ${server}] C=${c}: ${intact}/${c} intact, ${step.maxOpenAtOnce} open at once, median ${step.medianSeconds.toFixed(1)} s${err ? `; first error: ${err}` : ''}`,
        );
        if (intact < c) {
          firstError = err;
          break;
        }
      }
    } finally {
      sb.setSmallBuffers(false);
      await sb.down();
    }
    let rated = 0;
    for (const s of steps) if (s.intact === s.concurrency) rated = s.concurrency;
    out.push({ server, passivePorts: ports, steps, rated, firstError });
  }
  return out;
}

export function sustainedRows(figs: readonly SustainedFigures[]): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  for (const f of figs) {
    const best = f.steps.filter((s) => s.intact === s.concurrency).pop();
    rows.push([
      `${f.server}: largest C with every file intact (${f.passivePorts} passive ports)`,
      `${f.rated} (${(f.rated / f.passivePorts).toFixed(1)} per passive port; ${best?.maxOpenAtOnce ?? 0} open at once)`,
    ]);
    rows.push([`${f.server}: first error`, f.firstError ?? `none up to C=${f.steps[f.steps.length - 1]?.concurrency ?? 0}`]);
  }
  return rows;
}
