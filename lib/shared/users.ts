/**
 * FTP user names that are never FTP users: root, the health-check account, every account of a
 * booted backend, and the system accounts an Amazon Linux 2023 image has. Config refuses them; the backends' user
 * sync skips them, and also skips any existing account that it did not create itself (a UID
 * other than the user's stable one), so an account added to the image later is protected too.
 */
import { HEALTH_CHECK_USER } from './contract';

/**
 * Every account and group of a booted backend (vsftpd and ProFTPD, Debian 13 with the boot's
 * packages: rpcbind adds _rpc, nfs-common statd, stunnel4 its own), read from /etc/passwd and
 * /etc/group of sandbox-booted backends on 2026-12-06. test/integration/sandbox-one-backend.test.ts
 * boots one of each server and fails when an account there is not refused: a package that adds an
 * account turns it red.
 */
export const BOOTED_BACKEND_ACCOUNTS: readonly string[] = [
  '_apt',
  '_rpc',
  'adm',
  'audio',
  'backup',
  'bin',
  'cdrom',
  'daemon',
  'dialout',
  'dip',
  'disk',
  'fax',
  'floppy',
  'ftp',
  'games',
  'irc',
  'kmem',
  'list',
  'lp',
  'mail',
  'man',
  'news',
  'nobody',
  'nogroup',
  'operator',
  'plugdev',
  'proftpd',
  'proxy',
  'sasl',
  'shadow',
  'src',
  'staff',
  'statd',
  'stunnel4',
  'sudo',
  'sync',
  'sys',
  'systemd-journal',
  'systemd-network',
  'tape',
  'tty',
  'users',
  'utmp',
  'uucp',
  'video',
  'voice',
  'www-data',
];

/**
 * Accounts that production backends have and the sandbox's do not: Debian's AMI user (cloud-init
 * makes `admin`), the CloudWatch agent's (its preinst adds `cwagent`; the sandbox's stand-in
 * package does not) and the SSM agent's (`ssm-user`, made at the first session).
 */
export const PRODUCTION_ONLY_ACCOUNTS: readonly string[] = ['admin', 'cwagent', 'ssm-user'];

export const RESERVED_USER_NAMES: readonly string[] = [
  ...new Set([
    'root',
    HEALTH_CHECK_USER,
    ...BOOTED_BACKEND_ACCOUNTS,
    ...PRODUCTION_ONLY_ACCOUNTS,
    // Accounts of the AL2023 image and its packages (UID < 1000, plus ec2-user and ssm-user).
    'bin',
    'daemon',
    'adm',
    'lp',
    'sync',
    'shutdown',
    'halt',
    'mail',
    'operator',
    'games',
    'ftp',
    'nobody',
    'dbus',
    'tss',
    'sshd',
    'chrony',
    'rpc',
    'rpcuser',
    'libstoragemgmt',
    'ec2-instance-connect',
    'ec2-user',
    'ssm-user',
    'apache',
    'postfix',
    'vsftpd',
    'proftpd',
    // Debian's (the local sandbox and tests run there).
    'sys',
    'man',
    'news',
    'uucp',
    'proxy',
    'www-data',
    'backup',
    'list',
    'irc',
    'gnats',
    '_apt',
    'messagebus',
    // Ubuntu 24.04's (the ProFTPD backends) and Debian's cloud images' default and service accounts.
    'ubuntu',
    'admin',
    'lxd',
    'pollinate',
    'syslog',
    'uuidd',
    'tcpdump',
    'landscape',
    'fwupd-refresh',
    'usbmux',
    'dnsmasq',
    'polkitd',
    'statd',
    '_chrony',
    'stunnel4',
    // Groups of those images: groupadd refuses a name that exists as a group (exit 9), which would
    // stop the users sync, so a user may not be named after one either.
    'users',
    'wheel',
    'video',
    'audio',
    'staff',
    'sudo',
    'dialout',
    'cdrom',
    'floppy',
    'tape',
    'disk',
    'kmem',
    'mem',
    'tty',
    'utmp',
    'voice',
    'plugdev',
    'netdev',
    'input',
    'kvm',
    'render',
    'sgx',
    'src',
    'shadow',
    'sasl',
    'dip',
    'fax',
    'lock',
    'nogroup',
    'crontab',
    'ssh',
    '_ssh',
    'ssh_keys',
    'utempter',
    'cgred',
  ]),
];

/** Prefixes of system accounts created by packages (systemd-resolve, systemd-network...). */
export const RESERVED_USER_PREFIXES: readonly string[] = ['systemd-', 'nlbftp-'];

/** Why a name may not be an FTP user, or undefined when it may. */
export function reservedUserReason(name: string): string | undefined {
  if (name === HEALTH_CHECK_USER) return 'is the health-check account, whose password the stack manages';
  if (RESERVED_USER_NAMES.includes(name)) return 'is a system account on the backends; FTP users must be new accounts';
  const prefix = RESERVED_USER_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) return `starts with "${prefix}", which is reserved for system and nlb-ftp accounts`;
  return undefined;
}
