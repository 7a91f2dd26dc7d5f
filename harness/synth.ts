import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type ConfigInput, parseConfig } from '../lib/config';
import { NlbFtpStack } from '../lib/infra/nlb-ftp-stack';

const ROOT = path.resolve(__dirname, '..');
/** The same feature flags the real app gets from cdk.json. */
const CDK_JSON_CONTEXT = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')).context as Record<string, unknown>;

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
  const config = parseConfig(input);
  const app = new App({
    context: { ...CDK_JSON_CONTEXT, ...(opts.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const stack = new NlbFtpStack(app, config.stackName, { config });
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as Synthesized['json'] };
}

export function resourcesOfType(s: Synthesized, type: string): Array<[string, Record<string, unknown>]> {
  return Object.entries(s.json.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}
