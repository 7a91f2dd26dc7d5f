import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

export interface NlbFtpFunctionProps extends Omit<NodejsFunctionProps, 'entry' | 'runtime' | 'architecture'> {
  /** Handler file, relative to the repository's `lambda/` folder. */
  readonly handlerFile: string;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The project's Lambda defaults in one place: Node.js 22 on ARM64 (Graviton, cheaper per ms),
 * bundled by the local esbuild (no Docker) with every dependency inside the artifact, so what
 * runs is exactly what the tests ran, and a log group with a retention period.
 */
export class NlbFtpFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: NlbFtpFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      memorySize: 256,
      timeout: Duration.seconds(30),
      ...props,
      entry: path.join(__dirname, '..', '..', 'lambda', props.handlerFile),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      logGroup,
      bundling: {
        minify: true,
        target: 'node22',
        format: OutputFormat.CJS,
        // The SDK clients' ES module builds, so esbuild can drop the commands and shapes the code
        // never uses (their CommonJS builds are one file each). Halves the EC2 client in the checker.
        mainFields: ['module', 'main'],
        externalModules: [],
        forceDockerBundling: false,
        ...props.bundling,
      },
    });
  }
}
