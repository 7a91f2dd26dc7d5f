/**
 * Every principal the template defines, and for each action its policies grant, what uses it (or
 * why it stays although nothing of ours calls it). docs/iam.md's IAM table is generated from this
 * and from the operator policy (`npm run docs:config`); test/unit/iam-uses.test.ts fails when the
 * synthesized template grants an action that is not here, or this names one the template does not
 * grant, and the FTPS sandbox test fails when a principal makes a call that is not here. Pure.
 */

export interface PrincipalUses {
  /** The start of its role's logical ID in the template. */
  readonly role: string;
  /** Who it is, for the table. */
  readonly label: string;
  /** Action -> what calls it. A statement nothing of ours calls says why it stays ("stays: ..."). */
  readonly actions: Readonly<Record<string, string>>;
  /** AWS managed policy name -> why it is attached (its actions are AWS's, not listed one by one). */
  readonly managed?: Readonly<Record<string, string>>;
}

const LAMBDA_LOGS = 'the function writes its own log group (Lambda does this, not our code)';

export const TEMPLATE_PRINCIPALS: readonly PrincipalUses[] = [
  {
    role: 'BackendsRole',
    label: 'the backends (EC2 instance role)',
    actions: {
      'secretsmanager:GetSecretValue':
        'the boot and the users sync (every 5 minutes) read the users, health-check, SFTP host keys and FTPS certificate secrets',
      'secretsmanager:DescribeSecret':
        "stays: CDK's grantRead grants it with GetSecretValue; it reads a secret's metadata, never its value",
      's3:GetObject': 'the boot downloads its scripts: the boot-scripts asset, that one object only',
      'autoscaling:CompleteLifecycleAction': "the boot reports CONTINUE or ABANDON to its own slot's group only",
      'logs:CreateLogStream': 'the CloudWatch agent ships the audit trail, to the audit log group only',
      'logs:DescribeLogStreams': 'the CloudWatch agent ships the audit trail, to the audit log group only',
      'logs:PutLogEvents': 'the CloudWatch agent ships the audit trail, to the audit log group only',
      'dynamodb:UpdateItem': "the ban agent adds each address's failed logins to its counter, in the bans table only",
      'dynamodb:Query': "the ban agent sums an address's failures over all backends and reads the bans, in the bans table only",
      'dynamodb:PutItem': 'the ban agent writes a ban (conditionally: one backend decides each), in the bans table only',
    },
    managed: { AmazonSSMManagedInstanceCore: 'Session Manager: a shell on a backend without SSH or an open port' },
  },
  {
    role: 'HealthCheckerFunctionServiceRole',
    label: 'the health checker (Lambda)',
    actions: {
      'secretsmanager:GetSecretValue': "every round reads the health-check account's secret and, with FTPS, the certificate to verify",
      'secretsmanager:DescribeSecret':
        "stays: CDK's grantRead grants it with GetSecretValue; it reads a secret's metadata, never its value",
      'dynamodb:GetItem': 'the round lease and the per-slot failure counts, in its own state table only',
      'dynamodb:PutItem': 'the round lease and the per-slot failure counts, in its own state table only',
      'elasticloadbalancing:DeregisterTargets':
        'takes a backend whose FTP logins keep failing out of the port-21 target group and, with SFTP, one whose SFTP logins keep failing out of the SFTP target group (those groups only)',
      'elasticloadbalancing:RegisterTargets': 'puts it back once it passes again (the port-21 and SFTP target groups only)',
      'elasticloadbalancing:DescribeTargetHealth': 'reads who is registered (no resource-level permission exists)',
      'ec2:DescribeInstances': "finds each slot's instance and its private address (no resource-level permission exists)",
    },
    managed: {
      'service-role/AWSLambdaBasicExecutionRole': LAMBDA_LOGS,
      'service-role/AWSLambdaVPCAccessExecutionRole':
        'Lambda attaches the function to the private subnets (network interfaces), to reach the backends',
    },
  },
  {
    role: 'FtpsCertificateGeneratorServiceRole',
    label: 'the key generator: the FTPS certificate and SFTP host keys custom resources (Lambda, at deploy)',
    actions: {
      'secretsmanager:PutSecretValue':
        'writes the self-signed certificate and the SFTP host keys into their secrets, once; it never reads a secret',
    },
    managed: { 'service-role/AWSLambdaBasicExecutionRole': LAMBDA_LOGS },
  },
  {
    role: 'SftpHostKeysGeneratorServiceRole',
    label: 'the SFTP host keys custom resource, when the stack makes no FTPS certificate (Lambda, at deploy)',
    actions: { 'secretsmanager:PutSecretValue': 'writes the SFTP host keys into their secret, once; it never reads a secret' },
    managed: { 'service-role/AWSLambdaBasicExecutionRole': LAMBDA_LOGS },
  },
  {
    role: 'CustomVpcRestrictDefaultSGCustomResourceProviderRole',
    label: "CDK's custom resource that empties the VPC's default security group (at deploy)",
    actions: {
      'ec2:AuthorizeSecurityGroupIngress': "CDK's handler (restoring the rules on delete), on the default security group only",
      'ec2:AuthorizeSecurityGroupEgress': "CDK's handler (restoring the rules on delete), on the default security group only",
      'ec2:RevokeSecurityGroupIngress': "CDK's handler removes the default security group's rules, on that group only",
      'ec2:RevokeSecurityGroupEgress': "CDK's handler removes the default security group's rules, on that group only",
    },
    managed: { 'service-role/AWSLambdaBasicExecutionRole': LAMBDA_LOGS },
  },
  {
    role: 'VpcRejectedIAMRole',
    label: 'VPC flow logs of rejected traffic (the VPC Flow Logs service)',
    actions: {
      'logs:CreateLogStream': 'VPC Flow Logs writes rejected connections, to the flow-log group only',
      'logs:DescribeLogStreams': 'VPC Flow Logs writes rejected connections, to the flow-log group only',
      'logs:PutLogEvents': 'VPC Flow Logs writes rejected connections, to the flow-log group only',
    },
  },
];

/** The principal entry for a role's logical ID. */
export function principalUsesOf(roleLogicalId: string): PrincipalUses | undefined {
  return TEMPLATE_PRINCIPALS.find((p) => roleLogicalId.startsWith(p.role));
}
