/**
 * `npm run bench:sftp`: SFTP in the sandbox (root), beside FTPS. Figures are printed, never asserted.
 * Needs, beyond what `.ci/run` installs (CI does not run benchmarks): Debian's `socat` (the raw stream).
 *
 *   sudo npm run bench:sftp                       both parts
 *   sudo npm run bench:sftp -- --sustained        SFTP downloads held open at once (C = 16, 64, 128, 200)
 *   sudo npm run bench:sftp -- --throughput       one upload and one download of --size MiB over SFTP and
 *                                                 FTPS (both servers), beside a raw TLS stream on the same path
 *   sudo npm run bench:sftp -- --write            also write the rows into bench/RESULTS.md (section 9)
 *
 * Sustained: the default stack (ProFTPD, two backends, caps raised so one client address may hold
 * them all), C curl sftp:// downloads of an 8 MiB file each read at 128 KiB/s (64 s), started 20 ms apart,
 * each checked with SHA-256; "open at once" counts downloads whose bytes were flowing at the same
 * moment. Throughput: OpenSSH's sftp (put, get) and curl over FTPS (-T, download), each timed alone;
 * the raw stream is socat (TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256, 256 KiB buffers) from this host to
 * the backend's address, the same veths and the emulated NLB's namespace (routed, without its DNAT).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../harness/ftp-clients';
import { askpassEnv, strictSshOptions } from '../harness/sftp-clients';
import { type CommandSpec, parseOrExit } from '../lib/cli/command';
import { cleanupSandbox, DRILL_NLB_HEALTH, Sandbox } from '../sandbox/cluster';
import { resultsSection, writeResultsSection } from './results-file';

const COMMAND: CommandSpec = {
  usage: 'npm run bench:sftp --',
  summary: 'SFTP in the sandbox (root): sessions held open at once, and single-stream throughput beside FTPS and raw TLS.',
  options: {
    sustained: { type: 'boolean', help: 'only the sessions held open', default: 'both parts' },
    throughput: { type: 'boolean', help: 'only the single-stream throughput', default: 'both parts' },
    size: { type: 'string', help: 'MiB moved by each throughput run', default: '1024' },
    write: { type: 'boolean', help: 'write the rows into bench/RESULTS.md (section 9)', default: 'off' },
  },
  examples: ['sudo npm run bench:sftp -- --sustained', 'sudo npm run bench:sftp -- --throughput --size 256'],
};

type Row = [string, string];
const log = (m: string) => process.stderr.write(`${m}\n`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-bench-sftp-'));

/** One curl sftp:// download, hashed as it arrives: when its bytes started and ended, and whether it is whole. */
function sftpDownload(
  sb: Sandbox,
  name: string,
  rate: number,
  want: string,
): Promise<{ ok: boolean; first?: number; end: number; error?: string }> {
  return new Promise((resolve) => {
    const url = `sftp://${sb.endpoint}:${sb.sftpPort}/files/${name}`;
    const pin = sb.sftpFingerprints[0].replace(/^SHA256:/, '');
    const p = spawn('curl', [
      '-sS',
      '--hostpubsha256',
      pin,
      '--limit-rate',
      String(rate),
      '-u',
      `${sb.demo.user}:${sb.demo.password}`,
      url,
    ]);
    const hash = createHash('sha256');
    let first: number | undefined;
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      first ??= Date.now();
      hash.update(d);
    });
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('close', (code) => {
      const ok = code === 0 && hash.digest('hex') === want;
      resolve({ ok, first, end: Date.now(), error: ok ? undefined : err.trim() || `exit ${code}` });
    });
  });
}

async function sustained(): Promise<Row[]> {
  const rows: Row[] = [];
  const sb = await Sandbox.up({
    context: { backendCount: '2', maxSessionsPerIp: '1000', maxClientsPerBackend: '1000' },
    checker: false,
    nlbHealth: DRILL_NLB_HEALTH,
    log,
  });
  try {
    const content = Buffer.alloc(8 * 2 ** 20);
    for (let i = 0; i < content.length; i++) content[i] = (i * 2654435761) >>> 24;
    const want = createHash('sha256').update(content).digest('hex');
    sb.writeDemoFile('sustained-sftp.bin', content);
    for (const c of [16, 64, 128, 200]) {
      const started = Date.now();
      const ds = await Promise.all(
        Array.from({ length: c }, async (_, i) => {
          await new Promise((r) => setTimeout(r, i * 20));
          return sftpDownload(sb, 'sustained-sftp.bin', 128 * 1024, want);
        }),
      );
      const intact = ds.filter((d) => d.ok).length;
      // The most downloads whose bytes were flowing at one moment.
      const events = ds.filter((d) => d.ok && d.first).flatMap((d) => [[d.first as number, 1] as const, [d.end, -1] as const]);
      events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let open = 0;
      let most = 0;
      for (const [, delta] of events) {
        open += delta;
        most = Math.max(most, open);
      }
      const line = `${intact}/${c} intact, ${most} open at once, ${((Date.now() - started) / 1000).toFixed(0)} s${ds.find((d) => !d.ok)?.error ? `; first error: ${ds.find((d) => !d.ok)?.error}` : ''}`;
      log(`[sftp sustained] C=${c}: ${line}`);
      rows.push([`SFTP sustained, C=${c} (ProFTPD, N=2)`, line]);
      if (intact < c) break;
    }
  } finally {
    await sb.down();
  }
  return rows;
}

/** Seconds a command takes, failing loudly. */
async function timed(what: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<number> {
  const t = Date.now();
  const r = await run(cmd, args, { timeoutMs: 600_000, ...opts });
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  return (Date.now() - t) / 1000;
}

const rate = (mib: number, s: number) => `${(mib / s).toFixed(0)} MiB/s (${s.toFixed(1)} s)`;

/** One socat TLS stream of the file from this host to a backend's address, or back. */
async function rawTls(sb: Sandbox, file: string, direction: 'up' | 'down'): Promise<number> {
  const b = sb.backends[0];
  const key = path.join(tmp, 'raw.key');
  const crt = path.join(tmp, 'raw.crt');
  if (!fs.existsSync(crt)) {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=raw']);
  }
  const tls = 'cipher=ECDHE-RSA-AES128-GCM-SHA256,openssl-min-proto-version=TLS1.2,openssl-max-proto-version=TLS1.2';
  const listen = `OPENSSL-LISTEN:4443,reuseaddr,cert=${crt},key=${key},verify=0,${tls}`;
  const connect = `OPENSSL:${b.ip}:4443,verify=0,${tls}`;
  const [server, client] =
    direction === 'up'
      ? [
          [listen, '/dev/null'],
          [`FILE:${file}`, connect],
        ]
      : [
          [`FILE:${file}`, listen],
          [connect, '/dev/null'],
        ];
  const listener = spawn('ip', ['netns', 'exec', b.namespace, 'socat', '-u', '-b', '262144', ...server], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  try {
    return await timed(`raw TLS ${direction}`, 'socat', ['-u', '-b', '262144', ...client]);
  } finally {
    listener.kill();
  }
}

async function throughput(mib: number): Promise<Row[]> {
  const rows: Row[] = [];
  const file = path.join(tmp, 'big.bin');
  await run('sh', ['-c', `head -c ${mib}M /dev/urandom > ${file}`], { timeoutMs: 600_000 });
  for (const server of ['proftpd', 'vsftpd'] as const) {
    const sb = await Sandbox.up({ context: { backendCount: '1', ftpServer: server }, checker: false, nlbHealth: DRILL_NLB_HEALTH, log });
    try {
      const { user, password } = sb.demo;
      const curl = ['-sS', '--ssl-reqd', '--cacert', sb.certificateFile as string, '-u', `${user}:${password}`];
      const up = await timed('FTPS upload', 'curl', [...curl, '-T', file, `ftp://${sb.endpoint}/big-ftps.bin`]);
      const down = await timed('FTPS download', 'curl', [...curl, '-o', '/dev/null', `ftp://${sb.endpoint}/big-ftps.bin`]);
      rows.push(
        [`FTPS ${server}, ${mib} MiB upload (curl)`, rate(mib, up)],
        [`FTPS ${server}, ${mib} MiB download (curl)`, rate(mib, down)],
      );
      log(`[throughput ${server}] FTPS up ${rate(mib, up)}, down ${rate(mib, down)}`);
      if (sb.sftpPort && sb.sftpKnownHostsFile) {
        const ssh = [
          '-P',
          String(sb.sftpPort),
          ...strictSshOptions(sb.sftpKnownHostsFile),
          '-o',
          'BatchMode=no',
          '-b',
          '-',
          `${user}@${sb.endpoint}`,
        ];
        const env = askpassEnv(tmp, password);
        const sUp = await timed('SFTP upload', 'sftp', ssh, { env, input: `put ${file} big-sftp.bin\n` });
        const sDown = await timed('SFTP download', 'sftp', ssh, { env, input: 'get big-sftp.bin /dev/null\n' });
        rows.push(
          [`SFTP ${server}, ${mib} MiB upload (OpenSSH sftp)`, rate(mib, sUp)],
          [`SFTP ${server}, ${mib} MiB download (OpenSSH sftp)`, rate(mib, sDown)],
        );
        log(`[throughput ${server}] SFTP up ${rate(mib, sUp)}, down ${rate(mib, sDown)}`);
      }
      if (server === 'proftpd') {
        const rUp = await rawTls(sb, file, 'up');
        const rDown = await rawTls(sb, file, 'down');
        rows.push(
          [`raw TLS 1.2 AES-128-GCM stream, ${mib} MiB up (socat, 256 KiB buffers)`, rate(mib, rUp)],
          [`raw TLS stream, ${mib} MiB down`, rate(mib, rDown)],
        );
        log(`[throughput raw] up ${rate(mib, rUp)}, down ${rate(mib, rDown)}`);
      }
    } finally {
      await sb.down();
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const args = parseOrExit(COMMAND, process.argv.slice(2));
  const mib = Number(args.size ?? '1024');
  if (!Number.isInteger(mib) || mib < 1 || mib > 8192) throw new Error('--size must be a whole number of MiB from 1 to 8192');
  const both = args.sustained !== true && args.throughput !== true;
  process.on('SIGINT', () => {
    cleanupSandbox();
    process.exit(130);
  });
  cleanupSandbox();
  const started = Date.now();
  const rows: Row[] = [];
  try {
    if (both || args.sustained === true) rows.push(...(await sustained()));
    if (both || args.throughput === true) rows.push(...(await throughput(mib)));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  for (const [k, v] of rows) console.log(`${k}: ${v}`);
  if (args.write === true) {
    const heading = '## 9. SFTP (sessions held open; single-stream throughput beside FTPS and raw TLS)';
    writeResultsSection(
      '## 9.',
      resultsSection(heading, 'npm run bench:sftp -- --write', (Date.now() - started) / 60_000, rows),
      '## Failover drills',
    );
    console.log('wrote section 9 of bench/RESULTS.md');
  }
}

main().catch((err) => {
  console.error(`bench failed: ${(err as Error).message}`);
  cleanupSandbox();
  process.exit(1);
});
