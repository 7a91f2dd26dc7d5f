import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a client program (curl, lftp) without a shell; never throws on a non-zero exit. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    p.stdin.end(opts.input ?? '');
  });
}

/** What a user's directory showed of an upload whose client was killed midway. */
export interface KilledUpload {
  /** The entries holding the upload's name that had bytes when the kill came, with their sizes. */
  readonly during: ReadonlyMap<string, number>;
  /** The entries holding the upload's name once the server had `settleMs` to react. */
  readonly after: string[];
}

/**
 * Start `argv`, a slow upload of `name` into `dir` (given `input` on stdin), wait until bytes arrive
 * under an entry holding the name, kill the client's whole process group (SIGKILL: OpenSSH's sftp
 * runs ssh as its child), give the server `settleMs`, and list again.
 */
export async function killMidUpload(
  argv: readonly [string, ...string[]],
  dir: string,
  name: string,
  opts: { input?: string; env?: NodeJS.ProcessEnv; settleMs?: number } = {},
): Promise<KilledUpload> {
  const p = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'ignore', 'ignore'], env: opts.env ?? process.env, detached: true });
  const exited = new Promise((r) => p.on('close', r));
  p.stdin?.end(opts.input ?? '');
  const entries = () => fs.readdirSync(dir).filter((f) => f.includes(name));
  let during = new Map<string, number>();
  for (const deadline = Date.now() + 30_000; during.size === 0 && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 100));
    during = new Map(
      entries()
        .map((f) => [f, fs.statSync(path.join(dir, f)).size] as const)
        .filter(([, size]) => size > 0),
    );
  }
  process.kill(-(p.pid as number), 'SIGKILL');
  await exited;
  await new Promise((r) => setTimeout(r, opts.settleMs ?? 3000));
  return { during, after: entries() };
}

/** The data port a server offered, from curl -v output (EPSV 229 or PASV 227). */
export function offeredDataPort(curlVerbose: string): number | undefined {
  const epsv = /229 [^\n]*\(\|\|\|(\d+)\|\)/.exec(curlVerbose);
  if (epsv) return Number(epsv[1]);
  const pasv = /227 [^\n]*\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(curlVerbose);
  if (pasv) return Number(pasv[5]) * 256 + Number(pasv[6]);
  return undefined;
}

/** The address a PASV (227) reply told the client to connect to. */
export function offeredPasvAddress(curlVerbose: string): string | undefined {
  const pasv = /227 [^\n]*\((\d+),(\d+),(\d+),(\d+),\d+,\d+\)/.exec(curlVerbose);
  return pasv ? pasv.slice(1, 5).join('.') : undefined;
}

/**
 * Python lines defining `Reusing`, Python's ftplib.FTP_TLS whose data connections resume the
 * control connection's TLS session, as both servers require (docs/troubleshooting.md has the same
 * class for users). For scripts that drive a transfer by hand.
 */
export const FTPLIB_REUSING_TLS: readonly string[] = [
  'class Reusing(ftplib.FTP_TLS):',
  '    def ntransfercmd(self, cmd, rest=None):',
  '        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)',
  '        return self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session), size',
];
