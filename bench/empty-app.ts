/**
 * An empty one-stack CDK app: the baseline `npm run bench` compares the nlb-ftp synth with, so
 * the figure shows what nlb-ftp adds on top of loading the CDK itself.
 */
import { App, Stack } from 'aws-cdk-lib';

const app = new App();
new Stack(app, 'Empty');
app.synth();
