/**
 * Stand-ins for AWS's own agent packages, which the boot downloads from AWS's regional buckets and
 * installs with dpkg: the real ones need SSM and CloudWatch, which the sandbox does not have. Each is
 * a real .deb (dpkg-deb) of the same package name with the files the boot uses:
 * - amazon-ssm-agent: the service the boot enables, which only stays running;
 * - amazon-cloudwatch-agent: amazon-cloudwatch-agent-ctl, which accepts the boot's
 *   `-a fetch-config -m ec2 -s -c file:PATH` only if PATH is valid JSON, and keeps a copy of it.
 * The local AWS endpoint serves them at the buckets and keys the boot asks for.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Part of the root cache's key: bump when the stand-ins change. */
export const AGENT_STAND_INS_VERSION = 1;

/** The file a booted backend's CloudWatch agent stand-in writes when the boot loads a valid configuration. */
export const CLOUDWATCH_STAND_IN_LOADED = '/opt/aws/amazon-cloudwatch-agent/etc/loaded-by-sandbox.json';

const SSM_AGENT = `#!/bin/sh
# nlb-ftp sandbox stand-in for AWS's SSM agent: the sandbox has no Systems Manager to talk to.
exec sleep infinity
`;

const SSM_UNIT = `[Unit]
Description=Amazon SSM Agent (nlb-ftp sandbox stand-in)
[Service]
Type=simple
ExecStart=/usr/bin/amazon-ssm-agent
Restart=always
[Install]
WantedBy=multi-user.target
`;

const CLOUDWATCH_CTL = `#!/bin/sh
# nlb-ftp sandbox stand-in for amazon-cloudwatch-agent-ctl: checks the configuration the boot
# loads and keeps a copy; the sandbox reads the audit file itself instead of shipping it.
set -eu
action= mode= config= start=no
while [ $# -gt 0 ]; do
  case "$1" in
    -a) action=$2; shift 2 ;;
    -m) mode=$2; shift 2 ;;
    -c) config=$2; shift 2 ;;
    -s) start=yes; shift ;;
    *) echo "amazon-cloudwatch-agent-ctl (stand-in): unknown option $1" >&2; exit 1 ;;
  esac
done
[ "$action" = fetch-config ] && [ "$mode" = ec2 ] && [ "$start" = yes ] || { echo "stand-in runs only: -a fetch-config -m ec2 -s -c file:PATH" >&2; exit 1; }
file=\${config#file:}
python3 -m json.tool "$file" >/dev/null
cp "$file" ${CLOUDWATCH_STAND_IN_LOADED}
echo "amazon-cloudwatch-agent-ctl (stand-in): configuration $file loaded"
`;

function deb(out: string, name: string, description: string, files: Record<string, { text: string; mode: number }>): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-agent-'));
  try {
    fs.mkdirSync(path.join(dir, 'DEBIAN'));
    fs.writeFileSync(
      path.join(dir, 'DEBIAN/control'),
      `Package: ${name}\nVersion: 0.0.${AGENT_STAND_INS_VERSION}-sandbox\nArchitecture: all\nMaintainer: nlb-ftp sandbox <sandbox@invalid>\nDescription: ${description}\n`,
    );
    for (const [file, { text, mode }] of Object.entries(files)) {
      const target = path.join(dir, file);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, text, { mode });
    }
    execFileSync('dpkg-deb', ['--root-owner-group', '--build', dir, out], { stdio: 'ignore' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Build both stand-in packages into `dir` (amazon-ssm-agent.deb, amazon-cloudwatch-agent.deb). */
export async function buildAgentStandIns(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  deb(path.join(dir, 'amazon-ssm-agent.deb'), 'amazon-ssm-agent', 'nlb-ftp sandbox stand-in for the SSM agent', {
    'usr/bin/amazon-ssm-agent': { text: SSM_AGENT, mode: 0o755 },
    'usr/lib/systemd/system/amazon-ssm-agent.service': { text: SSM_UNIT, mode: 0o644 },
  });
  deb(path.join(dir, 'amazon-cloudwatch-agent.deb'), 'amazon-cloudwatch-agent', 'nlb-ftp sandbox stand-in for the CloudWatch agent', {
    'opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl': { text: CLOUDWATCH_CTL, mode: 0o755 },
    'opt/aws/amazon-cloudwatch-agent/etc/.keep': { text: '', mode: 0o644 },
    'opt/aws/amazon-cloudwatch-agent/logs/.keep': { text: '', mode: 0o644 },
  });
}
