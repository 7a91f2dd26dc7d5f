/**
 * The programs the sandbox, the integration tests and the benchmarks run, and the Debian package
 * of each: one list, one check, one sentence when something is missing.
 */
import { execFileSync } from 'node:child_process';

/** Program -> the Debian package that provides it. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  vsftpd: 'vsftpd',
  curl: 'curl',
  lftp: 'lftp',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  ip: 'iproute2',
  tc: 'iproute2',
  shellcheck: 'shellcheck',
  unshare: 'util-linux',
  nsenter: 'util-linux',
  openssl: 'openssl',
  python3: 'python3',
};

/** Is this program on PATH (including the sbin directories, where ip and iptables live)? */
export function hasTool(tool: string): boolean {
  try {
    execFileSync('bash', ['-c', `command -v ${tool}`], {
      stdio: 'ignore',
      env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` },
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * One sentence naming what is missing (root, or programs) and how to get it; undefined when all
 * is there. `why` completes "needs root (...)".
 */
export function missingPrerequisites(tools: readonly string[], opts: { root?: boolean; why?: string } = {}): string | undefined {
  if (opts.root !== false && process.getuid?.() !== 0) {
    return `This needs root (${opts.why ?? 'it starts FTP servers on port 21 and creates network namespaces'}): run it with sudo or as root.`;
  }
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) return undefined;
  const pkgs = [...new Set(missing.map((t) => TOOL_PACKAGES[t] ?? t))];
  return `Missing ${missing.join(', ')}: install with \`apt-get install -y ${pkgs.join(' ')}\`.`;
}

/**
 * Fail (never skip) with one sentence naming what is missing and how to get it. CI must always
 * run these tests, so a missing tool is an error, not a reason to pass quietly.
 */
export function requireTools(tools: readonly string[], opts: { root?: boolean } = { root: true }): void {
  const problem = missingPrerequisites(tools, opts);
  if (problem) throw new Error(problem);
}
