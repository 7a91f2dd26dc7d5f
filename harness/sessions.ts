/**
 * Real client sessions (curl, lftp) against the sandbox's emulated NLB, with what the test needs
 * to judge them: when they started, whether they succeeded, and which backend answered.
 */

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { curlFtpsArgs, lftpFtpsSettings, slotFromBanner } from '../lib/shared/names';

import { run } from './ftp-clients';

export type SessionKind = 'curl-epsv' | 'curl-pasv' | 'lftp';

export interface SessionResult {
  readonly kind: SessionKind;
  readonly ok: boolean;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly slot?: number;
  readonly detail: string;
  /** The client sent AUTH TLS and PROT P: control and data were encrypted. */
  readonly encrypted: boolean;
  /**
   * The first attempt got ProFTPD's transient `425 PASV/EPSV: Address already in use` and this
   * result is the one retry (see PASV_BIND_RACE). Never set for vsftpd.
   */
  readonly retriedAfterPasvRace?: boolean;
}

/**
 * ProFTPD 1.3.8 binds a passive port with SO_REUSEADDR and calls listen() a moment later. Two
 * sessions of one backend that pick the same free port in that moment both bind; the second
 * listen() fails and that client gets `425 PASV: Address already in use` (or EPSV). Nothing was
 * transferred; the next PASV picks a port again. Clients that retry a 4xx (lftp's default,
 * `curl --retry`, FileZilla) recover; docs/sizing.md's ProFTPD section says so. The sessions here
 * retry exactly this reply once, and say so in the result, so that every other failure still fails.
 */
export const PASV_BIND_RACE = /425 (PASV|EPSV): Address already in use/;

/** Run a session; if it failed only because of the ProFTPD bind race, run it once more. */
export async function retryOnPasvRace(attempt: () => Promise<SessionResult & { readonly transcript: string }>): Promise<SessionResult> {
  const { transcript, ...first } = await attempt();
  if (first.ok || !PASV_BIND_RACE.test(transcript)) return first;
  const { transcript: _again, ...second } = await attempt();
  return { ...second, startedAt: first.startedAt, retriedAfterPasvRace: true };
}

const encryptedSession = (verbose: string) => /(> |---> )AUTH (TLS|SSL)/.test(verbose) && /(> |---> )PROT P/.test(verbose);

export interface Target {
  readonly host: string;
  readonly user: string;
  readonly password: string;
  /** Set: FTPS required (AUTH TLS, protected data), verifying the server against this PEM file. */
  readonly caFile?: string;
}

/** curl's FTPS options: refuse plain FTP, and trust only the given certificate. */
export function curlTlsArgs(t: Target): string[] {
  return t.caFile ? curlFtpsArgs(t.caFile) : [];
}

/** lftp's FTPS settings: TLS on control and data, verified against the given certificate. */
export function lftpTlsSettings(t: Target): string[] {
  return t.caFile ? [...lftpFtpsSettings(t.caFile), 'set ssl:verify-certificate true'] : [];
}

let seq = 0;
let scratchDir: string | undefined;
/** A temp dir for session files, made on first use; `removeSessionFiles()` deletes it. */
function scratch(): string {
  scratchDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-sessions-'));
  return scratchDir;
}

/** Remove the session scratch directory (call from afterAll). */
export function removeSessionFiles(): void {
  if (scratchDir) fs.rmSync(scratchDir, { recursive: true, force: true });
  scratchDir = undefined;
}

/**
 * One full session: login, list, upload a unique file, download `download` and compare it with
 * `expected`. curl runs all of it on one control connection.
 */
export function fullSession(t: Target, kind: SessionKind, download: string, expected: Buffer, timeoutMs = 20_000): Promise<SessionResult> {
  return retryOnPasvRace(() => fullSessionOnce(t, kind, download, expected, timeoutMs));
}

async function fullSessionOnce(
  t: Target,
  kind: SessionKind,
  download: string,
  expected: Buffer,
  timeoutMs: number,
): Promise<SessionResult & { readonly transcript: string }> {
  const n = ++seq;
  const upload = path.join(scratch(), `up-${n}.txt`);
  const out = path.join(scratch(), `down-${n}`);
  fs.writeFileSync(upload, `session ${n} ${kind}\n`);
  const startedAt = Date.now();
  let ok = false;
  let slot: number | undefined;
  let detail = '';
  let encrypted = false;
  let transcript = '';
  const base = `ftp://${t.host}`;
  if (kind === 'lftp') {
    const script = [
      ...lftpTlsSettings(t),
      'set ftp:passive-mode true',
      'set net:max-retries 1',
      'set net:timeout 8',
      'set cmd:fail-exit true',
      'ls',
      `put ${upload} -o up-${n}.txt`,
      `get ${download} -o ${out}`,
      'bye',
    ].join('; ');
    // -d: the protocol dialogue on stderr (lftp masks the password), to see the banner and AUTH TLS.
    const r = await run('lftp', ['-d', '-u', `${t.user},${t.password}`, '-e', script, t.host], { timeoutMs });
    ok = r.code === 0;
    slot = slotFromBanner(r.stderr);
    encrypted = encryptedSession(r.stderr);
    transcript = r.stderr;
    detail = r.code === 0 ? '' : r.stderr.slice(-300);
  } else {
    // Three transfers on one control connection: curl reuses it across --next.
    const common = [
      '-sS',
      '-v',
      '--max-time',
      String(timeoutMs / 1000 - 2),
      '-u',
      `${t.user}:${t.password}`,
      ...curlTlsArgs(t),
      ...(kind === 'curl-pasv' ? ['--disable-epsv'] : []),
    ];
    const args = [
      ...common,
      '-o',
      '/dev/null',
      `${base}/`,
      '--next',
      ...common,
      '-T',
      upload,
      `${base}/up-${n}.txt`,
      '--next',
      ...common,
      '-o',
      out,
      `${base}/${download}`,
    ];
    const r = await run('curl', args, { timeoutMs });
    ok = r.code === 0;
    slot = slotFromBanner(r.stderr);
    encrypted = encryptedSession(r.stderr);
    transcript = r.stderr;
    detail =
      r.code === 0
        ? ''
        : r.stderr
            .split('\n')
            .filter((l) => /^(< [45]|curl:)/.test(l))
            .join(' | ');
  }
  if (ok) {
    const got = fs.existsSync(out) ? fs.readFileSync(out) : Buffer.alloc(0);
    if (!got.equals(expected)) {
      ok = false;
      detail = `downloaded ${got.length} bytes, expected ${expected.length}`;
    }
  }
  fs.rmSync(upload, { force: true });
  fs.rmSync(out, { force: true });
  return { kind, ok, startedAt, endedAt: Date.now(), slot, detail, encrypted, transcript };
}

/** A short session (login + EPSV listing), for load during drills. */
export function shortSession(t: Target, timeoutMs = 10_000): Promise<SessionResult> {
  return retryOnPasvRace(() => shortSessionOnce(t, timeoutMs));
}

async function shortSessionOnce(t: Target, timeoutMs: number): Promise<SessionResult & { readonly transcript: string }> {
  const startedAt = Date.now();
  const r = await run(
    'curl',
    ['-sS', '-v', '--max-time', String(timeoutMs / 1000), '-u', `${t.user}:${t.password}`, ...curlTlsArgs(t), `ftp://${t.host}/`],
    { timeoutMs: timeoutMs + 2000 },
  );
  return {
    kind: 'curl-epsv',
    ok: r.code === 0,
    startedAt,
    endedAt: Date.now(),
    slot: slotFromBanner(r.stderr),
    detail: r.code ? r.stderr.slice(-200) : '',
    encrypted: encryptedSession(r.stderr),
    transcript: r.stderr,
  };
}

/** Start a session every `everyMs` until stopped; collects every result. */
export function backgroundLoad(t: Target, everyMs = 300): { stop: () => Promise<SessionResult[]> } {
  const results: SessionResult[] = [];
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const p = shortSession(t).then((r) => {
      results.push(r);
      pending.delete(p);
    });
    pending.add(p);
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...pending]);
      return results.sort((a, b) => a.startedAt - b.startedAt);
    },
  };
}

/** Poll until `cond` holds; returns the time it first held, or throws after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return Date.now();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface DrillSpec {
  /** Names the drill in timeout messages. */
  readonly name: string;
  readonly breakIt: () => void | Promise<void>;
  /** True once the break has been acted on (e.g. the backend left the port-21 target group). */
  readonly detected: () => boolean;
  readonly repair: () => void | Promise<void>;
  /** True once the backend is back in rotation. */
  readonly recovered: () => boolean;
  readonly detectTimeoutMs: number;
  readonly recoverTimeoutMs: number;
  /** A new session every this many ms while the drill runs. */
  readonly loadEveryMs: number;
  /** How long sessions keep starting after detection. */
  readonly afterDetectionMs: number;
}

export interface DrillRun {
  readonly broke: number;
  readonly detectedAt: number;
  readonly repaired: number;
  readonly back: number;
  /** Every session started during the drill, by start time. */
  readonly results: readonly SessionResult[];
}

/**
 * A fault drill with sessions starting throughout: 1.5 s of load, break, wait for detection, keep
 * the load on for `afterDetectionMs`, repair, wait for recovery. Returns the moments and sessions.
 */
export async function runDrill(t: Target, d: DrillSpec): Promise<DrillRun> {
  const load = backgroundLoad(t, d.loadEveryMs);
  await new Promise((r) => setTimeout(r, 1500));
  const broke = Date.now();
  await d.breakIt();
  const detectedAt = await waitFor(d.detected, d.detectTimeoutMs, `${d.name}: detection`);
  await new Promise((r) => setTimeout(r, d.afterDetectionMs));
  const results = await load.stop();
  await d.repair();
  const repaired = Date.now();
  const back = await waitFor(d.recovered, d.recoverTimeoutMs, `${d.name}: recovery`);
  return { broke, detectedAt, repaired, back, results };
}

/** Split sessions by when they started relative to a moment. */
export function split(results: readonly SessionResult[], at: number) {
  const before = results.filter((r) => r.startedAt < at);
  const after = results.filter((r) => r.startedAt >= at);
  const count = (rs: readonly SessionResult[]) => ({ ok: rs.filter((r) => r.ok).length, failed: rs.filter((r) => !r.ok).length });
  return { before: count(before), after: count(after), afterFailures: after.filter((r) => !r.ok) };
}

/**
 * Download with curl while reading its output at `bytesPerSecond`: curl blocks on the pipe, TCP
 * flow control slows the server, and the transfer lasts as long as on a slow client link. The
 * control connection carries nothing meanwhile. (curl 7.88's --limit-rate does not throttle FTP.)
 */
export function slowCurlDownload(
  url: string,
  user: string,
  password: string,
  bytesPerSecond: number,
  maxTimeSeconds: number,
  netns?: string,
) {
  return new Promise<{ code: number; stderr: string; bytes: number; seconds: number }>((resolve) => {
    const started = Date.now();
    const curl = ['curl', '-sS', '-v', '--max-time', String(maxTimeSeconds), '-u', `${user}:${password}`, '-o', '-', url];
    const cmd = netns ? ['ip', 'netns', 'exec', netns, ...curl] : curl;
    const p = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
      const due = (bytes / bytesPerSecond) * 1000 - (Date.now() - started);
      if (due > 0) {
        p.stdout.pause();
        setTimeout(() => p.stdout.resume(), due);
      }
    });
    p.on('close', (code) => resolve({ code: code ?? 1, stderr, bytes, seconds: (Date.now() - started) / 1000 }));
  });
}
