/**
 * OpenSSH's sftp as the tests and the SFTP benchmark drive it: strict host-key checking against a
 * known_hosts file (the stack's keys, nothing learned on first use), and a password given through
 * an askpass program, which batch mode (`-b`) otherwise forbids.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** ssh options: only these known hosts, nothing else trusted, a password allowed in batch mode. */
export function strictSshOptions(knownHosts: string): string[] {
  return ['-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'GlobalKnownHostsFile=/dev/null'];
}

/** Write an askpass program into `dir`; the environment that makes ssh read `password` from it. */
export function askpassEnv(dir: string, password: string): NodeJS.ProcessEnv {
  const askpass = path.join(dir, 'askpass.sh');
  if (!fs.existsSync(askpass)) fs.writeFileSync(askpass, '#!/bin/sh\nprintf "%s\\n" "$NLBFTP_SSH_PASSWORD"\n', { mode: 0o700 });
  return { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', NLBFTP_SSH_PASSWORD: password };
}
