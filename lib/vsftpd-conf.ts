/**
 * Renders vsftpd.conf and its PAM service for one backend slot. Pure; no aws-cdk-lib import.
 *
 * The same output runs on Amazon Linux 2023 (EC2) and on Debian's vsftpd (tests, local sandbox).
 * Only paths and addresses may differ between the two, and they are the `paths` and
 * `listenAddress` inputs; every behaviour-bearing option is fixed here.
 */

/** Filesystem locations; the defaults are Amazon Linux 2023's. The sandbox substitutes its own. */
export interface VsftpdPaths {
  /** Empty, root-owned directory vsftpd chroots its unprivileged helper into. */
  readonly secureChrootDir: string;
  /** PAM service name, i.e. the file under /etc/pam.d. */
  readonly pamServiceName: string;
  /** vsftpd's own transfer log (never contains passwords). */
  readonly logFile: string;
  /** PEM certificate (chain) for FTPS, mode 0644. */
  readonly certFile?: string;
  /** PEM private key for FTPS, mode 0600, readable by root only. */
  readonly keyFile?: string;
}

export const EC2_VSFTPD_PATHS: VsftpdPaths = {
  secureChrootDir: '/usr/share/empty',
  pamServiceName: 'nlb-ftp',
  logFile: '/var/log/vsftpd.log',
  certFile: '/etc/vsftpd/nlb-ftp.crt',
  keyFile: '/etc/vsftpd/nlb-ftp.key',
};

export type FtpsMode = 'off' | 'optional' | 'required';

/** Explicit FTPS (AUTH TLS on port 21). The NLB passes it through untouched. */
export interface FtpsSettings {
  readonly mode: FtpsMode;
  /**
   * Refuse data connections that do not resume the control connection's TLS session (vsftpd's
   * default). Safer: a data connection cannot be hijacked by another TLS client. Some clients
   * fail with `522` and need it off.
   */
  readonly requireSslReuse: boolean;
}

/**
 * TLS 1.2 ciphers: ECDHE key exchange with AEAD only. A TLS 1.0/1.1 client has none of these, so
 * it cannot connect; TLS 1.3 suites are negotiated separately and are all strong.
 */
export const FTPS_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

function ftpsLines(ftps: FtpsSettings | undefined, paths: VsftpdPaths): Array<[string, string | number, string?]> {
  if (!ftps || ftps.mode === 'off') return [['ssl_enable', 'NO', 'plain FTP only: passwords travel in clear text']];
  if (!paths.certFile || !paths.keyFile) throw new Error('FTPS needs certFile and keyFile paths');
  const required = ftps.mode === 'required' ? 'YES' : 'NO';
  return [
    ['ssl_enable', 'YES', `FTPS ${ftps.mode}: explicit AUTH TLS on port 21`],
    ['rsa_cert_file', paths.certFile],
    ['rsa_private_key_file', paths.keyFile],
    ['allow_anon_ssl', 'NO'],
    ['force_local_logins_ssl', required],
    ['force_local_data_ssl', required],
    ['ssl_sslv2', 'NO'],
    ['ssl_sslv3', 'NO'],
    ['ssl_tlsv1', 'YES'],
    ['ssl_ciphers', FTPS_CIPHERS, 'TLS 1.2+ only: ECDHE with AEAD ciphers'],
    ['require_ssl_reuse', ftps.requireSslReuse ? 'YES' : 'NO'],
    ['ssl_request_cert', 'NO'],
  ];
}

export interface VsftpdSlotSettings {
  readonly slot: number;
  /** IPv4 put in PASV (227) replies: the NLB's static IP in this backend's AZ. EPSV does not use it. */
  readonly pasvAddress: string;
  readonly pasvMinPort: number;
  readonly pasvMaxPort: number;
  readonly maxClients: number;
  readonly maxPerIp: number;
  /** Address to bind port 21 to; unset binds all addresses (EC2). */
  readonly listenAddress?: string;
  readonly paths?: VsftpdPaths;
  /** Unset or mode `off`: plain FTP. */
  readonly ftps?: FtpsSettings;
}

/** The banner names the slot, so tests (and operators) can tell which backend answered. */
export function bannerFor(slot: number): string {
  return `nlb-ftp backend slot ${slot} ready`;
}

export function renderVsftpdConf(s: VsftpdSlotSettings): string {
  const paths = s.paths ?? EC2_VSFTPD_PATHS;
  if (!/^[a-z0-9._-]+$/.test(paths.pamServiceName)) {
    // PAM lower-cases service names when it looks for /etc/pam.d/NAME; anything else silently
    // falls back to /etc/pam.d/other, bypassing the FTP user allow-list.
    throw new Error(`pamServiceName ${JSON.stringify(paths.pamServiceName)} must be lower-case letters, digits, '.', '_' or '-'`);
  }
  const lines: Array<[string, string | number, string?]> = [
    // Standalone, IPv4, in the foreground: systemd (EC2) or the sandbox supervises the process.
    ['listen', 'YES'],
    ['listen_ipv6', 'NO'],
    ['background', 'NO'],
    ['listen_port', 21],
    ...(s.listenAddress ? ([['listen_address', s.listenAddress]] as Array<[string, string]>) : []),
    // Users: only named local accounts (from Secrets Manager), each jailed in its own directory.
    ['anonymous_enable', 'NO', 'no anonymous FTP, ever'],
    ['local_enable', 'YES'],
    ['write_enable', 'YES'],
    ['local_umask', '027'],
    ['chroot_local_user', 'YES', 'every user is jailed'],
    // Home is /srv/ftp/users/NAME/./files: the jail is the root-owned NAME/ and the session starts in the
    // user's writable files/. A jail the user can write to is refused by vsftpd, for good reason.
    ['passwd_chroot_enable', 'YES'],
    ['allow_writeable_chroot', 'NO'],
    ['hide_ids', 'YES'],
    ['ls_recurse_enable', 'NO'],
    ['pam_service_name', paths.pamServiceName, 'PAM allows only listed FTP users'],
    ['secure_chroot_dir', paths.secureChrootDir],
    // Password guessing: slow each failure and drop the session after a few. Measured on Debian's
    // vsftpd 3.0.3, a failed login then answers 530 after ~3 s, inside the checker's 5 s deadline.
    ['max_login_fails', 3],
    ['delay_failed_login', 1],
    // Active mode cannot pass an NLB (the backend would connect out to the client); refuse PORT/EPRT.
    ['port_enable', 'NO', 'active mode cannot work through an NLB'],
    ['connect_from_port_20', 'NO'],
    // Passive mode: this slot's own range, advertised at the NLB's public address.
    ['pasv_enable', 'YES'],
    ['pasv_address', s.pasvAddress, "the NLB's static IP in this backend's AZ"],
    ['pasv_addr_resolve', 'NO'],
    ['pasv_min_port', s.pasvMinPort],
    ['pasv_max_port', s.pasvMaxPort],
    // The data connection must come from the control connection's IP. The NLB preserves client IPs
    // for instance targets, so this check holds and stops data-connection theft.
    ['pasv_promiscuous', 'NO', 'data connections must come from the client of the control connection'],
    ['max_clients', s.maxClients],
    ['max_per_ip', s.maxPerIp],
    ['ftpd_banner', bannerFor(s.slot)],
    ['idle_session_timeout', 300],
    ['data_connection_timeout', 300],
    ['accept_timeout', 60],
    // Logging: transfers only. The protocol log could hold sensitive commands; keep it off.
    ['xferlog_enable', 'YES'],
    ['xferlog_std_format', 'NO'],
    ['vsftpd_log_file', paths.logFile],
    ['log_ftp_protocol', 'NO'],
    ['syslog_enable', 'NO'],
    ['utf8_filesystem', 'YES'],
    // vsftpd 3.0.x's seccomp filter kills sessions on newer kernels/glibc ("500 OOPS: prctl
    // PR_SET_SECCOMP failed"); privilege separation, chroot and no-new-privs still apply.
    ['seccomp_sandbox', 'NO'],
    ['tcp_wrappers', 'NO'],
    ...ftpsLines(s.ftps, paths),
  ];
  const body = lines.map(([k, v, why]) => (why ? `# ${why}\n${k}=${v}` : `${k}=${v}`)).join('\n');
  return `# vsftpd.conf for nlb-ftp backend slot ${s.slot}. Generated by nlb-ftp; edits are lost on redeploy.\n${body}\n`;
}

/**
 * PAM service for vsftpd: a user may log in only if listed in `allowFile` (the users from the
 * secrets), with the local password. System accounts (root, ec2-user) can never log in over FTP.
 */
export function renderPamService(allowFile: string): string {
  return [
    '# PAM service for nlb-ftp vsftpd. Generated by nlb-ftp.',
    `auth     required  pam_listfile.so item=user sense=allow file=${allowFile} onerr=fail`,
    // vsftpd's delay_failed_login already slows guessing; pam_unix's own 2 s delay would double it.
    'auth     required  pam_unix.so nodelay',
    'account  required  pam_unix.so',
    'session  required  pam_unix.so',
    '',
  ].join('\n');
}
