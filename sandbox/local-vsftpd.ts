/**
 * Runs Debian's real vsftpd with the project's own renderer, on this machine. Used by the tests,
 * the benchmarks and the local sandbox. Only paths and addresses differ from what EC2 runs.
 *
 * Needs root (vsftpd binds port 21 and switches users) and Debian's vsftpd package.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderApplyUsersScript } from '../lib/backend/user-data';
import {
  renderOpenSslConf,
  renderPamService,
  renderVsftpdConf,
  type VsftpdPaths,
  type VsftpdSlotSettings,
} from '../lib/backend/vsftpd-conf';

/** Every PAM file, user and temp dir made here starts with this, so `--down` can find leftovers. */
export const LOCAL_PREFIX = 'nlbftp';

/** Local FTP accounts made with the project's own apply-users script, and removed on dispose. */
export class LocalUsers {
  readonly allowFile: string;
  private readonly created: string[] = [];

  constructor(
    readonly ftpRoot: string,
    readonly users: Readonly<Record<string, string>>,
  ) {
    this.allowFile = path.join(ftpRoot, '.allow');
  }

  apply(): void {
    for (const u of Object.keys(this.users)) {
      if (!userExists(u)) this.created.push(u);
    }
    fs.chmodSync(this.ftpRoot, 0o755);
    const script = path.join(this.ftpRoot, '.apply-users');
    fs.writeFileSync(script, renderApplyUsersScript({ ftpRoot: this.ftpRoot, allowFile: this.allowFile }), { mode: 0o700 });
    const input = Object.entries(this.users)
      .map(([u, p]) => `${u}\t${p}\n`)
      .join('');
    execFileSync('bash', [script], { input, stdio: ['pipe', 'ignore', 'pipe'] });
    fs.rmSync(script);
  }

  /** Remove the accounts this instance created. Safe to call twice. */
  dispose(): void {
    for (const u of this.created.splice(0)) removeUser(u);
  }
}

export function userExists(name: string): boolean {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function removeUser(name: string): void {
  try {
    execFileSync('userdel', [name], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
  try {
    execFileSync('groupdel', [name], { stdio: 'ignore' });
  } catch {
    /* already gone, or removed with the user */
  }
}

export interface LocalVsftpdOptions extends Omit<VsftpdSlotSettings, 'paths' | 'listenAddress'> {
  /**
   * The config text to run, given the local paths (e.g. the deployed vsftpd.conf from the
   * template with only addresses and paths substituted). Default: render from these settings.
   */
  readonly confText?: (paths: VsftpdPaths) => string;
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
  /**
   * OpenSSL settings for the process (OPENSSL_CONF), as the EC2 unit sets them. Default with FTPS:
   * `renderOpenSslConf(ftps)`, the same text the boot script writes.
   */
  readonly openSslConf?: string;
}

/** One vsftpd process with a rendered config. */
export class LocalVsftpd {
  readonly dir: string;
  readonly confPath: string;
  readonly pamService: string;
  private proc?: ChildProcess;
  private stderr = '';

  constructor(readonly opts: LocalVsftpdOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${LOCAL_PREFIX}-vsftpd-${opts.slot}-`));
    fs.chmodSync(this.dir, 0o755);
    const emptyDir = path.join(this.dir, 'empty');
    fs.mkdirSync(emptyDir, { mode: 0o755 });
    // PAM looks service files up by lower-cased name; a mixed-case file would silently fall back
    // to /etc/pam.d/other.
    this.pamService = `${LOCAL_PREFIX}-${opts.tag ?? `${process.pid}-${opts.slot}-${path.basename(this.dir)}`}`.toLowerCase();
    this.confPath = path.join(this.dir, 'vsftpd.conf');
    try {
      // Render first: a config the renderer refuses must leave nothing behind.
      fs.writeFileSync(this.confPath, this.render());
    } catch (err) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      throw err;
    }
    fs.writeFileSync(path.join('/etc/pam.d', this.pamService), renderPamService(opts.allowFile));
  }

  /** The config exactly as the renderer produced it, with only paths and addresses substituted. */
  render(): string {
    const paths: VsftpdPaths = {
      secureChrootDir: path.join(this.dir, 'empty'),
      pamServiceName: this.pamService,
      logFile: path.join(this.dir, 'vsftpd.log'),
      ...this.opts.tlsFiles,
    };
    return this.opts.confText ? this.opts.confText(paths) : renderVsftpdConf({ ...this.opts, paths });
  }

  /**
   * Point this backend's PAM service at another allow-list. PAM reads the service file at every
   * login, so an empty list breaks logins on this backend at once while TCP stays up.
   */
  setAllowFile(allowFile: string): void {
    fs.writeFileSync(path.join('/etc/pam.d', this.pamService), renderPamService(allowFile));
  }

  async start(timeoutMs = 5000): Promise<void> {
    const cmd = this.opts.netns ? ['ip', 'netns', 'exec', this.opts.netns, 'vsftpd', this.confPath] : ['vsftpd', this.confPath];
    const openSsl =
      this.opts.openSslConf ?? (this.opts.ftps && this.opts.ftps.mode !== 'off' ? renderOpenSslConf(this.opts.ftps) : undefined);
    let env = process.env;
    if (openSsl) {
      const file = path.join(this.dir, 'openssl.cnf');
      fs.writeFileSync(file, openSsl);
      env = { ...process.env, OPENSSL_CONF: file };
    }
    const proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.proc = proc;
    proc.stdout?.on('data', (d) => {
      this.stderr += d;
    });
    proc.stderr?.on('data', (d) => {
      this.stderr += d;
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) {
        throw new Error(`vsftpd (slot ${this.opts.slot}) exited with ${proc.exitCode}: ${this.stderr.trim()}`);
      }
      if (this.opts.netns ? nsPortOpen(this.opts.netns, this.opts.listenAddress, 21) : await portOpen(this.opts.listenAddress, 21)) {
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`vsftpd (slot ${this.opts.slot}) did not listen on ${this.opts.listenAddress}:21 within ${timeoutMs} ms`);
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Stop vsftpd and its session processes. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    // Sessions are forked children that outlive the listener; end those that use this config.
    killByPattern(this.confPath);
  }

  /** Stop, and remove the PAM file and the temp dir. */
  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(path.join('/etc/pam.d', this.pamService), { force: true });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function killByPattern(pattern: string): void {
  try {
    execFileSync('pkill', ['-KILL', '-f', pattern], { stdio: 'ignore' });
  } catch {
    /* nothing matched */
  }
}

export function portOpen(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
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
