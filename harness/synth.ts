import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type BootSettings, readBootSettings } from '../lib/backend/user-data';
import { type Config, type ConfigInput, parseConfig } from '../lib/config';
import { NlbFtpStack } from '../lib/infra/nlb-ftp-stack';
import { flatten } from './template';

const ROOT = path.resolve(__dirname, '..');
/** The same feature flags the real app gets from cdk.json. */
export const CDK_JSON_CONTEXT = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')).context as Record<string, unknown>;

/** Context that skips Lambda bundling: esbuild would only slow down synths that look at wiring. */
export const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] } as const;

let scratch: string | undefined;

/** True while a process with this PID exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Where a synth without an outdir writes. Left to itself CDK makes a new `cdk.outXXXXXX` in the
 * temp directory for every such App and never removes it (thousands per test run). These go in one
 * `nlbftp-synth-<pid>-*` directory per process, removed when it exits; test workers can be killed
 * before their exit handlers run, so the first synth of a process also removes the directories of
 * processes that are gone.
 */
export function scratchOutdir(): string {
  if (!scratch) {
    const tmp = os.tmpdir();
    for (const name of fs.readdirSync(tmp)) {
      const pid = Number(/^nlbftp-synth-(\d+)-/.exec(name)?.[1]);
      if (pid && !alive(pid)) fs.rmSync(path.join(tmp, name), { recursive: true, force: true });
    }
    const dir = fs.mkdtempSync(path.join(tmp, `nlbftp-synth-${process.pid}-`));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    scratch = dir;
  }
  return fs.mkdtempSync(path.join(scratch, 'out-'));
}

/**
 * The one way the sandbox, the tests and the benchmarks build the real stack: cdk.json's feature
 * flags, a validated config, bundling only when asked. Returns the app (synthesize it once).
 */
export function buildApp(
  config: Config,
  opts: { bundle?: boolean; outdir?: string; stackId?: string } = {},
): { app: App; stack: NlbFtpStack } {
  // analyticsReporting: the CLI adds an AWS::CDK::Metadata resource to every stack (version
  // reporting); a bare App does not. Counting it here keeps tests and `cdk synth` at the same number.
  const app = new App({
    outdir: opts.outdir ?? scratchOutdir(),
    analyticsReporting: true,
    context: { ...CDK_JSON_CONTEXT, ...(opts.bundle ? {} : NO_BUNDLING) },
  });
  const stack = new NlbFtpStack(app, opts.stackId ?? config.stackName, { config });
  return { app, stack };
}

/**
 * Synthesize with Lambda bundling into `outdir`, as `cdk deploy` would, and return the template and
 * the bundled `index.js` of the health checker and of the FTPS certificate custom resource (the
 * files their assets upload; undefined when the config has no such function). The sandbox runs
 * those files, so what it proves is the artifact, not the source.
 */
export function synthWithCheckerBundle(
  config: Config,
  outdir: string,
): { template: Record<string, unknown>; checkerBundle: string | undefined; certificateBundle: string | undefined } {
  const { app, stack } = buildApp(config, { outdir, bundle: true });
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).template as Record<string, unknown> & {
    Resources: Record<string, { Type: string; Properties?: { Code?: { S3Key?: string } } }>;
  };
  const bundleOf = (prefix: string): string | undefined => {
    const fn = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(prefix));
    if (!fn) return undefined;
    const key = fn[1].Properties?.Code?.S3Key;
    if (!key) throw new Error(`the function ${fn[0]} has no bundled asset in the template`);
    const file = path.join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`, 'index.js');
    if (!fs.existsSync(file)) throw new Error(`the asset of ${fn[0]} was not bundled: ${file} is missing`);
    return file;
  };
  // The key generator: the FTPS certificate's, or the SFTP host keys' own when the stack has no self-signed certificate.
  const certificateBundle = bundleOf('FtpsCertificateGenerator') ?? bundleOf('SftpHostKeysGenerator');
  return { template, checkerBundle: bundleOf('HealthCheckerFunction'), certificateBundle };
}

export interface Synthesized {
  readonly stack: NlbFtpStack;
  readonly template: Template;
  readonly json: Record<string, unknown> & { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
}

/**
 * Synthesize the stack for a config. Lambda bundling is skipped unless `bundle` is set, because
 * most assertions are about wiring and esbuild would only slow them down.
 */
export function synth(input: ConfigInput = {}, opts: { bundle?: boolean } = {}): Synthesized {
  const { stack } = buildApp(parseConfig(input), opts);
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as Synthesized['json'] };
}

/**
 * Every resource of a type, as `[logicalId, Properties]`. Throws when there is none: a test that
 * loops over them would otherwise pass by checking nothing (use countOfType to assert absence).
 */
export function resourcesOfType(s: Synthesized, type: string): Array<[string, Record<string, unknown>]> {
  const found = Object.entries(s.json.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]): [string, Record<string, unknown>] => [id, r.Properties ?? {}]);
  if (found.length === 0) throw new Error(`the template has no ${type}`);
  return found;
}

/** How many resources of a type the template has (0 included). */
export function countOfType(s: Synthesized, type: string): number {
  return Object.values(s.json.Resources).filter((r) => r.Type === type).length;
}

/** Each slot's launch template, with its user data as written (Fn::Base64 unwrapped, intrinsics left in). */
/** Each slot's boot settings as its user data writes them (CloudFormation values as `${...}` placeholders, see flatten). */
export function bootSettingsOf(s: Synthesized): BootSettings[] {
  const settings = launchTemplates(s).map(([, p]) => readBootSettings(flatten(p.UserData)));
  if (settings.length === 0) throw new Error('the template has no launch templates');
  return settings;
}

export function launchTemplates(s: Synthesized): Array<[string, { UserData: unknown } & Record<string, unknown>]> {
  return resourcesOfType(s, 'AWS::EC2::LaunchTemplate').map(([id, p]) => {
    const data = (p.LaunchTemplateData ?? {}) as Record<string, unknown>;
    const ud = data.UserData as Record<string, unknown> | undefined;
    return [id, { ...data, UserData: ud && 'Fn::Base64' in ud ? ud['Fn::Base64'] : ud }];
  });
}
