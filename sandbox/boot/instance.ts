/**
 * One booted backend: an "EC2 instance" whose disk is an overlay (in memory) on the cached Debian 13 root,
 * whose network is the backend's namespace, and whose first boot runs the launch template's user
 * data byte for byte as cloud-init does (saved at /var/lib/cloud/instance/user-data.txt, run by
 * bash as root). What stands in for AWS or the EC2 host, and only that:
 * - IMDS: 169.254.169.254:80 in the namespace goes to the sandbox's IMDSv2 stand-in (sandbox/boot/imds.ts);
 * - the AWS APIs: AWS_ENDPOINT_URL in the boot's environment, which the AWS CLI v2 honours;
 * - EFS: the sandbox's shared directory bound at /srv/ftp before the boot (the boot finds it mounted);
 * - Debian's mirror: the cached archive of the same packages, as the only apt source;
 * - systemd: sandbox/boot/systemctl.py at /usr/local/sbin/systemctl.
 * Everything of the instance lives in a private mount namespace: when its last process dies the
 * overlay, its mounts and ProFTPD's inner network namespace go with it.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ARCHIVE_MOUNT, ARCHIVE_SOURCE, type DebianRoot } from './root';

/** Where cloud-init keeps the user data it runs. */
export const USER_DATA_FILE = '/var/lib/cloud/instance/user-data.txt';
export const BOOT_LOG = '/var/log/nlb-ftp-boot.log';
const SYSTEMCTL_STAND_IN = path.join(__dirname, 'systemctl.py');
/** The stand-in systemctl's state: the main PID of each service it runs. */
const SYSTEMCTL_STATE = '/run/nlb-ftp-sandbox/systemctl';

export interface BootedInstanceOptions {
  readonly root: DebianRoot;
  /** The user data as EC2 hands it to the instance (CloudFormation tokens resolved). */
  readonly userData: string;
  /** The backend's network namespace (the instance's network). */
  readonly namespace: string;
  /** A fresh directory for this instance's disk (overlay upper and work directories). */
  readonly workDir: string;
  /** The shared directory bound at /srv/ftp: EFS's stand-in. */
  readonly efsDir: string;
  readonly endpointUrl: string;
  /** Another archive than the root's (a drill's broken mirror). */
  readonly archive?: string;
}

export interface BootStep {
  /** The boot's own step label, e.g. "2/7 packages: ...". */
  readonly step: string;
  /** Seconds since the boot started, as the boot's log() printed them. */
  readonly at: number;
}

export interface BootResult {
  readonly exitCode: number;
  readonly ms: number;
  readonly steps: readonly BootStep[];
  /** The boot's own log (what /var/log/nlb-ftp-boot.log holds). */
  readonly log: string;
}

export class BootedInstance {
  readonly merged: string;
  private readonly upper: string;
  private readonly work: string;

  constructor(private readonly o: BootedInstanceOptions) {
    this.upper = path.join(o.workDir, 'upper');
    this.work = path.join(o.workDir, 'work');
    this.merged = path.join(o.workDir, 'merged');
    for (const d of [this.upper, this.work, this.merged]) fs.mkdirSync(d, { recursive: true });
  }

  /** Write a file onto the instance's disk before it boots (into the overlay's upper layer). */
  private seed(file: string, text: string, mode: number): void {
    const parts = file.split('/').filter(Boolean);
    let dir = this.upper;
    for (const part of parts.slice(0, -1)) {
      dir = path.join(dir, part);
      if (!fs.existsSync(dir)) {
        const lower = fs.statSync(path.join(this.o.root.root, path.relative(this.upper, dir)), { throwIfNoEntry: false });
        fs.mkdirSync(dir, { mode: lower ? lower.mode & 0o7777 : 0o755 });
        fs.chmodSync(dir, lower ? lower.mode & 0o7777 : 0o755);
      }
    }
    fs.writeFileSync(path.join(this.upper, file), text, { mode });
    fs.chmodSync(path.join(this.upper, file), mode);
  }

  /** Run the user data to its end (its readiness report included); `onLine` sees the boot's output. */
  boot(onLine: (line: string) => void = () => undefined): Promise<BootResult> {
    this.seed(USER_DATA_FILE, this.o.userData, 0o700);
    this.seed('/etc/apt/sources.list', `# nlb-ftp sandbox: the cached archive stands in for Debian's mirror\n${ARCHIVE_SOURCE}\n`, 0o644);
    this.seed('/usr/local/sbin/systemctl', fs.readFileSync(SYSTEMCTL_STAND_IN, 'utf8'), 0o755);
    const m = this.merged;
    const setup = [
      'set -e',
      `mount -t overlay overlay -o lowerdir='${this.o.root.root}',upperdir='${this.upper}',workdir='${this.work}' '${m}'`,
      `mount -t proc proc '${m}/proc'`,
      `mount -t sysfs sysfs '${m}/sys'`,
      `mount --rbind /dev '${m}/dev'`,
      `mount -t tmpfs -o mode=0755 tmpfs '${m}/run'`,
      `mkdir -p '${m}/srv/ftp' '${m}${ARCHIVE_MOUNT}'`,
      `mount --bind '${this.o.efsDir}' '${m}/srv/ftp'`,
      `mount --bind '${this.o.archive ?? this.o.root.archive}' '${m}${ARCHIVE_MOUNT}'`,
      `mount -o remount,bind,ro '${m}${ARCHIVE_MOUNT}'`,
      `exec chroot '${m}' /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 AWS_ENDPOINT_URL='${this.o.endpointUrl}' /bin/bash ${USER_DATA_FILE}`,
    ].join('\n');
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', this.o.namespace, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', setup], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      let buf = '';
      const onData = (d: Buffer) => {
        log += d;
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      };
      p.stdout.on('data', onData);
      p.stderr.on('data', onData);
      p.on('error', reject);
      p.on('close', (code) => {
        const steps = [...log.matchAll(/^nlb-ftp slot \d+ boot \(\+(\d+)s\): (\d\/7 [^\n]*)$/gm)].map((x) => ({
          step: x[2],
          at: Number(x[1]),
        }));
        resolve({ exitCode: code ?? -1, ms: Date.now() - started, steps, log });
      });
    });
  }

  /** Every process running from this instance's root (its /proc/PID/root is the overlay). */
  pids(): number[] {
    const out: number[] = [];
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (fs.readlinkSync(`/proc/${entry}/root`) === this.merged) out.push(Number(entry));
      } catch {
        /* gone, or a kernel thread */
      }
    }
    return out;
  }

  /** A file as the instance sees it (through one of its processes), or undefined. */
  read(file: string): string | undefined {
    for (const pid of this.pids()) {
      try {
        return fs.readFileSync(`/proc/${pid}/root${file}`, 'utf8');
      } catch {
        /* try the next process */
      }
    }
    const upper = path.join(this.upper, file);
    return fs.existsSync(upper) ? fs.readFileSync(upper, 'utf8') : undefined;
  }

  /** The instance's own network namespace (the backend's), as `ip netns` names it. */
  get netnsFile(): string {
    return `/run/netns/${this.o.namespace}`;
  }

  /** A process of the instance in the instance's own network namespace (not ProFTPD's inner one). */
  private hostPid(): number {
    const ino = fs.statSync(this.netnsFile).ino;
    for (const pid of this.pids()) {
      try {
        if (fs.statSync(`/proc/${pid}/ns/net`).ino === ino) return pid;
      } catch {
        /* gone */
      }
    }
    throw new Error(`instance in ${this.o.namespace} has no process running`);
  }

  /**
   * Run a command on the instance as root would from a shell on it: its root, its mounts, its
   * network, a clean environment (with the boot's AWS_ENDPOINT_URL, as the sync sees it). What the
   * drills use to break a backend from inside, as an operator's mistake or a fault would.
   */
  exec(argv: readonly string[]): Promise<{ code: number; out: string }> {
    // Asynchronous: the stand-ins it may call (IMDS, the AWS endpoint) answer from this process.
    const p = spawn(
      'nsenter',
      [
        '-t',
        String(this.hostPid()),
        '-m',
        '-n',
        '-r',
        '-w',
        '/usr/bin/env',
        '-i',
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'HOME=/root',
        'LANG=C.UTF-8',
        `AWS_ENDPOINT_URL=${this.o.endpointUrl}`,
        ...argv,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    p.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    return new Promise((resolve, reject) => {
      p.on('error', reject);
      p.on('close', (code) => resolve({ code: code ?? -1, out }));
    });
  }

  /** exec, failing with the command's output unless it exits 0. */
  async run(argv: readonly string[]): Promise<string> {
    const r = await this.exec(argv);
    if (r.code !== 0)
      throw new Error(`on the instance in ${this.o.namespace}: ${argv.join(' ')} exited ${r.code}: ${r.out.trim().slice(-800)}`);
    return r.out;
  }

  /** Write a file on the running instance (through one of its processes' view of its root). */
  write(file: string, text: string, mode: number): void {
    const target = `/proc/${this.hostPid()}/root${file}`;
    fs.writeFileSync(target, text, { mode });
    fs.chmodSync(target, mode);
  }

  /** The main PID of a service the boot started (from the stand-in systemctl's state). */
  mainPid(service: string): number | undefined {
    const text = this.read(`${SYSTEMCTL_STATE}/${service}.pid`);
    const pid = Number(text?.trim());
    return pid > 0 && fs.existsSync(`/proc/${pid}`) ? pid : undefined;
  }

  /** The instance dies: every one of its processes is killed (its mounts and inner namespace go with them). */
  async kill(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      const pids = this.pids();
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`processes of ${this.merged} survive SIGKILL: ${this.pids().join(', ')}`);
  }

  /** Kill the instance and delete its disk. */
  async dispose(): Promise<void> {
    await this.kill();
    fs.rmSync(this.o.workDir, { recursive: true, force: true });
  }
}

/** Kill every process that runs from a root under `dirPrefix` (crash recovery: `npm run sandbox -- --down`). */
export function killBootedUnder(dirPrefix: string): number {
  let killed = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/root`).startsWith(dirPrefix)) {
        process.kill(Number(entry), 'SIGKILL');
        killed++;
      }
    } catch {
      /* gone */
    }
  }
  return killed;
}
