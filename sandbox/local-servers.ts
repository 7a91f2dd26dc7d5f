/** Either FTP server, by name: the tests, the benchmarks and the sandbox run both through this. */
import * as path from 'node:path';
import { LocalProftpd } from './local-proftpd';
import type { FtpServerKind, LocalServerOptions } from './local-server';
import { LocalVsftpd } from './local-vsftpd';

export type { FtpServerKind };
export const FTP_SERVERS: readonly FtpServerKind[] = ['vsftpd', 'proftpd'];

export type AnyLocalServer = LocalVsftpd | LocalProftpd;

/**
 * A local server of the given kind. `ftpRoot` is the LocalUsers root (ProFTPD jails users in
 * `<ftpRoot>/users/<name>`; vsftpd reads the jail from the home directory). Each renders its own
 * config from the settings.
 */
export function createLocalServer(kind: FtpServerKind, opts: LocalServerOptions & { readonly ftpRoot: string }): AnyLocalServer {
  const usersRoot = path.join(opts.ftpRoot, 'users');
  return kind === 'proftpd' ? new LocalProftpd({ ...opts, usersRoot }) : new LocalVsftpd(opts);
}
