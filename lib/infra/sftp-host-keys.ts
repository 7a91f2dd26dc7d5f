import { CustomResource, Fn, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SSH_HOST_KEYS_RESOURCE_TYPE } from '../shared/ssh-host-keys';
import { createKeyGenerator } from './ftps-certificate';
import { acknowledge } from './nag';
import type { NlbFtpFunction } from './nlb-ftp-function';

export interface SftpHostKeysProps {
  /** Your host keys secret (complete ARN, JSON {"ecdsa","rsa"} PEM private keys); unset creates one set at deploy. */
  readonly secretArn?: string;
  /**
   * The key generator to reuse (the FTPS certificate's, when the stack makes one).
   * @default a generator of its own
   */
  readonly generator?: NlbFtpFunction;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The SFTP host keys every backend presents, so a client sees one host whichever backend the NLB
 * picks. Either yours, from Secrets Manager, or one set a custom resource generates once at deploy
 * straight into a secret: no private key passes through the template. Only the backends read it.
 */
export class SftpHostKeys extends Construct {
  readonly secret: secretsmanager.ISecret;
  /** The generated keys' fingerprints (`SHA256:...`, as OpenSSH prints them); unset when you bring your own. */
  readonly fingerprints?: { readonly ecdsa: string; readonly rsa: string };
  /** Both fingerprints separated by a space (the custom resource's physical ID); unset when you bring your own. */
  readonly fingerprintList?: string;
  /** Depend on this before reading the secret: the generated keys are in it from then on. */
  readonly ready?: CustomResource;

  constructor(scope: Construct, id: string, props: SftpHostKeysProps) {
    super(scope, id);
    if (props.secretArn) {
      this.secret = secretsmanager.Secret.fromSecretCompleteArn(this, 'Secret', props.secretArn);
      return;
    }
    const secret = new secretsmanager.Secret(this, 'Secret', {
      description:
        'nlb-ftp SFTP host keys: JSON {"ecdsa", "rsa"} PEM private keys, generated at deploy time; every backend presents them (put your own here to replace them; backends pick them up within 5 minutes).',
      removalPolicy: props.removalPolicy,
    });
    this.secret = secret;
    acknowledge(secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          "Host keys are what clients pin (known_hosts): a silent automatic rotation would make every client refuse the host as 'REMOTE HOST IDENTIFICATION HAS CHANGED'. Replace them deliberately (docs/sftp.md).",
      },
    ]);
    const generator = props.generator ?? createKeyGenerator(this, 'nlb-ftp: creates the SFTP host keys once, into their secret');
    // Write only: the generator never reads the secret (its Ref carries the fingerprints instead).
    generator.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'PutSftpHostKeysOnly', actions: ['secretsmanager:PutSecretValue'], resources: [secret.secretArn] }),
    );
    const resource = new CustomResource(this, 'Generated', {
      serviceToken: generator.functionArn,
      resourceType: SSH_HOST_KEYS_RESOURCE_TYPE,
      properties: { SecretArn: secret.secretArn },
    });
    this.ready = resource;
    this.fingerprints = { ecdsa: Fn.select(0, Fn.split(' ', resource.ref)), rsa: Fn.select(1, Fn.split(' ', resource.ref)) };
    this.fingerprintList = resource.ref;
  }
}
