/**
 * The audit trail's pure parts: the converter fed the servers' own line formats (lines copied from
 * Debian's vsftpd 3.0.3 and ProFTPD 1.3.8 as the sandbox runs them), the renderers' log settings,
 * and the local metric-filter evaluator the sandbox test relies on.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderProftpdConf } from '../../lib/backend/proftpd-conf';
import { AUDIT_SCRIPT_PATH } from '../../lib/backend/user-data';
import { renderVsftpdConf } from '../../lib/backend/vsftpd-conf';
import { AUDIT_FIELDS, AUDIT_FIFO, AUDIT_FILTERS } from '../../lib/shared/audit';
import { filterMatches, parseFilterPattern } from '../helpers/filter-pattern';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-audit-unit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Run the converter on `lines` written into its FIFO; return the JSON events and its stderr. */
async function convert(
  server: 'vsftpd' | 'proftpd',
  lines: string[],
  expected: number,
): Promise<{ events: Array<Record<string, unknown>>; stderr: string }> {
  const dir = fs.mkdtempSync(path.join(tmp, `${server}-`));
  const fifo = path.join(dir, 'fifo');
  const out = path.join(dir, 'audit.log');
  const allow = path.join(dir, 'allow');
  fs.writeFileSync(allow, 'alice\nbob\n');
  execFileSync('mkfifo', [fifo]);
  const args = [
    '--server',
    server,
    '--fifo',
    fifo,
    '--out',
    out,
    '--allow-file',
    allow,
    '--stack',
    'S',
    '--slot',
    '2',
    '--instance',
    'i-1',
  ];
  const p = spawn('python3', [AUDIT_SCRIPT_PATH, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => {
    stderr += d;
  });
  fs.writeFileSync(fifo, `${lines.join('\n')}\n`);
  const readEvents = (): Array<Record<string, unknown>> =>
    fs.existsSync(out)
      ? fs
          .readFileSync(out, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (expected > 0 ? readEvents().length >= expected : stderr.includes('not understood')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 100)); // anything more than expected lands too, and fails the test
  const events = readEvents();
  p.kill();
  return { events, stderr };
}

describe('nlb-ftp-audit.py (the converter the backends run)', () => {
  it('is valid Python', () => {
    expect(() => execFileSync('python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', AUDIT_SCRIPT_PATH])).not.toThrow();
  });

  it("vsftpd: logins, each file operation, the rename's two names, and a dead session's end", async () => {
    // pid 1 never runs an FTP session here: its "session" (init) never ends, so no session-end.
    const { events } = await convert(
      'vsftpd',
      [
        'Thu Dec  3 06:20:30 2026 [pid 27000] CONNECT: Client "198.18.0.1"',
        'Thu Dec  3 06:20:30 2026 [pid 27001] [alice] FAIL LOGIN: Client "198.18.0.1"',
        'Thu Dec  3 06:20:31 2026 [pid 1] [alice] OK LOGIN: Client "198.18.0.1"',
        'Thu Dec  3 06:20:33 2026 [pid 1] [alice] OK UPLOAD: Client "198.18.0.1", "/files/up.txt", 2048 bytes, 1.00Kbyte/sec',
        'Thu Dec  3 06:20:33 2026 [pid 1] [alice] OK RENAME: Client "198.18.0.1", "/files/up.txt /files/moved file.txt"',
        'Thu Dec  3 06:20:34 2026 [pid 1] [alice] FAIL DELETE: Client "198.18.0.1", "/files/nope"',
        'Thu Dec  3 06:20:35 2026 [pid 999999] [bob] OK LOGIN: Client "198.18.0.9"',
      ],
      7,
    );
    expect(events.map((e) => [e.event, e.user, e.result])).toEqual([
      ['login-failed', 'alice', 'fail'],
      ['login', 'alice', 'ok'],
      ['upload', 'alice', 'ok'],
      ['rename', 'alice', 'ok'],
      ['delete', 'alice', 'fail'],
      ['login', 'bob', 'ok'],
      ['session-end', 'bob', 'ok'], // pid 999999 does not exist: the session is over
    ]);
    expect(events[2]).toMatchObject({
      path: '/files/up.txt',
      bytes: 2048,
      durationMs: 2000,
      command: 'STOR',
      clientPort: null,
      code: null,
    });
    expect(events[3]).toMatchObject({ fromPath: '/files/up.txt', path: '/files/moved file.txt', command: 'RNTO' });
    expect(events[0]).toMatchObject({
      time: '2026-12-03T06:20:30.000Z',
      stack: 'S',
      slot: 2,
      instance: 'i-1',
      server: 'vsftpd',
      clientIp: '198.18.0.1',
    });
    for (const e of events) expect(Object.keys(e)).toEqual(AUDIT_FIELDS.map(([k]) => k));
  });

  it("vsftpd: a transfer read after its process exited still counts in its own session's bytes, and no other session's", async () => {
    // On a busy backend the converter can read a short session's lines after both of its processes
    // have exited (no pid here exists), so the child's parent can no longer be looked up in /proc.
    // Same user at another address, and another user at the same address: neither takes the bytes.
    const { events } = await convert(
      'vsftpd',
      [
        'Thu Dec  3 06:20:30 2026 [pid 999980] [alice] OK LOGIN: Client "198.18.0.9"',
        'Thu Dec  3 06:20:30 2026 [pid 999985] [bob] OK LOGIN: Client "198.18.0.2"',
        'Thu Dec  3 06:20:31 2026 [pid 999990] [bob] OK LOGIN: Client "198.18.0.9"',
        'Thu Dec  3 06:20:32 2026 [pid 999991] [bob] OK UPLOAD: Client "198.18.0.9", "/files/a", 4096 bytes, 4.00Kbyte/sec',
        'Thu Dec  3 06:20:33 2026 [pid 999991] [bob] OK DOWNLOAD: Client "198.18.0.9", "/files/a", 1000 bytes, 1.00Kbyte/sec',
      ],
      8,
    );
    const ends = events.filter((e) => e.event === 'session-end').map((e) => [e.user, e.clientIp, e.bytes]);
    expect(ends).toEqual([
      ['alice', '198.18.0.9', 0],
      ['bob', '198.18.0.2', 0],
      ['bob', '198.18.0.9', 5096],
    ]);
  });

  it('a name that is not an FTP user (a password typed as the user name) is written as null, and a forged line cannot pass', async () => {
    const { events } = await convert(
      'vsftpd',
      [
        'Thu Dec  3 06:20:30 2026 [pid 5] [Secret-Passw0rd] FAIL LOGIN: Client "198.18.0.1"',
        // A user name crafted to look like another line: the whole bracket is the name, and not a user.
        'Thu Dec  3 06:20:31 2026 [pid 6] [x] OK LOGIN: Client "6.6.6.6"] FAIL LOGIN: Client "198.18.0.1"',
      ],
      2,
    );
    expect(events.map((e) => [e.event, e.user, e.clientIp])).toEqual([
      ['login-failed', null, '198.18.0.1'],
      ['login-failed', null, '198.18.0.1'],
    ]);
    expect(JSON.stringify(events)).not.toContain('Secret-Passw0rd');
  });

  it('ProFTPD: PASS 230/530, transfers with their time, RNTO with RNFR, and EXIT as the session end with its bytes', async () => {
    const T = '\t';
    const line = (...f: string[]) => f.join(T);
    const { events } = await convert(
      'proftpd',
      [
        line('1796278818.485', '26812', '198.18.0.1', '49256', '-', 'pw-typed-as-user', 'USER', '331', '-', '-', '-', '-', 'ftps'),
        line('1796278818.555', '26812', '198.18.0.1', '49256', '-', 'pw-typed-as-user', 'PASS', '530', '-', '-', '-', '-', 'ftps'),
        line('1796278818.555', '26812', '198.18.0.1', '49256', '-', '-', 'EXIT', '-', '-', '-', '-', '-', 'ftps'),
        line('1796278819.009', '26814', '198.18.0.1', '49270', 'alice', 'alice', 'PASS', '230', '-', '-', '-', '-', 'ftps'),
        line('1796278819.010', '26814', '198.18.0.1', '49270', 'alice', 'alice', 'STOR', '226', '/files/up.txt', '-', '12', '7', 'ftps'),
        line('1796278819.924', '26814', '198.18.0.1', '49270', 'alice', 'alice', 'RNFR', '350', '/files/up.txt', '-', '0', '-', 'ftps'),
        line(
          '1796278819.924',
          '26814',
          '198.18.0.1',
          '49270',
          'alice',
          'alice',
          'RNTO',
          '250',
          '/files/b.txt',
          '/files/up.txt',
          '0',
          '-',
          'ftps',
        ),
        line('1796278819.925', '26814', '198.18.0.1', '49270', 'alice', 'alice', 'RETR', '550', '/files/none', '-', '0', '0', 'ftps'),
        line('1796278820.009', '26814', '198.18.0.1', '49270', 'alice', 'alice', 'EXIT', '-', '-', '-', '-', '-', 'ftps'),
      ],
      6,
    );
    expect(events.map((e) => [e.event, e.user, e.code, e.result])).toEqual([
      ['login-failed', null, 530, 'fail'],
      ['login', 'alice', 230, 'ok'],
      ['upload', 'alice', 226, 'ok'],
      ['rename', 'alice', 250, 'ok'],
      ['download', 'alice', 550, 'fail'],
      ['session-end', 'alice', null, 'ok'],
    ]);
    expect(events[2]).toMatchObject({ bytes: 12, durationMs: 7, clientPort: 49270, protocol: 'ftps', time: '2026-12-03T06:20:19.010Z' });
    expect(events[3]).toMatchObject({ fromPath: '/files/up.txt', path: '/files/b.txt' });
    expect(events[5]).toMatchObject({ bytes: 12, durationMs: 1000 });
  });

  it('a line it cannot read is counted on stderr and never printed', async () => {
    const { events, stderr } = await convert('proftpd', ['garbage with Secret-Passw0rd in it', ''], 0);
    expect(events).toEqual([]);
    expect(stderr).toContain('1 line(s) not understood');
    expect(stderr).not.toContain('Secret');
  });
});

describe('the servers write their audit lines into the FIFO, never arguments of PASS', () => {
  const slot = { slot: 1, pasvAddress: '198.51.100.1', pasvMinPort: 40000, pasvMaxPort: 40003, maxClients: 10, maxPerIp: 5 };
  it('vsftpd: its log file is the FIFO, and the protocol log stays off', () => {
    const conf = renderVsftpdConf(slot);
    expect(conf).toContain(`vsftpd_log_file=${AUDIT_FIFO}`);
    expect(conf).toContain('xferlog_std_format=NO');
    expect(conf).toContain('log_ftp_protocol=NO');
  });
  it('ProFTPD: an ExtendedLog to the FIFO with AUTH, READ, WRITE and EXIT, and no %J or %r', () => {
    const conf = renderProftpdConf(slot);
    expect(conf).toMatch(new RegExp(`^ExtendedLog ${AUDIT_FIFO} AUTH,READ,WRITE,EXIT nlbftp-audit$`, 'm'));
    const format = /^LogFormat nlbftp-audit "(.*)"$/m.exec(conf)?.[1] ?? '';
    expect(format.split('\t')).toHaveLength(13);
    expect(format).not.toMatch(/%J|%r|%A/);
  });
});

describe('docs/audit.md documents the schema', () => {
  it('its table lists every field, in order, with the meaning the code gives', () => {
    const section = fs.readFileSync(path.resolve(__dirname, '../../docs/audit.md'), 'utf8');
    const rows = [...section.matchAll(/^\| `(\w+)` \| (.*) \|$/gm)].map((m) => [m[1], m[2]]);
    expect(rows.map(([f]) => f)).toEqual(AUDIT_FIELDS.map(([f]) => f));
    for (const [field, meaning] of AUDIT_FIELDS) expect(rows.find(([f]) => f === field)?.[1]).toBe(meaning);
  });
});

describe('metric-filter patterns (the local evaluator)', () => {
  const ev = (o: Record<string, unknown>) => ({ event: 'upload', result: 'ok', bytes: 5, ...o });
  it('counts what each filter should and nothing else', () => {
    expect(filterMatches(AUDIT_FILTERS.failedLogins.pattern, ev({ event: 'login-failed' }))).toBe(true);
    expect(filterMatches(AUDIT_FILTERS.failedLogins.pattern, ev({ event: 'login' }))).toBe(false);
    expect(filterMatches(AUDIT_FILTERS.transfers.pattern, ev({ event: 'download' }))).toBe(true);
    expect(filterMatches(AUDIT_FILTERS.transfers.pattern, ev({ event: 'upload', result: 'fail' }))).toBe(false);
    expect(filterMatches(AUDIT_FILTERS.transfers.pattern, ev({ event: 'delete' }))).toBe(false);
  });
  it('follows the documented syntax: wildcards, numbers, !=, and refuses what it does not know', () => {
    expect(filterMatches('{ $.path = "/files/*" }', { path: '/files/a' })).toBe(true);
    expect(filterMatches('{ $.bytes > 4 && $.user != "bob" }', { bytes: 5, user: 'alice' })).toBe(true);
    expect(filterMatches('{ $.bytes > 4 }', { bytes: '5' })).toBe(false);
    expect(() => parseFilterPattern('[ip, user]')).toThrow(/not a JSON filter pattern/);
    expect(() => parseFilterPattern('{ $.a IS TRUE }')).toThrow();
  });
});
