/**
 * Runs Debian's real ProFTPD with the project's own renderer, on this machine. On Debian,
 * proftpd-core conflicts with vsftpd (both provide ftp-server), so `.ci/run` unpacks it privately
 * under PROFTPD_PREFIX; a system-wide install (/usr/sbin/proftpd) works too.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ProftpdPaths, renderProftpdConf } from '../lib/backend/proftpd-conf';
import { UPLOADS_MODULE_SOURCE } from '../lib/backend/user-data';
import { LocalFtpServer, type LocalServerOptions } from './local-server';

/** Where `.ci/run` unpacks proftpd-core and proftpd-mod-crypto (`dpkg -x`). */
export const PROFTPD_PREFIX = process.env.NLBFTP_PROFTPD_PREFIX ?? '/opt/nlbftp-proftpd';

/** The ProFTPD binary and its module directory, or undefined when neither install is there. */
export function proftpdInstall(): { readonly binary: string; readonly modulePath: string } | undefined {
  for (const prefix of [PROFTPD_PREFIX, '/']) {
    const binary = path.join(prefix, 'usr/sbin/proftpd');
    const modulePath = path.join(prefix, 'usr/lib/proftpd');
    if (fs.existsSync(binary) && fs.existsSync(path.join(modulePath, 'mod_tls.so'))) return { binary, modulePath };
  }
  return undefined;
}

/**
 * nlb-ftp's ProFTPD module, built for this ProFTPD (as a backend's boot builds it for its own) with
 * the same command, whenever it is missing or older than its source. The rendered config loads it.
 */
export function ensureUploadsModule(install: { readonly modulePath: string }): void {
  const so = path.join(install.modulePath, 'mod_nlbftp_uploads.so');
  if (fs.existsSync(so) && fs.statSync(so).mtimeMs >= fs.statSync(UPLOADS_MODULE_SOURCE).mtimeMs) return;
  const headers = path.join(install.modulePath, '../../include/proftpd');
  if (!fs.existsSync(path.join(headers, 'conf.h'))) throw new Error(`No ProFTPD headers in ${headers}: run \`bash .ci/install-proftpd\``);
  const tmp = `${so}.${process.pid}`;
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', `-I${headers}`, '-o', tmp, UPLOADS_MODULE_SOURCE, '-lssl'], { stdio: 'pipe' });
  fs.renameSync(tmp, so);
}

/** One sentence saying how to get ProFTPD, or undefined when it is there. */
export function missingProftpd(): string | undefined {
  return proftpdInstall()
    ? undefined
    : `Missing ProFTPD: run \`bash .ci/install-proftpd\` (it unpacks Debian's proftpd-core and proftpd-mod-crypto into ${PROFTPD_PREFIX}, beside vsftpd).`;
}

/** Fail (never skip) with that sentence when ProFTPD is missing: tests must always run both servers. */
export function requireProftpd(): void {
  const missing = missingProftpd();
  if (missing) throw new Error(missing);
}

/** One ProFTPD process with a rendered config. */
export class LocalProftpd extends LocalFtpServer<ProftpdPaths> {
  private readonly install: { readonly binary: string; readonly modulePath: string };

  constructor(override readonly opts: LocalServerOptions & { readonly usersRoot: string }) {
    super('proftpd', opts);
    const install = proftpdInstall();
    if (!install) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      throw new Error(missingProftpd());
    }
    this.install = install;
    ensureUploadsModule(install);
    this.writeConfig();
  }

  protected paths(): ProftpdPaths {
    return {
      pamServiceName: this.pamService,
      usersRoot: this.opts.usersRoot,
      transferLog: path.join(this.dir, 'xferlog'),
      systemLog: path.join(this.dir, 'proftpd.log'),
      auditLog: path.join(this.dir, 'audit.fifo'),
      pidFile: path.join(this.dir, 'proftpd.pid'),
      scoreboardFile: path.join(this.dir, 'proftpd.scoreboard'),
      modulePath: this.install.modulePath,
      user: 'nobody',
      group: 'nogroup',
      ...this.opts.tlsFiles,
    };
  }

  protected auditFifo(): string {
    return this.paths().auditLog;
  }

  protected renderDefault(paths: ProftpdPaths): string {
    return renderProftpdConf({ ...this.opts, paths });
  }

  protected command(): { argv: string[]; env: NodeJS.ProcessEnv } {
    // -n: stay in the foreground, as systemd runs it on EC2.
    return { argv: [this.install.binary, '-n', '-c', this.confPath], env: process.env };
  }
}
