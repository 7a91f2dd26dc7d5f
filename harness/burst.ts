/**
 * A burst: sessions started within one second against the sandbox, each an FTPS download, judged
 * as a client sees it: intact, refused promptly (an FTP error reply), or hung; and every passive
 * port a reply offered, checked against the range of the backend that made the offer.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { slotFromBanner } from '../lib/shared/names';
import { offeredDataPort, run } from './ftp-clients';
import { curlTlsArgs, lftpTlsSettings, type Target } from './sessions';

export type BurstClient = 'curl' | 'curl-retry' | 'lftp';

export interface BurstSession {
  readonly ok: boolean;
  /**
   * Failed on an FTP refusal of the data connection: ProFTPD's `425`, or vsftpd's `500 OOPS`
   * (sent in clear text after TLS, so curl reports "wrong version number").
   */
  readonly refused: boolean;
  /** Seconds from the last PASV/EPSV command to the client's exit (curl only): how prompt the refusal was. */
  readonly secondsAfterPassive?: number;
  /** Each offer made to this session: the backend that made it (from that connection's banner) and the port. */
  readonly offers: ReadonlyArray<{ readonly slot?: number; readonly port: number }>;
  readonly exitCode: number;
  readonly seconds: number;
  readonly detail: string;
}

export interface BurstOptions {
  readonly sessions: number;
  /** All starts fall within this window (ms). */
  readonly withinMs: number;
  /** A file in the demo user's directory, ASCII, and its SHA-256. */
  readonly file: string;
  readonly sha256: string;
  readonly client: BurstClient;
  /** The client's limit for the whole session, in seconds: a session still running then hung. */
  readonly maxSeconds: number;
}

/** `HH:MM:SS.micro` of curl --trace-time, as seconds of the day. */
function stamp(line: string): number | undefined {
  const m = /^(\d\d):(\d\d):(\d\d\.\d+) /.exec(line);
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
}

/** Offers in a transcript, each with the slot of the connection it was made on (curl -v or lftp -d). */
export function offersOf(transcript: string): Array<{ slot?: number; port: number }> {
  const out: Array<{ slot?: number; port: number }> = [];
  let slot: number | undefined;
  for (const line of transcript.split('\n')) {
    const text = line.replace(/^\d\d:\d\d:\d\d\.\d+ /, '').replace(/^<--- /, '< ');
    if (/^< 220[- ]/.test(text)) slot = slotFromBanner(text) ?? slot;
    if (/^< 22[79] /.test(text)) {
      const port = offeredDataPort(text);
      if (port !== undefined) out.push({ slot, port });
    }
  }
  return out;
}

async function one(t: Target, o: BurstOptions, n: number, dir: string): Promise<BurstSession> {
  const started = Date.now();
  const out = path.join(dir, `burst-${n}`);
  let r: { code: number; stderr: string };
  if (o.client === 'lftp') {
    const script = [
      ...lftpTlsSettings(t),
      'set ftp:passive-mode true',
      // Retry as an interactive user would: reconnect after a refusal, a second apart.
      'set net:max-retries 10',
      'set net:reconnect-interval-base 1',
      'set net:reconnect-interval-max 2',
      `set net:timeout ${Math.min(20, o.maxSeconds)}`,
      'set cmd:fail-exit true',
      `get ${o.file} -o ${out}`,
      'bye',
    ].join('; ');
    r = await run('lftp', ['-d', '-u', `${t.user},${t.password}`, '-e', script, t.host], { timeoutMs: o.maxSeconds * 1000 });
  } else {
    r = await run(
      'curl',
      [
        '-sS',
        '-v',
        '--trace-time',
        ...curlTlsArgs(t),
        '--max-time',
        String(o.maxSeconds),
        ...(o.client === 'curl-retry' ? ['--retry', '5', '--retry-delay', '1'] : []),
        '-u',
        `${t.user}:${t.password}`,
        '-o',
        out,
        `ftp://${t.host}/${o.file}`,
      ],
      { timeoutMs: (o.maxSeconds + 10) * 1000 },
    );
  }
  const seconds = (Date.now() - started) / 1000;
  const got = fs.existsSync(out) ? fs.readFileSync(out) : Buffer.alloc(0);
  fs.rmSync(out, { force: true });
  const ok = r.code === 0 && createHash('sha256').update(got).digest('hex') === o.sha256;
  const refused = !ok && (/^(\S+ )?< 425 /m.test(r.stderr) || /500 OOPS|wrong version number/.test(r.stderr));
  const lines = r.stderr.split('\n');
  const passive = lines.filter((l) => / > (EPSV|PASV)\s*$/.test(l)).pop();
  const last = [...lines].reverse().find((l) => stamp(l) !== undefined);
  const secondsAfterPassive = passive && last ? (stamp(last) as number) - (stamp(passive) as number) : undefined;
  return {
    ok,
    refused,
    secondsAfterPassive,
    offers: offersOf(r.stderr),
    exitCode: r.code,
    seconds,
    detail: lines
      .filter((l) => /^curl:|< 4\d\d |500 OOPS|wrong version/.test(l))
      .slice(-2)
      .join(' | '),
  };
}

export async function burst(t: Target, o: BurstOptions): Promise<BurstSession[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-burst-'));
  try {
    return await Promise.all(
      Array.from({ length: o.sessions }, async (_, i) => {
        await new Promise((r) => setTimeout(r, Math.floor((i * o.withinMs) / o.sessions)));
        return one(t, o, i, dir);
      }),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
