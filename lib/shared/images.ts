/**
 * The public SSM parameter that names the backends' AMI, as the stack resolves it at deploy time:
 * Debian 13 for both servers (Debian's archive carries vsftpd and ProFTPD, and the sandbox boots
 * the same release from the same archive). Preflight reads the same name;
 * test/unit/preflight.test.ts holds it equal to the template's own parameter. Pure.
 */

/** Debian's official current Debian 13 (trixie) AMI, as Debian publishes it in SSM. */
export function debianAmiParameter(arm: boolean): string {
  return `/aws/service/debian/release/13/latest/${arm ? 'arm64' : 'amd64'}`;
}

/** The backends' image: one for either server. */
export function amiParameter(_server: 'vsftpd' | 'proftpd', arm: boolean): string {
  return debianAmiParameter(arm);
}
