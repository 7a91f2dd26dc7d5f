/**
 * Network namespaces for tests and the sandbox. Every name starts with `nlbftp`, every address is
 * in 198.18.0.0/15 (the benchmarking range, enforced by `assertSandboxAddress`), so a crashed
 * run can always be found and cleaned up (`cleanupSandbox()` in cluster.ts).
 */
import { execFileSync } from 'node:child_process';

export const NS_PREFIX = 'nlbftp';

export function sh(cmd: string, args: readonly string[], opts: { input?: string; allowFail?: boolean } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    if (opts.allowFail) return '';
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** Whether an address is in 198.18.0.0/15, the only range the sandbox uses. */
export function isSandboxAddress(ip: string): boolean {
  const [a, b] = ip.split('.').map(Number);
  return /^\d+\.\d+\.\d+\.\d+$/.test(ip) && a === 198 && (b === 18 || b === 19);
}

export function assertSandboxAddress(ip: string): void {
  if (!isSandboxAddress(ip)) throw new Error(`${ip} is outside 198.18.0.0/15; the sandbox never uses other addresses`);
}

export function nsExec(ns: string, cmd: string, args: readonly string[], opts: { allowFail?: boolean; input?: string } = {}): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

export function listNamespaces(): string[] {
  return sh('ip', ['netns', 'list'], { allowFail: true })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(NS_PREFIX));
}

/** A namespace with loopback up. */
export function createNamespace(name: string): void {
  if (!name.startsWith(NS_PREFIX)) throw new Error(`namespace ${name} must start with ${NS_PREFIX}`);
  sh('ip', ['netns', 'add', name]);
  nsExec(name, 'ip', ['link', 'set', 'lo', 'up']);
}

/** Kill every process inside the namespace, then delete it. */
export function deleteNamespace(name: string): void {
  const pids = sh('ip', ['netns', 'pids', name], { allowFail: true }).split('\n').filter(Boolean);
  for (const pid of pids) sh('kill', ['-KILL', pid], { allowFail: true });
  sh('ip', ['netns', 'delete', name], { allowFail: true });
}

/**
 * Connect namespace `ns` to `peer` (another namespace, or the root namespace when undefined) with a
 * veth pair, and give each end an address of a /30 (or given prefix).
 */
export function linkNamespaces(opts: {
  readonly ns: string;
  readonly nsIf: string;
  readonly nsAddr: string;
  readonly peer?: string;
  readonly peerIf: string;
  readonly peerAddr: string;
  readonly prefix?: number;
}): void {
  assertSandboxAddress(opts.nsAddr);
  assertSandboxAddress(opts.peerAddr);
  const prefix = opts.prefix ?? 30;
  // Create the namespace end under a unique temporary name (its final name may exist in the root
  // namespace, e.g. eth0), move it, then rename it inside.
  const tmp = `${opts.peerIf}n`.slice(0, 15);
  sh('ip', ['link', 'add', opts.peerIf, 'type', 'veth', 'peer', 'name', tmp]);
  sh('ip', ['link', 'set', tmp, 'netns', opts.ns]);
  if (tmp !== opts.nsIf) nsExec(opts.ns, 'ip', ['link', 'set', tmp, 'name', opts.nsIf]);
  if (opts.peer) sh('ip', ['link', 'set', opts.peerIf, 'netns', opts.peer]);
  const inPeer = (cmd: string, args: string[]) => (opts.peer ? nsExec(opts.peer, cmd, args) : sh(cmd, args));
  nsExec(opts.ns, 'ip', ['addr', 'add', `${opts.nsAddr}/${prefix}`, 'dev', opts.nsIf]);
  nsExec(opts.ns, 'ip', ['link', 'set', opts.nsIf, 'up']);
  inPeer('ip', ['addr', 'add', `${opts.peerAddr}/${prefix}`, 'dev', opts.peerIf]);
  inPeer('ip', ['link', 'set', opts.peerIf, 'up']);
}
