/**
 * Runs Debian's real vsftpd with the project's own renderer, on this machine. Used by the tests,
 * the benchmarks and the local sandbox. Only paths and addresses differ from what EC2 runs.
 *
 * Needs root (vsftpd binds port 21 and switches users) and Debian's vsftpd package.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { APPLY_USERS_SCRIPT } from '../lib/backend/user-data';
import { renderOpenSslConf, renderVsftpdConf, type VsftpdPaths } from '../lib/backend/vsftpd-conf';
import type { BackendRef } from '../lib/shared/contract';
import { slotPorts } from '../lib/shared/port-plan';
import { LocalFtpServer, type LocalServerOptions } from './local-server';

/** Local FTP accounts made with the project's own apply-users script, and removed on dispose. */
export class LocalUsers {
  readonly allowFile: string;
  private readonly created: string[] = [];
  /** The script's record of what it applied (on EC2: /var/lib/nlb-ftp). */
  private readonly stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-users-state-'));

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
    const input = Object.entries(this.users)
      .map(([u, p]) => `${u}\t${p}\n`)
      .join('');
    execFileSync('python3', [APPLY_USERS_SCRIPT], {
      input,
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, FTP_ROOT: this.ftpRoot, ALLOW_FILE: this.allowFile, NLBFTP_STATE_DIR: this.stateDir },
    });
  }

  /** Remove the accounts this instance created. Safe to call twice. */
  dispose(): void {
    for (const u of this.created.splice(0)) removeUser(u);
    fs.rmSync(this.stateDir, { recursive: true, force: true });
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

export type LocalVsftpdOptions = LocalServerOptions;

/** One vsftpd process with a rendered config. */
export class LocalVsftpd extends LocalFtpServer<VsftpdPaths> {
  constructor(override readonly opts: LocalVsftpdOptions) {
    super('vsftpd', opts);
    fs.mkdirSync(path.join(this.dir, 'empty'), { mode: 0o755 });
    this.writeConfig();
  }

  protected paths(): VsftpdPaths {
    return {
      secureChrootDir: path.join(this.dir, 'empty'),
      pamServiceName: this.pamService,
      logFile: path.join(this.dir, 'audit.fifo'),
      ...this.opts.tlsFiles,
    };
  }

  protected auditFifo(): string {
    return this.paths().logFile;
  }

  protected renderDefault(paths: VsftpdPaths): string {
    return renderVsftpdConf({ ...this.opts, paths });
  }

  protected command(): { argv: string[]; env: NodeJS.ProcessEnv } {
    // OpenSSL settings for the process (OPENSSL_CONF), the same text the boot's settings carry.
    const openSsl = this.opts.ftps && this.opts.ftps.mode !== 'off' ? renderOpenSslConf(this.opts.ftps) : undefined;
    let env = process.env;
    if (openSsl) {
      const file = path.join(this.dir, 'openssl.cnf');
      fs.writeFileSync(file, openSsl);
      env = { ...process.env, OPENSSL_CONF: file };
    }
    return { argv: ['vsftpd', this.confPath], env };
  }
}

/**
 * One real vsftpd per backend, on its (loopback) address, each with its slot's passive range from
 * `passivePortStart`; with `tlsFiles`, FTPS required with that slot's certificate and key. For the
 * checker's tests and benchmark, which probe backends directly, without the sandbox's NLB.
 */
export async function startVsftpdBackends(
  backends: readonly BackendRef[],
  opts: {
    readonly allowFile: string;
    readonly passivePortStart: number;
    readonly passivePortsPerBackend: number;
    readonly maxPerIp: number;
    readonly tlsFiles?: (slot: number) => { certFile: string; keyFile: string };
  },
): Promise<LocalVsftpd[]> {
  const servers: LocalVsftpd[] = [];
  for (const b of backends) {
    const ports = slotPorts(b.slot, { passivePortsPerBackend: opts.passivePortsPerBackend, passivePortStart: opts.passivePortStart });
    const v = new LocalVsftpd({
      slot: b.slot,
      listenAddress: b.privateIp,
      pasvAddress: b.privateIp,
      pasvMinPort: ports.minPort,
      pasvMaxPort: ports.maxPort,
      maxClients: 50,
      maxPerIp: opts.maxPerIp,
      allowFile: opts.allowFile,
      ...(opts.tlsFiles ? { ftps: { mode: 'required' as const, requireSslReuse: true }, tlsFiles: opts.tlsFiles(b.slot) } : {}),
    });
    servers.push(v);
    await v.start();
  }
  return servers;
}
