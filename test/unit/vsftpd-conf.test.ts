import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  APPLY_USERS_SCRIPT,
  readBootSettings,
  renderUserData,
  SCRIPTS_DIR,
  settingsFile,
  withoutComments,
} from '../../lib/backend/user-data';
import { renderPamService, renderVsftpdConf } from '../../lib/backend/vsftpd-conf';
import { bannerFor } from '../../lib/shared/names';

const settings = { slot: 2, pasvAddress: '203.0.113.10', pasvMinPort: 40016, pasvMaxPort: 40023, maxClients: 200, maxPerIp: 20 };

function options(conf: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of conf.split('\n')) {
    if (line.startsWith('#') || !line.includes('=')) continue;
    const [k, ...v] = line.split('=');
    expect(m.has(k), `option ${k} set twice`).toBe(false);
    m.set(k, v.join('='));
  }
  return m;
}

describe('vsftpd.conf renderer', () => {
  const o = options(renderVsftpdConf(settings));

  it('advertises the NLB address and only this slot range', () => {
    expect(o.get('pasv_address')).toBe('203.0.113.10');
    expect(o.get('pasv_min_port')).toBe('40016');
    expect(o.get('pasv_max_port')).toBe('40023');
    expect(o.get('pasv_addr_resolve')).toBe('NO');
  });

  it('is secure by default', () => {
    expect(o.get('anonymous_enable')).toBe('NO');
    expect(o.get('chroot_local_user')).toBe('YES');
    expect(o.get('allow_writeable_chroot')).toBe('NO');
    expect(o.get('port_enable')).toBe('NO');
    expect(o.get('pasv_promiscuous')).toBe('NO');
    expect(o.get('log_ftp_protocol')).toBe('NO');
    expect(Number(o.get('max_per_ip'))).toBe(20);
    expect(Number(o.get('max_clients'))).toBe(200);
    expect(Number(o.get('max_login_fails'))).toBeGreaterThan(0);
    expect(Number(o.get('delay_failed_login'))).toBeGreaterThan(0);
    expect(o.get('ls_recurse_enable')).toBe('NO');
  });

  it('names the slot in the banner', () => {
    expect(o.get('ftpd_banner')).toBe(bannerFor(2));
  });

  it('binds all addresses on EC2 and a given address in the sandbox', () => {
    expect(o.has('listen_address')).toBe(false);
    expect(options(renderVsftpdConf({ ...settings, listenAddress: '198.18.1.2' })).get('listen_address')).toBe('198.18.1.2');
  });

  it('changes only paths and addresses when the sandbox substitutes them', () => {
    const ec2 = options(renderVsftpdConf(settings));
    const local = options(
      renderVsftpdConf({
        ...settings,
        listenAddress: '127.0.0.2',
        paths: { secureChrootDir: '/tmp/x/empty', pamServiceName: 'nlbftp-t', logFile: '/tmp/x/log' },
      }),
    );
    const differing = [...new Set([...ec2.keys(), ...local.keys()])].filter((k) => ec2.get(k) !== local.get(k)).sort();
    expect(differing).toEqual(['listen_address', 'pam_service_name', 'secure_chroot_dir', 'vsftpd_log_file']);
  });
});

describe('PAM service', () => {
  it('refuses a service name PAM would not find (PAM lower-cases names)', () => {
    expect(() =>
      renderVsftpdConf({ ...settings, paths: { secureChrootDir: '/x', pamServiceName: 'nlbftp-AbC', logFile: '/x/log' } }),
    ).toThrow(/must be lower-case/);
  });

  it('allows only listed users, with the local password', () => {
    const pam = renderPamService('/etc/vsftpd/nlb-ftp.users');
    expect(pam).toMatch(/^auth\s+required\s+pam_listfile\.so item=user sense=allow file=\/etc\/vsftpd\/nlb-ftp\.users onerr=fail$/m);
    expect(pam).toMatch(/^auth\s+required\s+pam_unix\.so nodelay$/m);
  });
});

describe('user data and boot scripts', () => {
  const userData = renderUserData(
    {
      ftp: settings,
      region: 'eu-west-1',
      urlSuffix: 'amazonaws.com',
      fileSystemId: 'fs-0123456789abcdef0',
      usersSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:users-AbCdEf',
      healthSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:health-AbCdEf',
      keepaliveSeconds: 60,
      bundle: { bucket: 'assets-bucket', key: 'scripts.zip' },
    },
    'vsftpd',
  );
  const read = (name: string) => fs.readFileSync(path.join(SCRIPTS_DIR, name), 'utf8');
  const settingsOf = readBootSettings(userData);

  it('is bootstrap.sh byte for byte but for its settings line, which carries the rendered vsftpd.conf unchanged', () => {
    expect(settingsFile(settingsOf, 'server-conf').text).toBe(withoutComments(renderVsftpdConf(settings)));
    const settingsLine = JSON.stringify(settingsOf);
    expect(userData.split('\n').filter((l) => l === settingsLine)).toHaveLength(1);
    expect(userData.replace(settingsLine, '{}')).toBe(read('bootstrap.sh'));
  });

  it('sets the keepalive sysctl, mounts EFS with retries and waits for it before vsftpd', () => {
    expect(settingsFile(settingsOf, 'host-sysctl').text).toContain('net.ipv4.tcp_keepalive_time = 60');
    expect(settingsFile(settingsOf, 'stunnel').text).toContain('connect = fs-0123456789abcdef0.efs.eu-west-1.amazonaws.com:2049');
    expect(settingsOf.env.FSTAB_LINE).toMatch(/^127\.0\.0\.1:\/ \/srv\/ftp nfs4 nfsvers=4\.1,port=20049,.*,_netdev,nofail,/);
    expect(read('boot.sh')).toMatch(/for attempt in \$\(seq 1 30\)/);
    expect(read('units/vsftpd.service.d/nlb-ftp.conf')).toContain('RequiresMountsFor=/srv/ftp');
  });

  it('never traces commands and never holds a password', () => {
    for (const text of [
      userData,
      ...fs
        .readdirSync(SCRIPTS_DIR)
        .filter((f) => f.endsWith('.sh'))
        .map(read),
    ]) {
      expect(text).not.toMatch(/set -[a-z]*x/);
      expect(text).not.toMatch(/password\s*[:=]\s*\S{8,}/i);
    }
    expect(fs.readFileSync(APPLY_USERS_SCRIPT, 'utf8')).not.toMatch(/echo[^\n]*\$pass/);
  });
});

describe('FTPS rendering', () => {
  const render = (mode: 'off' | 'optional' | 'required', requireSslReuse = true) =>
    options(renderVsftpdConf({ ...settings, ftps: { mode, requireSslReuse } }));

  it('off: no TLS at all', () => {
    const o = render('off');
    expect(o.get('ssl_enable')).toBe('NO');
    expect(o.has('rsa_cert_file')).toBe(false);
  });

  it('optional: TLS offered, plain logins and data still allowed', () => {
    const o = render('optional');
    expect(o.get('ssl_enable')).toBe('YES');
    expect(o.get('force_local_logins_ssl')).toBe('NO');
    expect(o.get('force_local_data_ssl')).toBe('NO');
  });

  it('required: plain logins and data refused, TLS 1.2+ with strong ciphers, certificate from the EC2 paths', () => {
    const o = render('required');
    expect(o.get('force_local_logins_ssl')).toBe('YES');
    expect(o.get('force_local_data_ssl')).toBe('YES');
    expect(o.get('allow_anon_ssl')).toBe('NO');
    expect(o.get('ssl_sslv2')).toBe('NO');
    expect(o.get('ssl_sslv3')).toBe('NO');
    for (const c of String(o.get('ssl_ciphers')).split(':')) expect(c).toMatch(/^ECDHE-(RSA|ECDSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
    expect(o.get('rsa_cert_file')).toBe('/etc/vsftpd/nlb-ftp.crt');
    expect(o.get('rsa_private_key_file')).toBe('/etc/vsftpd/nlb-ftp.key');
  });

  it('exposes require_ssl_reuse, on by default in callers', () => {
    expect(render('required').get('require_ssl_reuse')).toBe('YES');
    expect(render('required', false).get('require_ssl_reuse')).toBe('NO');
  });

  it('an FTPS upload must end with close_notify, and a failed upload is deleted (docs/users.md)', () => {
    for (const mode of ['optional', 'required'] as const) expect(render(mode).get('strict_ssl_read_eof')).toBe('YES');
    expect(render('off').has('strict_ssl_read_eof')).toBe(false);
    for (const mode of ['off', 'optional', 'required'] as const) expect(render(mode).get('delete_failed_uploads')).toBe('YES');
  });

  it('refuses FTPS without certificate paths', () => {
    expect(() =>
      renderVsftpdConf({
        ...settings,
        ftps: { mode: 'required', requireSslReuse: true },
        paths: { secureChrootDir: '/x', pamServiceName: 'p', logFile: '/l' },
      }),
    ).toThrow(/certFile and keyFile/);
  });
});
