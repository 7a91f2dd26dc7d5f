/**
 * FTPS settings every FTP server of nlb-ftp understands, whatever renders them. Plain types only,
 * so the checker Lambda can share them without bundling a renderer.
 */

export type FtpsMode = 'off' | 'optional' | 'required';

/** Explicit FTPS (AUTH TLS on port 21). The NLB passes it through untouched. */
export interface FtpsSettings {
  readonly mode: FtpsMode;
  /**
   * Refuse data connections that do not resume the control connection's TLS session (vsftpd's
   * default). Safer: a data connection cannot be hijacked by another TLS client. Some clients
   * fail with `522` and need it off.
   */
  readonly requireSslReuse: boolean;
  /**
   * Highest TLS version offered. `1.2` by default: over TLS 1.3, curl before 8.9 (Debian 12,
   * RHEL 9, Ubuntu 24.04) loses downloads that follow an upload on the same connection.
   */
  readonly maxTlsVersion?: '1.2' | '1.3';
}
