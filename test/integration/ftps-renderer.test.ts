/**
 * FTPS as the renderer configures it, on Debian's real vsftpd: `required` refuses plain logins,
 * encrypts control and data, accepts only TLS 1.2 (1.3 when configured), and works with curl (EPSV
 * and PASV) and lftp; `optional` serves both. An upload must end with TLS close_notify: curl's,
 * lftp's and ftplib's do and land whole; a killed client's does not and is deleted. The sandbox test
 * runs the same through the emulated NLB.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FTPLIB_REUSING_TLS, killMidUpload, offeredDataPort, run } from '../../harness/ftp-clients';
import { requireTools } from '../../harness/prerequisites';
import { probeBackend } from '../../lambda/health-checker/probe';
import { leafFingerprint, parseCertificateSecret, verificationFor } from '../../lib/shared/certificate';
import type { FtpsMode } from '../../lib/shared/ftps';
import { LocalUsers, LocalVsftpd } from '../../sandbox/local-vsftpd';
import { selfSignedCert } from '../helpers/certs';

const USER = 'nlbftptls';
const PASS = 'Tls-Test-Password-9';
const ADDR: Record<Exclude<FtpsMode, 'off'> | 'tls13', string> = { required: '127.18.7.1', optional: '127.18.7.2', tls13: '127.18.7.4' };

describe('FTPS on real vsftpd', () => {
  let dir: string;
  let users: LocalUsers;
  let cert: ReturnType<typeof selfSignedCert>;
  const servers: LocalVsftpd[] = [];

  beforeAll(async () => {
    requireTools(['vsftpd', 'curl', 'lftp', 'openssl']);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-ftps-'));
    users = new LocalUsers(dir, { [USER]: PASS });
    users.apply();
    fs.writeFileSync(path.join(dir, 'users', USER, 'files', 'hello.txt'), 'hello over TLS\n');
    cert = selfSignedCert(dir, Object.values(ADDR));
    for (const [i, server] of (['required', 'optional', 'tls13'] as const).entries()) {
      const mode = server === 'tls13' ? 'required' : server;
      const v = new LocalVsftpd({
        slot: i,
        listenAddress: ADDR[server],
        pasvAddress: ADDR[server],
        pasvMinPort: 46000 + i * 4,
        pasvMaxPort: 46003 + i * 4,
        maxClients: 50,
        maxPerIp: 50,
        allowFile: users.allowFile,
        ftps: { mode, requireSslReuse: true, maxTlsVersion: server === 'tls13' ? '1.3' : '1.2' },
        tlsFiles: { certFile: cert.certFile, keyFile: cert.keyFile },
      });
      servers.push(v);
      await v.start();
    }
  });

  afterAll(async () => {
    for (const v of servers) await v.dispose();
    users?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const curlTls = (addr: string, extra: string[] = []) =>
    run('curl', [
      '-sS',
      '-v',
      '--max-time',
      '15',
      '--ssl-reqd',
      '--cacert',
      cert.certFile,
      ...extra,
      '-u',
      `${USER}:${PASS}`,
      `ftp://${addr}/hello.txt`,
    ]);

  it('required: 30 curl sessions over EPSV and PASV succeed, verified against the certificate, data protected', async () => {
    for (let i = 0; i < 30; i++) {
      const r = await curlTls(ADDR.required, i % 2 ? ['--disable-epsv'] : []);
      expect(r.code, r.stderr.slice(-400)).toBe(0);
      expect(r.stdout).toBe('hello over TLS\n');
      expect(r.stderr).toMatch(/> AUTH (TLS|SSL)\r?\n[\s\S]*< 234 /);
      expect(r.stderr).toMatch(/> PROT P/);
      expect(r.stderr).toMatch(/SSL connection using TLSv1\.2 \/ ECDHE-RSA-(AES\d+-GCM|CHACHA20)/);
      const port = offeredDataPort(r.stderr) as number;
      expect(port).toBeGreaterThanOrEqual(46000);
      expect(port).toBeLessThanOrEqual(46003);
    }
  });

  it('required: 30 lftp sessions with ssl-force and ssl-protect-data succeed', async () => {
    for (let i = 0; i < 30; i++) {
      const r = await run('lftp', [
        '-u',
        `${USER},${PASS}`,
        '-e',
        `set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:ca-file ${cert.certFile}; set net:max-retries 1; set net:timeout 10; cat hello.txt; bye`,
        ADDR.required,
      ]);
      expect(r.code, r.stderr.slice(-400)).toBe(0);
      expect(r.stdout).toBe('hello over TLS\n');
    }
  });

  it('required: refuses a plain login', async () => {
    const r = await run('curl', ['-sS', '-v', '--max-time', '10', '-u', `${USER}:${PASS}`, `ftp://${ADDR.required}/`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/530 Non-anonymous sessions must use encryption/);
  });

  it('required: refuses TLS 1.1 and older', async () => {
    const r = await curlTls(ADDR.required, ['--tls-max', '1.1']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
  });

  it('TLS 1.3 only when ftpsMaxTlsVersion is 1.3 (the default stops at 1.2)', async () => {
    const onDefault = await curlTls(ADDR.required, ['--tlsv1.3']);
    expect(onDefault.code).toBe(35); // handshake failure: the server offers no TLS 1.3
    const on13 = await curlTls(ADDR.tls13, ['--tlsv1.3']);
    expect(on13.code, on13.stderr.slice(-300)).toBe(0);
    expect(on13.stderr).toMatch(/SSL connection using TLSv1\.3/);
  });

  it('a client that does not trust the certificate fails the handshake', async () => {
    const r = await run('curl', ['-sS', '--max-time', '10', '--ssl-reqd', '-u', `${USER}:${PASS}`, `ftp://${ADDR.required}/`]);
    expect(r.code).toBe(60); // peer certificate cannot be authenticated with known CA certificates
  });

  describe('uploads: complete only with TLS close_notify (strict_ssl_read_eof, delete_failed_uploads)', () => {
    const files = () => path.join(dir, 'users', USER, 'files');
    const payload = randomBytes(3 * 1024 * 1024 + 7);
    let src: string;
    beforeAll(() => {
      src = path.join(dir, 'payload.bin');
      fs.writeFileSync(src, payload);
    });
    /** curl uploads the payload as `name` over FTPS. */
    const put = (name: string) =>
      run('curl', [
        '-sS',
        '--max-time',
        '30',
        '--ssl-reqd',
        '--cacert',
        cert.certFile,
        '-u',
        `${USER}:${PASS}`,
        '-T',
        src,
        `ftp://${ADDR.required}/${name}`,
      ]);

    it("curl's, lftp's and Python ftplib's uploads end with close_notify and land whole", async () => {
      const up = await put('by-curl.bin');
      expect(up.code, up.stderr).toBe(0);
      const lftp = await run('lftp', [
        '-u',
        `${USER},${PASS}`,
        '-e',
        `set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:ca-file ${cert.certFile}; set net:max-retries 1; set net:timeout 10; put ${src} -o by-lftp.bin; bye`,
        ADDR.required,
      ]);
      expect(lftp.code, lftp.stderr).toBe(0);
      const py = await run('/usr/bin/python3', [
        '-c',
        [
          'import ftplib, ssl, sys',
          'host, user, pw, ca, src = sys.argv[1:6]',
          ...FTPLIB_REUSING_TLS,
          'f = Reusing(context=ssl.create_default_context(cafile=ca), timeout=30)',
          'f.connect(host, 21); f.login(user, pw); f.prot_p()',
          'print(f.storbinary("STOR by-ftplib.bin", open(src, "rb")))',
          'f.quit()',
        ].join('\n'),
        ADDR.required,
        USER,
        PASS,
        cert.certFile,
        src,
      ]);
      expect(py.code, py.stderr).toBe(0);
      expect(py.stdout).toMatch(/^226 /);
      for (const name of ['by-curl.bin', 'by-lftp.bin', 'by-ftplib.bin']) {
        expect(fs.readFileSync(path.join(files(), name)).equals(payload), name).toBe(true);
      }
    });

    /** ftplib sends 2 MiB of a STOR, then ends the data connection as `how` says, and prints the reply. */
    const cutWith = (name: string, how: 'bare-fin' | 'reset') =>
      run('/usr/bin/python3', [
        '-c',
        [
          'import ftplib, os, socket, ssl, struct, sys',
          'host, user, pw, ca, name, how = sys.argv[1:7]',
          ...FTPLIB_REUSING_TLS,
          'f = Reusing(context=ssl.create_default_context(cafile=ca), timeout=30)',
          'f.connect(host, 21); f.login(user, pw); f.prot_p()',
          'conn = f.transfercmd("STOR " + name)',
          'for _ in range(32): conn.sendall(os.urandom(65536))',
          'if how == "reset": conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))',
          // SSLSocket.shutdown ends TCP without TLS close_notify, as a killed client's kernel does.
          'else: conn.shutdown(socket.SHUT_RDWR)',
          'conn.close()',
          'try: print(f.getresp())',
          'except ftplib.Error as e: print(e)',
        ].join('\n'),
        ADDR.required,
        USER,
        PASS,
        cert.certFile,
        name,
        how,
      ]);

    it('an upload whose TLS ends without close_notify is refused (426) and deleted; so is one whose connection is reset', async () => {
      const bare = await cutWith('bare-fin.bin', 'bare-fin');
      expect(bare.code, bare.stderr).toBe(0);
      expect(bare.stdout).toMatch(/^426 Failure reading network stream/);
      const reset = await cutWith('reset.bin', 'reset');
      expect(reset.code, reset.stderr).toBe(0);
      console.log(`[vsftpd cut] bare FIN: ${bare.stdout.trim()}; reset: ${reset.stdout.trim()}`);
      expect(reset.stdout).toMatch(/^4\d\d /);
      await new Promise((r) => setTimeout(r, 500));
      expect(fs.readdirSync(files()).filter((f) => f === 'bare-fin.bin' || f === 'reset.bin')).toEqual([]);
    });

    it("a killed client's upload (no close_notify) fails and is deleted; a retry lands whole", async () => {
      const name = 'killed.bin';
      const { during, after } = await killMidUpload(
        [
          'curl',
          '-sS',
          '--ssl-reqd',
          '--cacert',
          cert.certFile,
          '--limit-rate',
          '256K',
          '-u',
          `${USER}:${PASS}`,
          '-T',
          src,
          `ftp://${ADDR.required}/${name}`,
        ],
        files(),
        name,
      );
      const seen = during.get(name) ?? 0;
      const gone = !after.includes(name);
      console.log(`[vsftpd kill] ${seen} bytes under its name while uploading; after the kill: ${gone ? 'deleted' : 'still there'}`);
      expect(seen).toBeGreaterThan(0);
      expect(seen).toBeLessThan(payload.length);
      expect(gone).toBe(true);
      const retry = await put(name);
      expect(retry.code, retry.stderr).toBe(0);
      expect(fs.readFileSync(path.join(files(), name)).equals(payload)).toBe(true);
    });
  });

  it('optional: plain FTP and FTPS both work', async () => {
    const plain = await run('curl', ['-sS', '--max-time', '10', '-u', `${USER}:${PASS}`, `ftp://${ADDR.optional}/hello.txt`]);
    expect(plain.code, plain.stderr).toBe(0);
    const tls = await curlTls(ADDR.optional);
    expect(tls.code, tls.stderr.slice(-300)).toBe(0);
    expect(tls.stdout).toBe('hello over TLS\n');
  });
});

describe('the health checker probe over FTPS', () => {
  let dir: string;
  let users: LocalUsers;
  let cert: ReturnType<typeof selfSignedCert>;
  let other: ReturnType<typeof selfSignedCert>;
  let server: LocalVsftpd;
  const opts = () => ({ stepTimeoutMs: 4500, tls: { ca: cert.pem } });

  beforeAll(async () => {
    requireTools(['vsftpd', 'openssl']);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-ftps-probe-'));
    users = new LocalUsers(dir, { [USER]: PASS });
    users.apply();
    cert = selfSignedCert(dir, ['127.18.7.3']);
    other = selfSignedCert(dir, ['127.18.7.3'], 'impostor');
    server = new LocalVsftpd({
      slot: 0,
      listenAddress: '127.18.7.3',
      pasvAddress: '127.18.7.3',
      pasvMinPort: 46010,
      pasvMaxPort: 46013,
      maxClients: 50,
      maxPerIp: 50,
      allowFile: users.allowFile,
      ftps: { mode: 'required', requireSslReuse: true },
      tlsFiles: { certFile: cert.certFile, keyFile: cert.keyFile },
    });
    await server.start();
  });

  afterAll(async () => {
    await server?.dispose();
    users?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('passes with AUTH TLS, PBSZ/PROT P and a protected EPSV listing (session reuse required)', async () => {
    const r = await probeBackend({ slot: 0, host: '127.18.7.3' }, { username: USER, password: PASS }, opts());
    expect(r).toMatchObject({ ok: true, step: 'quit' });
  });

  it('classifies a certificate that does not match the stored one as a tls failure', async () => {
    const r = await probeBackend(
      { slot: 0, host: '127.18.7.3' },
      { username: USER, password: PASS },
      { stepTimeoutMs: 4500, tls: { ca: other.pem } },
    );
    expect(r).toMatchObject({ ok: false, step: 'tls', errorClass: 'tls' });
  });

  it('verifies against the certificate secret as the checker reads it: chain and pinned leaf', async () => {
    const secret = parseCertificateSecret(JSON.stringify({ certificate: cert.pem, privateKey: fs.readFileSync(cert.keyFile, 'utf8') }));
    const good = await probeBackend(
      { slot: 0, host: '127.18.7.3' },
      { username: USER, password: PASS },
      {
        stepTimeoutMs: 4500,
        tls: verificationFor(secret),
      },
    );
    expect(good).toMatchObject({ ok: true, step: 'quit' });
    // Trusted chain, but not the stored leaf (a backend still serving an old certificate).
    const stale = await probeBackend(
      { slot: 0, host: '127.18.7.3' },
      { username: USER, password: PASS },
      {
        stepTimeoutMs: 4500,
        tls: { ca: cert.pem, fingerprint256: leafFingerprint(other.pem) },
      },
    );
    expect(stale).toMatchObject({ ok: false, step: 'tls', errorClass: 'tls' });
    expect(stale.detail).toMatch(/not the stored certificate/);
  });

  it('classifies a wrong password as auth', async () => {
    const r = await probeBackend({ slot: 0, host: '127.18.7.3' }, { username: USER, password: 'wrong-password' }, opts());
    expect(r).toMatchObject({ ok: false, step: 'auth', errorClass: 'auth' });
  });

  it('a plain-FTP probe is refused by a server that requires FTPS', async () => {
    const r = await probeBackend({ slot: 0, host: '127.18.7.3' }, { username: USER, password: PASS }, { stepTimeoutMs: 4500 });
    expect(r).toMatchObject({ ok: false, step: 'auth', errorClass: 'auth' });
    expect(r.detail).toMatch(/^530/);
  });
});
