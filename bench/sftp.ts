/**
 * `npm run bench:sftp`: SFTP in the sandbox (root), beside FTPS. Figures are printed, never asserted.
 * Needs, beyond what `.ci/run` installs (CI does not run benchmarks): Debian's `socat` (the raw stream),
 * `time` (the client's CPU) and, for --census, `strace`.
 *
 *   sudo npm run bench:sftp                       both parts
 *   sudo npm run bench:sftp -- --sustained        SFTP downloads held open at once (C = 16, 64, 128, 200)
 *   sudo npm run bench:sftp -- --throughput       one upload and one download of --size MiB over SFTP and
 *                                                 FTPS (both servers), beside a raw TLS stream on the same path
 *   sudo npm run bench:sftp -- --census           with --throughput: count the server's system calls
 *                                                 per transfer (strace slows it: not a speed figure)
 *   sudo npm run bench:sftp -- --server vsftpd    with --throughput: one server only
 *   sudo npm run bench:sftp -- --write            also write the rows into bench/RESULTS.md (section 9;
 *                                                 one part alone keeps the other part's rows)
 *
 * Sustained: the default stack (ProFTPD, two backends, caps raised so one client address may hold
 * them all), C curl sftp:// downloads of an 8 MiB file each read at 128 KiB/s (64 s), started 20 ms apart,
 * each checked with SHA-256; "open at once" counts downloads whose bytes were flowing at the same
 * moment. Throughput: OpenSSH's sftp (put, get) and curl over FTPS (-T, download), each timed alone,
 * with the client's own cipher choice and then the raw stream's; the raw stream is socat (TLS 1.2,
 * ECDHE-RSA-AES128-GCM-SHA256, 256 KiB buffers) from this host to the backend's address, the same
 * veths and the emulated NLB's namespace (routed, without its DNAT), up into the file store (where
 * uploads land) and into /dev/null, and down from a file. Beside each figure, the CPU seconds per GiB
 * of each side: the client (user + system, /usr/bin/time) and the server's processes (a cgroup its
 * master moves into, so every session it forks counts), which is where the difference goes.
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
import { RESULTS_FILE, resultsSection, writeResultsSection } from './results-file';

const COMMAND: CommandSpec = {
  usage: 'npm run bench:sftp --',
  summary: 'SFTP in the sandbox (root): sessions held open at once, and single-stream throughput beside FTPS and raw TLS.',
  options: {
    sustained: { type: 'boolean', help: 'only the sessions held open', default: 'both parts' },
    throughput: { type: 'boolean', help: 'only the single-stream throughput', default: 'both parts' },
    size: { type: 'string', help: 'MiB moved by each throughput run', default: '1024' },
    census: { type: 'boolean', help: "count the server's system calls per transfer (strace; slows it)", default: 'off' },
    server: { type: 'string', value: 'NAME', help: 'throughput on one server only (proftpd or vsftpd)', default: 'both' },
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

/** proc(5)'s clock ticks per second (sysconf(_SC_CLK_TCK)), 100 on Linux. */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) a process's reaped children used: a server master's sessions. */
function childCpu(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of proc(5) (cutime, cstime), counted from field 3 after the name.
  return (Number(f[13]) + Number(f[14])) / CLOCK_TICKS;
}

/** A cgroup that counts a server's CPU: its master moves in, and every session it forks is born there. */
interface CpuMeter {
  /** CPU seconds (user + system) of everything in the group so far. */
  seconds(): number;
  /** Move what is left back to the parent group and remove this one. */
  release(): void;
}

const meters = new Map<number, CpuMeter | null>();

/**
 * The CPU a server's processes use, counted by a cgroup of its own (cpuacct on cgroup v1, cpu.stat
 * on v2), so a session counts whether or not the master reaped it: vsftpd's upload sessions were
 * missing from its master's reaped children (0.07 s per GiB). Null where no cgroup can be made.
 */
function cpuMeter(pid: number): CpuMeter | null {
  if (meters.has(pid)) return meters.get(pid) ?? null;
  let meter: CpuMeter | null = null;
  // cgroup v1's cpuacct hierarchy, or a v2 hierarchy (mounted at the top, or beside v1 as "unified").
  const v1 = '/sys/fs/cgroup/cpuacct';
  const parent = [v1, '/sys/fs/cgroup', '/sys/fs/cgroup/unified'].find((d) =>
    fs.existsSync(path.join(d, d === v1 ? 'cpuacct.usage' : 'cgroup.controllers')),
  );
  if (parent) {
    const dir = path.join(parent, `nlbftp-bench-${pid}`);
    try {
      fs.mkdirSync(dir, { recursive: true });
      // The process and what it already forked (the raw stream's listener), then what they fork.
      for (const p of [pid, ...descendants(pid)]) fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(p));
      meter = {
        seconds: () =>
          parent === v1
            ? Number(fs.readFileSync(path.join(dir, 'cpuacct.usage'), 'utf8')) / 1e9
            : Number(/usage_usec (\d+)/.exec(fs.readFileSync(path.join(dir, 'cpu.stat'), 'utf8'))?.[1]) / 1e6,
        release: () => {
          for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
            try {
              fs.writeFileSync(path.join(parent, 'cgroup.procs'), p);
            } catch {
              // gone meanwhile
            }
          }
          fs.rmdirSync(dir);
        },
      };
    } catch {
      meter = null;
    }
  }
  meters.set(pid, meter);
  return meter;
}

/** A process's descendants, from /proc (children of each of its threads). */
function descendants(pid: number): number[] {
  let kids: number[] = [];
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`))
      kids.push(...fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    kids = [];
  }
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

/** Release every cgroup cpuMeter made. */
function releaseMeters(): void {
  for (const m of meters.values()) {
    try {
      m?.release();
    } catch {
      // a server still exiting; its empty group is harmless
    }
  }
  meters.clear();
}

/** Until a process has no child process left (its sessions ended and were reaped), or `ms` passed. */
async function sessionsEnded(pid: number, ms: number): Promise<void> {
  const children = () => {
    try {
      return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const end = Date.now() + ms;
  while (children() !== '' && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 200));
}

/** What one transfer took: wall seconds, the client's CPU seconds, the server sessions' CPU seconds. */
interface Measured {
  readonly s: number;
  readonly client: number;
  readonly server?: number;
  /** With --census: the server's system calls for this transfer, most frequent first. */
  readonly census?: string;
}

/**
 * Runs a client under /usr/bin/time, and accounts the server's side from a cgroup its master was
 * moved into (every session it forks is counted), or else from the master's reaped children.
 * With `census`, the master and its new sessions are traced (`strace -c -f`), which slows the
 * transfer: a census run's time is not a throughput figure.
 */
async function measured(
  what: string,
  cmd: string,
  args: string[],
  opts: {
    env?: NodeJS.ProcessEnv;
    input?: string;
    serverPid?: number;
    census?: boolean;
    /** The process to trace, when the server side is already running (the raw stream's socat). @default serverPid */
    tracePid?: number;
  } = {},
): Promise<Measured> {
  const timeFile = path.join(tmp, 'time.txt');
  const censusFile = path.join(tmp, 'census.txt');
  let tracer: ReturnType<typeof spawn> | undefined;
  if (opts.census && opts.serverPid) {
    tracer = spawn('strace', ['-c', '-f', '-o', censusFile, '-p', String(opts.tracePid ?? opts.serverPid)], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1000));
  }
  const meter = opts.serverPid ? cpuMeter(opts.serverPid) : null;
  const serverCpu = (pid: number) => meter?.seconds() ?? childCpu(pid);
  const before = opts.serverPid ? serverCpu(opts.serverPid) : 0;
  const t = Date.now();
  const r = await run('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, cmd, ...args], {
    timeoutMs: 600_000,
    env: opts.env,
    input: opts.input,
  });
  const s = (Date.now() - t) / 1000;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  // The session ends (and is reaped) after the client exits: wait until the master has no child
  // left (vsftpd's session may still be closing the file), at most 10 s.
  if (opts.serverPid) await sessionsEnded(opts.serverPid, 10_000);
  const server = opts.serverPid ? serverCpu(opts.serverPid) - before : undefined;
  const [u, sys] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()?.split(' ').map(Number) ?? [Number.NaN, Number.NaN];
  let census: string | undefined;
  if (tracer) {
    const exited = new Promise((res) => tracer?.on('close', res));
    tracer.kill('SIGINT');
    await exited;
    census = censusSummary(fs.readFileSync(censusFile, 'utf8'));
  }
  return { s, client: u + sys, server, census };
}

/** strace -c's table as "calls per GiB" of its six most frequent calls. */
function censusSummary(table: string): string {
  const rows = table
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && /^\d/.test(f[3] ?? '') && f[f.length - 1] !== 'total')
    .map((f) => ({ name: f[f.length - 1], calls: Number(f[3]) }))
    .filter((x) => x.name !== 'wait4');
  rows.sort((a, b) => b.calls - a.calls);
  const total = rows.reduce((n, x) => n + x.calls, 0);
  return `${(total / 1000).toFixed(0)}k calls: ${rows
    .slice(0, 6)
    .map((x) => `${x.name} ${(x.calls / 1000).toFixed(0)}k`)
    .join(', ')}`;
}

/** "283 MiB/s (3.6 s); CPU per GiB: client 1.1 s, server 2.4 s", scaled to the size moved. */
function figure(mib: number, m: Measured): string {
  const perGiB = (x: number) => `${((x * 1024) / mib).toFixed(2)} s`;
  const cpu = `CPU per GiB: client ${perGiB(m.client)}${m.server === undefined ? '' : `, server ${perGiB(m.server)}`}`;
  return `${(mib / m.s).toFixed(0)} MiB/s (${m.s.toFixed(1)} s); ${cpu}${m.census ? `; server syscalls per ${mib} MiB: ${m.census}` : ''}`;
}

/**
 * One socat TLS stream from this host to a backend's address, or back, on the path FTPS takes (the
 * same veths and the emulated NLB's namespace, routed, without its DNAT). Up is written to the file
 * store (where uploads land) or to /dev/null; down reads the file.
 */
async function rawTls(sb: Sandbox, file: string, direction: 'up' | 'up-null' | 'down', census: boolean): Promise<Measured> {
  const b = sb.backends[0];
  const key = path.join(tmp, 'raw.key');
  const crt = path.join(tmp, 'raw.crt');
  if (!fs.existsSync(crt)) {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=raw']);
  }
  const tls = 'cipher=ECDHE-RSA-AES128-GCM-SHA256,openssl-min-proto-version=TLS1.2,openssl-max-proto-version=TLS1.2';
  const listen = `OPENSSL-LISTEN:4443,reuseaddr,cert=${crt},key=${key},verify=0,${tls}`;
  const connect = `OPENSSL:${b.ip}:4443,verify=0,${tls}`;
  const landed = path.join(sb.sharedRoot, 'raw-up.bin');
  const [server, client] =
    direction === 'down'
      ? [
          [`FILE:${file}`, listen],
          [connect, '/dev/null'],
        ]
      : [
          [listen, direction === 'up' ? `CREATE:${landed}` : '/dev/null'],
          [`FILE:${file}`, connect],
        ];
  // A shell in the backend's namespace (`ip netns exec` becomes it) runs the listener and outlives
  // it, so the listener's CPU is the shell's reaped child's, as a server master's sessions are.
  const shell = spawn('ip', ['netns', 'exec', b.namespace, 'sh', '-c', `socat -u -b 262144 '${server[0]}' '${server[1]}'; exec sleep 60`], {
    stdio: 'ignore',
    detached: true,
  });
  await new Promise((r) => setTimeout(r, 500));
  try {
    const listener = Number(fs.readFileSync(`/proc/${shell.pid}/task/${shell.pid}/children`, 'utf8').trim().split(' ')[0]);
    return await measured(`raw TLS ${direction}`, 'socat', ['-u', '-b', '262144', ...client], {
      serverPid: shell.pid,
      census,
      tracePid: listener,
    });
  } finally {
    process.kill(-(shell.pid as number), 'SIGKILL');
    fs.rmSync(landed, { force: true });
  }
}

async function throughput(mib: number, census: boolean, servers: ReadonlyArray<'proftpd' | 'vsftpd'>): Promise<Row[]> {
  const rows: Row[] = [];
  const file = path.join(tmp, 'big.bin');
  await run('sh', ['-c', `head -c ${mib}M /dev/urandom > ${file}`], { timeoutMs: 600_000 });
  const add = (k: string, m: Measured) => {
    rows.push([k, figure(mib, m)]);
    log(`[throughput] ${k}: ${figure(mib, m)}`);
  };
  for (const server of servers) {
    const sb = await Sandbox.up({ context: { backendCount: '1', ftpServer: server }, checker: false, nlbHealth: DRILL_NLB_HEALTH, log });
    try {
      const { user, password } = sb.demo;
      const serverPid = sb.backends[0].server.pid;
      const curl = ['-sS', '--ssl-reqd', '--cacert', sb.certificateFile as string, '-u', `${user}:${password}`];
      // curl's own choice (TLS 1.3 and AES-256-GCM where the server allows it), then the raw stream's cipher.
      const ciphers: Array<[string, string[]]> = [
        ["curl's default cipher", []],
        ['TLS 1.2 AES-128-GCM', ['--tls-max', '1.2', '--ciphers', 'ECDHE-RSA-AES128-GCM-SHA256']],
      ];
      for (const [label, extra] of ciphers) {
        const o = { serverPid, census };
        add(
          `FTPS ${server}, ${mib} MiB upload (curl, ${label})`,
          await measured('FTPS upload', 'curl', [...curl, ...extra, '-T', file, `ftp://${sb.endpoint}/big-ftps.bin`], o),
        );
        add(
          `FTPS ${server}, ${mib} MiB download (curl, ${label})`,
          await measured('FTPS download', 'curl', [...curl, ...extra, '-o', '/dev/null', `ftp://${sb.endpoint}/big-ftps.bin`], o),
        );
      }
      if (sb.sftpPort && sb.sftpKnownHostsFile) {
        const env = askpassEnv(tmp, password);
        // OpenSSH's default (mod_sftp 1.3.8c has no chacha20: aes128-ctr with umac-64-etm), then AES-128-GCM.
        for (const [label, extra] of [
          ["OpenSSH's default cipher", []],
          ['AES-128-GCM', ['-c', 'aes128-gcm@openssh.com']],
        ] as Array<[string, string[]]>) {
          const ssh = [
            '-P',
            String(sb.sftpPort),
            ...strictSshOptions(sb.sftpKnownHostsFile),
            ...extra,
            '-o',
            'BatchMode=no',
            '-b',
            '-',
            `${user}@${sb.endpoint}`,
          ];
          const o = { env, serverPid, census };
          add(
            `SFTP ${server}, ${mib} MiB upload (OpenSSH sftp, ${label})`,
            await measured('SFTP upload', 'sftp', ssh, { ...o, input: `put ${file} big-sftp.bin\n` }),
          );
          add(
            `SFTP ${server}, ${mib} MiB download (OpenSSH sftp, ${label})`,
            await measured('SFTP download', 'sftp', ssh, { ...o, input: 'get big-sftp.bin /dev/null\n' }),
          );
        }
      }
      if (server === 'proftpd') {
        add(
          `raw TLS 1.2 AES-128-GCM stream, ${mib} MiB up to the file store (socat, 256 KiB buffers)`,
          await rawTls(sb, file, 'up', census),
        );
        add(`raw TLS stream, ${mib} MiB up to /dev/null`, await rawTls(sb, file, 'up-null', census));
        add(`raw TLS stream, ${mib} MiB down`, await rawTls(sb, file, 'down', census));
      }
    } finally {
      await sb.down();
    }
  }
  return rows;
}

/** The rows of one section of bench/RESULTS.md, as resultsSection wrote them. */
function sectionRows(marker: string): Row[] {
  const text = fs.readFileSync(RESULTS_FILE, 'utf8');
  const at = text.indexOf(`\n${marker}`);
  if (at < 0) return [];
  const end = text.indexOf('\n## ', at + 1);
  return text
    .slice(at, end < 0 ? undefined : end)
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| Figure') && !l.startsWith('| ---'))
    .map((l) => {
      const cells = l.slice(2, -2).split(' | ');
      return [cells[0], cells.slice(1).join(' | ').replace(/\\\|/g, '|')];
    });
}

async function main(): Promise<void> {
  const args = parseOrExit(COMMAND, process.argv.slice(2));
  const mib = Number(args.size ?? '1024');
  if (!Number.isInteger(mib) || mib < 1 || mib > 8192) throw new Error('--size must be a whole number of MiB from 1 to 8192');
  const both = args.sustained !== true && args.throughput !== true;
  const server = (args.server as string | undefined) ?? 'both';
  if (!['both', 'proftpd', 'vsftpd'].includes(server)) throw new Error(`--server must be proftpd or vsftpd, got ${server}`);
  const servers = server === 'both' ? (['proftpd', 'vsftpd'] as const) : ([server] as Array<'proftpd' | 'vsftpd'>);
  if (args.write === true && server !== 'both')
    throw new Error('--server runs part of the throughput rows: its figures are not written (drop --write)');
  process.on('SIGINT', () => {
    cleanupSandbox();
    process.exit(130);
  });
  cleanupSandbox();
  const started = Date.now();
  const rows: Row[] = [];
  try {
    if (both || args.sustained === true) rows.push(...(await sustained()));
    if (both || args.throughput === true) rows.push(...(await throughput(mib, args.census === true, servers)));
  } finally {
    releaseMeters();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  for (const [k, v] of rows) console.log(`${k}: ${v}`);
  if (args.write === true) {
    if (args.census === true) throw new Error('--census slows every transfer: its figures are not written (drop --write)');
    const heading = '## 9. SFTP (sessions held open; single-stream throughput beside FTPS and raw TLS)';
    // One part run alone keeps the other part's rows as the last full run wrote them, and says so.
    const kept = both ? [] : sectionRows('## 9.').filter(([k]) => k.startsWith('SFTP sustained') === (args.throughput === true));
    const command = both
      ? 'npm run bench:sftp -- --write'
      : `npm run bench:sftp -- --${args.throughput === true ? 'throughput' : 'sustained'} --write`;
    writeResultsSection(
      '## 9.',
      resultsSection(
        heading,
        command,
        (Date.now() - started) / 60_000,
        [...(args.throughput === true ? kept : []), ...rows, ...(args.sustained === true ? kept : [])],
        kept.length > 0 ? `The ${args.throughput === true ? 'sustained' : 'throughput'} rows are from the previous run.` : '',
      ),
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
