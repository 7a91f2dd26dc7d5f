/**
 * Python's ftplib against the sandbox (FTPS required, TLS session reuse required: the defaults),
 * both ways, so that the README's troubleshooting stays true: `ftplib.FTP_TLS` as shipped opens
 * its data connections without resuming the control connection's TLS session, and each server
 * refuses that with the reply the README quotes; the six-line subclass the README shows succeeds.
 * The client uses Python's default TLS settings (TLS 1.3 here), as a user's script would.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { missingRoot } from '../../sandbox/boot/root';
import { cleanupSandbox, DRILL_NLB_HEALTH, Sandbox } from '../../sandbox/cluster';
import { expectNoSandboxLeftovers } from '../helpers/sandbox-leftovers';

const README = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

/** The README's fix, taken from the README itself, so the text and the test cannot part. */
function readmeFix(): string {
  const m = /```python\n( *)(class ReusingFTP_TLS[\s\S]*?)\n *```/.exec(README);
  if (!m) throw new Error('README has no ```python class ReusingFTP_TLS ... ``` block');
  // The block sits in a list item: take its indentation off.
  const indent = m[1].length;
  return `${m[1]}${m[2]}`
    .split('\n')
    .map((l) => l.slice(indent))
    .join('\n');
}

/** One login and one listing (EPSV data connection over TLS), as a Python user would write it. */
function script(reuse: boolean): string {
  return `
import ftplib, os, ssl, sys
${reuse ? readmeFix() : 'ReusingFTP_TLS = ftplib.FTP_TLS'}
ctx = ssl.create_default_context(cafile=os.environ["CA"])
ftp = ReusingFTP_TLS(context=ctx, timeout=15)
ftp.connect(os.environ["HOST"], 21)
ftp.login(os.environ["FTP_USER"], os.environ["FTP_PASSWORD"])
ftp.prot_p()
try:
    lines = []
    ftp.retrlines("LIST", lines.append)
    print("LISTED %d" % len(lines))
except Exception as err:
    print("%s: %s" % (type(err).__name__, err))
    sys.exit(1)
`;
}

/** What each server answers a data connection that does not resume the session, as ftplib raises it. */
const REFUSAL = {
  vsftpd: 'error_perm: 522 SSL connection failed: session reuse required',
  proftpd: 'error_temp: 425 Unable to build data connection: Operation not permitted',
} as const;

describe.each(['vsftpd', 'proftpd'] as const)('Python ftplib against %s, FTPS required', (server) => {
  let sb: Sandbox;
  beforeAll(async () => {
    requireTools(['ip', 'iptables', 'nsenter', 'python3']);
    const missing = missingRoot();
    if (missing) throw new Error(missing);
    cleanupSandbox();
    sb = await Sandbox.up({ context: { ftpServer: server, backendCount: '1' }, checker: false, nlbHealth: DRILL_NLB_HEALTH });
  }, 600_000);
  afterAll(async () => {
    await sb?.down();
    expectNoSandboxLeftovers();
  });

  const runPython = (reuse: boolean) =>
    spawnSync('python3', ['-c', script(reuse)], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        ...process.env,
        HOST: sb.endpoint,
        CA: sb.certificateFile as string,
        FTP_USER: sb.demo.user,
        FTP_PASSWORD: sb.demo.password,
      },
    });

  it('as shipped, ftplib.FTP_TLS is refused with the reply the README quotes, every time', () => {
    expect(README).toContain(REFUSAL[server].split(': ').slice(1).join(': '));
    for (let i = 0; i < 3; i++) {
      const r = runPython(false);
      expect(r.status, r.stdout + r.stderr).toBe(1);
      expect(r.stdout.trim()).toBe(REFUSAL[server]);
      expect(r.stdout + r.stderr).not.toContain(sb.demo.password);
    }
  });

  it("with the README's session-reuse subclass, the same listing succeeds", () => {
    const r = runPython(true);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^LISTED \d+$/m);
  });
});
