import { CustomResource, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { NlbFtpFunction } from './nlb-ftp-function';

export interface FtpsCertificateProps {
  /** Your certificate secret (complete ARN, JSON {certificate, privateKey, ca?}); unset creates a self-signed one. */
  readonly secretArn?: string;
  /** For a self-signed certificate: the subject CN (the NLB's DNS name). */
  readonly commonName: string;
  /** For a self-signed certificate: more DNS names and IPs clients may use (static IPs, your CNAME). */
  readonly names: readonly string[];
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The one FTPS certificate every backend serves. Either yours, from Secrets Manager, or a
 * self-signed one that a custom resource creates once at deploy time and puts straight into a
 * secret: no PEM ever passes through the template. Only the backends and the checker read it.
 */
export class FtpsCertificate extends Construct {
  readonly secret: secretsmanager.ISecret;
  /** Depend on this before reading the secret: the self-signed certificate is in it from then on. */
  readonly ready?: CustomResource;
  /** The function that generated it (SftpHostKeys reuses it); unset when you bring your own. */
  readonly generator?: NlbFtpFunction;

  constructor(scope: Construct, id: string, props: FtpsCertificateProps) {
    super(scope, id);
    if (props.secretArn) {
      this.secret = secretsmanager.Secret.fromSecretCompleteArn(this, 'Secret', props.secretArn);
      return;
    }

    const secret = new secretsmanager.Secret(this, 'Secret', {
      description:
        'nlb-ftp FTPS certificate: JSON {"certificate", "privateKey"} in PEM. Self-signed at deploy time; put your own here to replace it (backends pick it up within 5 minutes).',
      removalPolicy: props.removalPolicy,
    });
    this.secret = secret;
    acknowledge(secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'A certificate is replaced, not rotated like a password: clients trust this exact certificate, so a silent automatic change would break them. Put a new certificate in the secret to replace it (docs/ftps.md).',
      },
    ]);

    const generator = createKeyGenerator(
      this,
      'nlb-ftp: creates the self-signed FTPS certificate (and SFTP host keys) once, into their secrets',
    );
    this.generator = generator;
    // Write only: the generator never reads the secret (its Ref carries the fingerprint instead).
    generator.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'PutCertificateOnly', actions: ['secretsmanager:PutSecretValue'], resources: [secret.secretArn] }),
    );
    const resource = new CustomResource(this, 'SelfSigned', {
      serviceToken: generator.functionArn,
      resourceType: 'Custom::NlbFtpSelfSignedCertificate',
      properties: { SecretArn: secret.secretArn, CommonName: props.commonName, Names: [...props.names] },
    });
    this.ready = resource;
  }

  /** The self-signed certificate's SHA-256 fingerprint (the custom resource's Ref); undefined when you bring your own. */
  get fingerprint(): string | undefined {
    return this.ready?.ref;
  }
}

/**
 * The function behind both key-material custom resources (lambda/certificate-resource): the
 * certificate's and the SFTP host keys'. Each user grants it PutSecretValue on its own secret only.
 */
export function createKeyGenerator(scope: Construct, description: string): NlbFtpFunction {
  const generator = new NlbFtpFunction(scope, 'Generator', {
    handlerFile: 'certificate-resource/handler.ts',
    description,
    timeout: Duration.seconds(60),
    memorySize: 512,
  });
  acknowledge(
    generator,
    [
      {
        id: 'AwsSolutions-IAM4',
        reason:
          'AWSLambdaBasicExecutionRole only lets the function write its own log stream; it is the AWS-maintained minimum for any Lambda.',
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
      },
      {
        id: 'AwsSolutions-L1',
        reason: 'Pinned to Node.js 22 (an LTS line the bundle targets and the tests run); moving runtimes is a deliberate, tested change.',
      },
    ],
    { children: true },
  );

  return generator;
}
