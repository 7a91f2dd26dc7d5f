/**
 * Crash recovery: remove everything a sandbox makes, from the state file it keeps and the names it
 * uses, whether or not a sandbox is running (`npm run sandbox -- --down`, and every test's start).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HEALTH_CHECK_USER } from '../lib/shared/contract';
import { killBootedUnder } from './boot/instance';
import { killByPattern, LOCAL_PREFIX } from './local-server';
import { removeUser } from './local-vsftpd';
import { deleteNamespace, listNamespaces, sh } from './netns';
import { DEMO_USER, HOST_IF, SANDBOX_PREFIX, STATE_FILE } from './topology';

/** What the state file records: host users and directories a running sandbox made. */
export interface StateRecord {
  users: string[];
  dirs: string[];
}

export function writeState(s: StateRecord): void {
  fs.writeFileSync(STATE_FILE, JSON.stringify(s));
}

/** Mount points a sandbox made under the temp directory, deepest first. */
function sandboxMounts(): string[] {
  const prefix = path.join(os.tmpdir(), `${SANDBOX_PREFIX}-`);
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m?.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/**
 * Remove everything a sandbox makes, whether or not one is running: namespaces (and every process
 * in them), the host veth, PAM files, users and directories. Safe to run twice. Returns what it removed.
 */
export function cleanupSandbox(): string[] {
  const removed: string[] = [];
  // Booted backends' processes (ProFTPD's are in a namespace of their own, not the backend's).
  const booted = killBootedUnder(path.join(os.tmpdir(), `${SANDBOX_PREFIX}-root-`));
  if (booted) removed.push(`${booted} booted backend processes`);
  for (const ns of listNamespaces().filter((n) => n.startsWith(SANDBOX_PREFIX))) {
    deleteNamespace(ns);
    removed.push(`namespace ${ns}`);
  }
  if (sh('ip', ['link', 'show', HOST_IF], { allowFail: true })) {
    sh('ip', ['link', 'delete', HOST_IF], { allowFail: true });
    removed.push(`link ${HOST_IF}`);
  }
  for (const f of fs.readdirSync('/etc/pam.d').filter((f) => f.startsWith(`${LOCAL_PREFIX}-sbx-`))) {
    fs.rmSync(path.join('/etc/pam.d', f), { force: true });
    removed.push(`/etc/pam.d/${f}`);
  }
  let state: StateRecord = { users: [DEMO_USER, HEALTH_CHECK_USER], dirs: [] };
  if (fs.existsSync(STATE_FILE)) {
    try {
      state = JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as StateRecord;
    } catch {
      /* a torn state file: fall back to the known names */
    }
  }
  for (const u of state.users) {
    try {
      execFileSync('id', ['-u', u], { stdio: 'ignore' });
      removeUser(u);
      removed.push(`user ${u}`);
    } catch {
      /* not there */
    }
  }
  // The instances' disks (a tmpfs per sandbox), then the directories that held them.
  for (const m of sandboxMounts()) {
    sh('umount', ['--lazy', m], { allowFail: true });
    removed.push(`mount ${m}`);
  }
  for (const d of state.dirs) {
    if (d.includes(SANDBOX_PREFIX) && fs.existsSync(d)) {
      fs.rmSync(d, { recursive: true, force: true });
      removed.push(d);
    }
  }
  fs.rmSync(STATE_FILE, { force: true });
  // Audit converters of backends whose run was killed (their --fifo is in an nlbftp-* directory).
  if (sh('pgrep', ['-f', 'nlb-ftp-audit.py --server .* --fifo [^ ]*/nlbftp-'], { allowFail: true })) {
    killByPattern('nlb-ftp-audit.py --server .* --fifo [^ ]*/nlbftp-');
    removed.push('audit converters');
  }
  return removed;
}
