#!/usr/bin/env node
/**
 * CDK app entry. Validates the whole configuration before creating any construct, so bad input
 * never reaches CloudFormation: on error it prints every problem and exits non-zero.
 */
import { App } from 'aws-cdk-lib';
import { writeAllAndExit } from '../lib/cli/command';
import { type Config, ConfigError, loadConfig, secretArnProblems } from '../lib/config';
import { NlbFtpStack } from '../lib/infra/nlb-ftp-stack';

const app = new App();
let config: Config;
try {
  config = loadConfig({ context: app.node.getAllContext() });
  // Where the region is known at synth, a secret from elsewhere is refused now; otherwise the
  // stack's CloudFormation Rule stops the deploy before any resource is made.
  const region = process.env.CDK_DEFAULT_REGION;
  const misplaced = region ? secretArnProblems(config, region) : [];
  if (misplaced.length > 0) throw new ConfigError(misplaced);
} catch (err) {
  // Every problem, however long the list and whatever stderr is (a pipe to the CDK CLI).
  if (err instanceof ConfigError) writeAllAndExit(2, `${err.message}\n`, 1);
  throw err;
}

new NlbFtpStack(app, config.stackName, {
  config,
  description: `nlb-ftp: load-balanced FTP/FTPS with ${config.backendCount} ${config.ftpServer} backends behind an NLB`,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
