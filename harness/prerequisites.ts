import { hasTool } from '../sandbox/netns';

const INSTALL_HINT: Record<string, string> = {
  vsftpd: 'apt-get install -y vsftpd',
  curl: 'apt-get install -y curl',
  lftp: 'apt-get install -y lftp',
  iptables: 'apt-get install -y iptables',
  ip: 'apt-get install -y iproute2',
  shellcheck: 'apt-get install -y shellcheck',
  unshare: 'apt-get install -y util-linux',
  openssl: 'apt-get install -y openssl',
  python3: 'apt-get install -y python3',
  nsenter: 'apt-get install -y util-linux',
};

/**
 * Fail (never skip) with one sentence naming what is missing and how to get it. CI must always
 * run these tests, so a missing tool is an error, not a reason to pass quietly.
 */
export function requireTools(tools: readonly string[], opts: { root?: boolean } = { root: true }): void {
  if (opts.root !== false && process.getuid?.() !== 0) {
    throw new Error('These tests need root (they start vsftpd on port 21 and create network namespaces): run them with sudo or as root.');
  }
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length > 0) {
    throw new Error(
      `Missing ${missing.join(', ')}: install with \`${missing.map((t) => INSTALL_HINT[t] ?? `apt-get install -y ${t}`).join(' && ')}\`.`,
    );
  }
}
