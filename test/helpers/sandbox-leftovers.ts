import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { expect } from 'vitest';
import { SANDBOX_PREFIX } from '../../sandbox/cluster';
import { listNamespaces } from '../../sandbox/netns';

/** After `Sandbox.down()`, nothing may be left behind: namespaces, processes, PAM files, links. */
export function expectNoSandboxLeftovers(): void {
  expect(listNamespaces().filter((n) => n.startsWith(SANDBOX_PREFIX))).toEqual([]);
  expect(execFileSync('bash', ['-c', 'pgrep -af "vsftpd|checker-runner|nlb-ftp-audit" || true'], { encoding: 'utf8' })).not.toMatch(
    /nlbftp/,
  );
  // ProFTPD rewrites its command line ("proftpd: (accepting connections)"), so a leftover one is
  // found by what it holds open: the log files in its nlbftp-proftpd-* directory.
  const proftpdFiles = 'for p in $(pgrep -x proftpd); do ls -l /proc/$p/fd 2>/dev/null; done | grep -o "/[^ ]*nlbftp-[^ ]*" || true';
  expect(execFileSync('bash', ['-c', proftpdFiles], { encoding: 'utf8' })).toBe('');
  expect(fs.readdirSync('/etc/pam.d').filter((f) => f.startsWith(`${SANDBOX_PREFIX}`))).toEqual([]);
  expect(execFileSync('bash', ['-c', `ip link show | grep ${SANDBOX_PREFIX} || true`], { encoding: 'utf8' })).toBe('');
}
