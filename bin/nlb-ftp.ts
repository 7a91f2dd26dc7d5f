#!/usr/bin/env node
/**
 * CDK app entry. Validates the whole configuration before creating any construct, so bad input
 * never reaches CloudFormation: on error it prints every problem and exits non-zero.
 */
import { App } from 'aws-cdk-lib';
import { type Config, ConfigError, loadConfig } from '../lib/config';
import { NlbFtpStack } from '../lib/infra/nlb-ftp-stack';

const app = new App();
let config: Config;
try {
  config = loadConfig({ context: app.node.getAllContext() });
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

new NlbFtpStack(app, config.stackName, {
  config,
  description: `nlb-ftp: load-balanced FTP/FTPS with ${config.backendCount} vsftpd backends behind an NLB`,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
