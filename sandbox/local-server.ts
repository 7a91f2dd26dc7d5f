/**
 * A real FTP server (Debian's vsftpd or ProFTPD) run on this machine with the project's own
 * renderer, for the tests, the benchmarks and the local sandbox. Only paths and addresses differ
 * from what EC2 runs. Needs root (port 21, user switching).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AUDIT_SCRIPT_PATH } from '../lib/backend/user-data';
import { renderPamService, type VsftpdSlotSettings } from '../lib/backend/vsftpd-conf';
import { CONTROL_PORT } from '../lib/shared/contract';

/** Every PAM file, user and temp dir made here starts with this, so `--down` can find leftovers. */
export const LOCAL_PREFIX = 'nlbftp';

export type FtpServerKind = 'vsftpd' | 'proftpd';

export interface LocalServerOptions extends Omit<VsftpdSlotSettings, 'paths' | 'listenAddress'> {
  /** Loopback or namespace address to bind port 21 to. */
  readonly listenAddress: string;
  /** The PAM allow-list (from LocalUsers). */
  readonly allowFile: string;
  /** Run inside this network namespace (`ip netns exec`). */
  readonly netns?: string;
  /** A unique tag for the PAM service file; defaults to the slot and pid. */
  readonly tag?: string;
  /** PEM certificate and key files, for FTPS. */
  readonly tlsFiles?: { readonly certFile: string; readonly keyFile: string };
  /** What the audit events name as the stack and the instance (EC2: the stack name and IMDS). */
  readonly audit?: { readonly stack: string; readonly instance: string };
}

/** One FTP server process: its temp dir, config file and PAM service; start, stop, dispose. */
export abstract class LocalFtpServer<P> {
  readonly dir: string;
  readonly confPath: string;
  readonly pamService: string;
  private proc?: ChildProcess;
  private auditProc?: ChildProcess;
  private output = '';
  /** The JSON audit events this backend wrote (the file the CloudWatch agent ships on EC2). */
  readonly auditLog: string;

  constructor(
    readonly kind: FtpServerKind,
    readonly opts: LocalServerOptions,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${LOCAL_PREFIX}-${kind}-${opts.slot}-`));
    fs.chmodSync(this.dir, 0o755);
    // PAM looks service files up by lower-cased name; a mixed-case file would silently fall back
    // to /etc/pam.d/other.
    this.pamService = `${LOCAL_PREFIX}-${opts.tag ?? `${process.pid}-${opts.slot}-${path.basename(this.dir)}`}`.toLowerCase();
    this.confPath = path.join(this.dir, `${kind}.conf`);
    this.auditLog = path.join(this.dir, 'audit.log');
  }

  /** The FIFO the server writes its log lines into (its rendered config names it). */
  protected abstract auditFifo(): string;

  /**
   * The audit converter, started before the server as systemd orders them on EC2: it makes the
   * FIFO's reader, so the server's writes never block, and writes JSON events to `auditLog`.
   */
  private async startAudit(): Promise<void> {
    if (this.auditProc && this.auditProc.exitCode === null) return;
    const fifo = this.auditFifo();
    if (!fs.existsSync(fifo)) execFileSync('mkfifo', ['-m', '0600', fifo]);
    const audit = this.opts.audit ?? { stack: 'sandbox', instance: `local-slot-${this.opts.slot}` };
    const argv = [AUDIT_SCRIPT_PATH, '--server', this.kind, '--fifo', fifo, '--out', this.auditLog, '--allow-file', this.opts.allowFile];
    argv.push('--stack', audit.stack, '--slot', String(this.opts.slot), '--instance', audit.instance);
    this.auditProc = spawn('python3', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.auditProc.stderr?.on('data', (d) => {
      this.output += d;
    });
    // What Type=notify gives on EC2: the server starts only once the FIFO has its reader (a
    // server opening it before then is refused: vsftpd answers "500 OOPS" to the session).
    const pid = this.auditProc.pid;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (pid && openFiles(pid).includes(fifo)) return;
      if (this.auditProc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`the audit converter of ${this.kind} slot ${this.opts.slot} never opened ${fifo}: ${this.output.trim()}`);
  }

  /** The local paths substituted into the config. */
  protected abstract paths(): P;
  protected abstract renderDefault(paths: P): string;
  /** The program and environment that run this server in the foreground. */
  protected abstract command(): { argv: string[]; env: NodeJS.ProcessEnv };

  /** Subclasses call this once their own files exist. A config the renderer refuses leaves nothing behind. */
  protected writeConfig(): void {
    try {
      fs.writeFileSync(this.confPath, this.render());
    } catch (err) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      throw err;
    }
    fs.writeFileSync(path.join('/etc/pam.d', this.pamService), renderPamService(this.opts.allowFile));
  }

  /** The config as the renderer produces it for this machine's paths. */
  render(): string {
    return this.renderDefault(this.paths());
  }

  /**
   * Point this backend's PAM service at another allow-list. PAM reads the service file at every
   * login, so an empty list breaks logins on this backend at once while TCP stays up.
   */
  setAllowFile(allowFile: string): void {
    fs.writeFileSync(path.join('/etc/pam.d', this.pamService), renderPamService(allowFile));
  }

  async start(timeoutMs = 5000): Promise<void> {
    await this.startAudit();
    const { argv, env } = this.command();
    const cmd = this.opts.netns ? ['ip', 'netns', 'exec', this.opts.netns, ...argv] : argv;
    // Its own process group, so stop() also ends the session processes it forked.
    const proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
    this.proc = proc;
    proc.stdout?.on('data', (d) => {
      this.output += d;
    });
    proc.stderr?.on('data', (d) => {
      this.output += d;
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) {
        throw new Error(`${this.kind} (slot ${this.opts.slot}) exited with ${proc.exitCode}: ${this.output.trim()}${this.filesSeen()}`);
      }
      const open = this.opts.netns
        ? nsPortOpen(this.opts.netns, this.opts.listenAddress, CONTROL_PORT)
        : await portOpen(this.opts.listenAddress, CONTROL_PORT);
      if (open) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `${this.kind} (slot ${this.opts.slot}) did not listen on ${this.opts.listenAddress}:${CONTROL_PORT} within ${timeoutMs} ms`,
    );
  }

  /**
   * What this process sees of the files its config names, for a start that failed: a server that
   * says a file "does not exist" is then either right (and the path says why) or was shown another one.
   */
  private filesSeen(): string {
    const files = [this.confPath, ...Object.values(this.opts.tlsFiles ?? {})];
    const seen = files.map((f) => {
      try {
        const st = fs.statSync(f);
        return `${f}: ${st.size} bytes, mode ${(st.mode & 0o7777).toString(8)}, modified ${st.mtime.toISOString()}`;
      } catch (err) {
        return `${f}: ${(err as NodeJS.ErrnoException).code}`;
      }
    });
    return `\n(as this test process sees them: ${seen.join('; ')})`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The audit converter's process (it reads the server's log FIFO). */
  get auditPid(): number | undefined {
    return this.auditProc?.pid;
  }

  /** Stop the server and its session processes. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const pgid = proc.pid;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    // Sessions are forked children that outlive the listener: end the whole process group, and
    // (vsftpd's helpers keep the config path in their command line) anything naming the config.
    if (pgid !== undefined) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* group already empty */
      }
    }
    killByPattern(this.confPath);
  }

  /** Stop, and remove the PAM file and the temp dir. */
  async dispose(): Promise<void> {
    await this.stop();
    this.auditProc?.kill('SIGKILL');
    fs.rmSync(path.join('/etc/pam.d', this.pamService), { force: true });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The files a process holds open now (descriptors that close while being read are skipped). */
function openFiles(pid: number): string[] {
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  return fds.flatMap((fd) => {
    try {
      return [fs.readlinkSync(`/proc/${pid}/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

export function killByPattern(pattern: string): void {
  try {
    execFileSync('pkill', ['-KILL', '-f', pattern], { stdio: 'ignore' });
  } catch {
    /* nothing matched */
  }
}

export function portOpen(host: string, port: number, timeoutMs = 300, localAddress?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, localAddress });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function nsPortOpen(ns: string, host: string, port: number): boolean {
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { stdio: 'ignore', timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}
