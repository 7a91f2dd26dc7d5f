/**
 * The Debian 13 root every booted backend runs from, built once with debootstrap from Debian's
 * archive and cached between runs under a key of everything that goes into it (suite, mirrors,
 * the image's packages, both servers' boot package lists, the stand-in agents). A changed list is
 * a new key, so the root is rebuilt; an old root is removed once a new one is complete.
 *
 * The cache holds three things:
 * - `root/`: Debian's minbase plus what Debian's cloud AMI has and the boot relies on before its own
 *   installs (python3, curl, ...): the AMI's stand-in. Nothing of the boot's own packages.
 * - `archive/`: the exact .deb files the boot's `apt-get install` takes for either server, as a
 *   local apt repository: the stand-in for Debian's mirror, which the backends' namespaces cannot reach.
 * - `agents/`: stand-ins for AWS's SSM and CloudWatch agent packages (sandbox/boot/agents.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bootPackages } from '../../lib/backend/user-data';
import { AGENT_STAND_INS_VERSION, buildAgentStandIns } from './agents';

export const DEBIAN_SUITE = 'trixie';
/** The sources of Debian's AMI: the release, its updates and its security fixes. */
export const DEBIAN_SOURCES = [
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE} main`,
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE}-updates main`,
  `deb http://deb.debian.org/debian-security ${DEBIAN_SUITE}-security main`,
];
/** What Debian's cloud AMI has beyond minbase that the boot uses before its own installs. */
export const IMAGE_PACKAGES = ['python3', 'curl', 'ca-certificates', 'iproute2', 'openssl', 'procps'] as const;
/** Where roots are cached (CI builds one before the tests; `npm run sandbox:root` does it by hand). */
export const ROOT_CACHE = process.env.NLBFTP_ROOT_CACHE ?? '/var/cache/nlb-ftp/roots';
/** Inside a booted backend: where the archive stand-in is bound, and the apt source naming it. */
export const ARCHIVE_MOUNT = '/srv/nlb-ftp-sandbox/archive';
export const ARCHIVE_SOURCE = `deb [trusted=yes] file:${ARCHIVE_MOUNT} ./`;

export interface DebianRoot {
  readonly key: string;
  readonly dir: string;
  readonly root: string;
  readonly archive: string;
  readonly agents: string;
  /** name -> version of every package in the archive (the versions production installs today). */
  readonly packages: Record<string, string>;
  /** How long the build took, in seconds (from its manifest). */
  readonly buildSeconds: number;
}

/** The cache key: a hash of everything the root and the archive are made of. */
export function rootKey(): string {
  const inputs = {
    format: 1,
    suite: DEBIAN_SUITE,
    sources: DEBIAN_SOURCES,
    image: IMAGE_PACKAGES,
    vsftpd: bootPackages('vsftpd'),
    proftpd: bootPackages('proftpd'),
    agents: AGENT_STAND_INS_VERSION,
  };
  return `${DEBIAN_SUITE}-${createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 12)}`;
}

function fromDir(dir: string): DebianRoot {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    key: string;
    packages: Record<string, string>;
    buildSeconds: number;
  };
  return {
    key: manifest.key,
    dir,
    root: path.join(dir, 'root'),
    archive: path.join(dir, 'archive'),
    agents: path.join(dir, 'agents'),
    packages: manifest.packages,
    buildSeconds: manifest.buildSeconds,
  };
}

/** The cached root for today's key, or undefined when it has not been built. */
export function cachedRoot(): DebianRoot | undefined {
  const dir = path.join(ROOT_CACHE, rootKey());
  return fs.existsSync(path.join(dir, 'manifest.json')) ? fromDir(dir) : undefined;
}

/** One sentence for a missing root: what to run. */
export function missingRoot(): string | undefined {
  if (cachedRoot()) return undefined;
  return `No Debian 13 root for the booted sandbox in ${ROOT_CACHE} (key ${rootKey()}): run \`npm run sandbox:root\` (about 2 minutes, needs debootstrap and apt-ftparchive: apt-get install debootstrap apt-utils).`;
}

function run(cmd: string, args: readonly string[], log: (line: string) => void, opts: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    let out = '';
    let tail = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    p.stderr.on('data', (d: Buffer) => {
      tail = (tail + d).slice(-4000);
    });
    p.on('error', reject);
    p.on('close', (code) => {
      if (code === 0) resolve(out);
      else {
        log(tail.trim());
        reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')}... exited ${code}`));
      }
    });
  });
}

/** Run a shell command inside `root` with /proc mounted, in a private mount namespace (nothing left mounted). */
function inRoot(root: string, script: string, log: (line: string) => void): Promise<string> {
  return run(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      '--fork',
      'sh',
      '-c',
      `mount -t proc proc '${root}/proc' && chroot '${root}' sh -c "$0"`,
      script,
    ],
    log,
  );
}

/**
 * The root for today's key: the cached one, or a new build (about 1.5 minutes here, with Debian's
 * archive reachable). Builds into a temporary directory and renames it into place when complete.
 */
export async function ensureRoot(log: (line: string) => void = () => undefined): Promise<DebianRoot> {
  const cached = cachedRoot();
  if (cached) return cached;
  const key = rootKey();
  const started = Date.now();
  fs.mkdirSync(ROOT_CACHE, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(ROOT_CACHE, `.build-${key}-`));
  try {
    const root = path.join(tmp, 'root');
    log(`[1/4] debootstrap --variant=minbase ${DEBIAN_SUITE} with ${IMAGE_PACKAGES.join(', ')} (the AMI's stand-in)`);
    await run(
      'debootstrap',
      ['--variant=minbase', `--include=${IMAGE_PACKAGES.join(',')}`, DEBIAN_SUITE, root, 'http://deb.debian.org/debian'],
      log,
    );
    fs.writeFileSync(path.join(root, 'etc/apt/sources.list'), `${DEBIAN_SOURCES.join('\n')}\n`);
    log(
      `[2/4] downloading the boot's packages: vsftpd (${bootPackages('vsftpd').join(' ')}) and proftpd (${bootPackages('proftpd').join(' ')})`,
    );
    const download = (server: 'vsftpd' | 'proftpd') =>
      `apt-get install -y -q --download-only --no-install-recommends ${bootPackages(server).join(' ')}`;
    await inRoot(root, `apt-get update -q && ${download('vsftpd')} && ${download('proftpd')}`, log);
    log('[3/4] the local apt repository (apt-ftparchive)');
    const archive = path.join(tmp, 'archive');
    fs.mkdirSync(archive);
    const cache = path.join(root, 'var/cache/apt/archives');
    const packages: Record<string, string> = {};
    for (const f of fs.readdirSync(cache).filter((x) => x.endsWith('.deb'))) {
      fs.renameSync(path.join(cache, f), path.join(archive, f));
      const [name, version] = f.split('_');
      packages[name] = decodeURIComponent(version);
    }
    fs.writeFileSync(path.join(archive, 'Packages'), await run('apt-ftparchive', ['packages', '.'], log, { cwd: archive }));
    fs.writeFileSync(path.join(archive, 'Release'), await run('apt-ftparchive', ['release', '.'], log, { cwd: archive }));
    await inRoot(root, 'apt-get clean && rm -rf /var/lib/apt/lists/*', log);
    log('[4/4] stand-ins for the SSM and CloudWatch agent packages');
    await buildAgentStandIns(path.join(tmp, 'agents'));
    const buildSeconds = Math.round((Date.now() - started) / 100) / 10;
    fs.writeFileSync(
      path.join(tmp, 'manifest.json'),
      `${JSON.stringify({ key, built: new Date().toISOString(), buildSeconds, packages }, null, 1)}\n`,
    );
    const dir = path.join(ROOT_CACHE, key);
    if (!fs.existsSync(dir)) fs.renameSync(tmp, dir);
    for (const old of fs.readdirSync(ROOT_CACHE)) {
      if (old !== key && !old.startsWith('.')) fs.rmSync(path.join(ROOT_CACHE, old), { recursive: true, force: true });
    }
    log(`root ${key} ready in ${buildSeconds} s: ${Object.keys(packages).length} packages in the archive`);
    return fromDir(dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Debian's mirror with one package missing (a boot drill): hard links to the archive's files but
 * that package's, and an index without it.
 */
export function brokenArchive(archive: string, dir: string, missing: string): string {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(archive).filter((x) => x.endsWith('.deb') && !x.startsWith(`${missing}_`))) {
    try {
      fs.linkSync(path.join(archive, f), path.join(dir, f));
    } catch {
      fs.copyFileSync(path.join(archive, f), path.join(dir, f));
    }
  }
  fs.writeFileSync(
    path.join(dir, 'Packages'),
    execFileSync('apt-ftparchive', ['packages', '.'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
  );
  return dir;
}
