/**
 * What the sandbox deploys: the synthesized template, the checker's bundled code, and the file
 * assets `cdk deploy` would upload, with the values CloudFormation's tokens resolve to here.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { synthWithCheckerBundle } from '../harness/synth';
import type { Config } from '../lib/config';
import { type SandboxValues, sandboxSecretArn } from './boot/resolve';
import type { TemplateJson } from './template-plan';
import { NLB_IP, SANDBOX_PREFIX } from './topology';

/**
 * The template, the bundled Lambda code of the checker and of the certificate custom resource as
 * `cdk deploy` would upload it (undefined when the stack has no such function), and every file
 * asset by bucket and key. Always bundled, as `cdk deploy`
 * bundles: an unbundled NodejsFunction's asset is the whole project folder, node_modules included,
 * and zipping it took 30 of a cluster's first 37 s.
 */
export function synthTemplate(
  config: Config,
  values: Pick<SandboxValues, 'region' | 'accountId'>,
): { template: TemplateJson; checkerCode?: string; certificateCode?: string; objects: Map<string, Buffer> } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), `${SANDBOX_PREFIX}-cdkout-`));
  try {
    const { template, checkerBundle, certificateBundle } = synthWithCheckerBundle(config, outdir);
    return {
      template: template as TemplateJson,
      checkerCode: checkerBundle && fs.readFileSync(checkerBundle, 'utf8'),
      certificateCode: certificateBundle && fs.readFileSync(certificateBundle, 'utf8'),
      objects: fileAssets(outdir, values),
    };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * The file assets `cdk deploy` would upload (the boot scripts), by `bucket/key` in the sandbox's
 * account and region, read from the assembly's asset manifests. A folder is zipped with its
 * entries relative to it, as cdk-assets zips it for upload.
 */
function fileAssets(outdir: string, v: Pick<SandboxValues, 'region' | 'accountId'>): Map<string, Buffer> {
  const objects = new Map<string, Buffer>();
  for (const f of fs.readdirSync(outdir).filter((x) => x.endsWith('.assets.json'))) {
    const manifest = JSON.parse(fs.readFileSync(path.join(outdir, f), 'utf8')) as {
      files?: Record<
        string,
        { source: { path: string; packaging?: string }; destinations: Record<string, { bucketName: string; objectKey: string }> }
      >;
    };
    for (const asset of Object.values(manifest.files ?? {})) {
      const source = path.resolve(outdir, asset.source.path);
      const body = asset.source.packaging === 'zip' ? zipFolder(source) : fs.readFileSync(source);
      for (const d of Object.values(asset.destinations)) {
        const bucket = d.bucketName.replace(/\$\{AWS::AccountId\}/g, v.accountId).replace(/\$\{AWS::Region\}/g, v.region);
        objects.set(`${bucket}/${d.objectKey}`, body);
      }
    }
  }
  return objects;
}

/** A folder as a zip archive whose entries are relative to it (Python's zipfile, from Debian). */
function zipFolder(dir: string): Buffer {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `${SANDBOX_PREFIX}-zip-`)), 'asset.zip');
  try {
    execFileSync('python3', ['-m', 'zipfile', '-c', out, ...fs.readdirSync(dir).sort()], { cwd: dir });
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  }
}

/** What CloudFormation's tokens resolve to in the sandbox. */
export const SANDBOX_VALUES: SandboxValues = {
  region: 'us-east-1',
  accountId: '000000000000',
  publicIp: NLB_IP,
  fileSystemId: 'fs-0a5a4db0c5a4db0c5',
  // The sandbox's "VPC": the host side of the emulated NLB, where the health checker runs
  // (CLIENT_IP); the client namespace (198.18.1.0/24) and the backends are outside it.
  vpcCidr: '198.18.0.0/24',
};

/** The template's secret whose logical ID starts with `prefix` (users, health check, certificate). */
export function secretOf(template: TemplateJson, prefix: string): string | undefined {
  const id = Object.keys(template.Resources).find(
    (k) => k.startsWith(prefix) && template.Resources[k].Type === 'AWS::SecretsManager::Secret',
  );
  return id && sandboxSecretArn(SANDBOX_VALUES, id);
}
