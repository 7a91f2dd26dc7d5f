/**
 * Secrets named by ARN must be in the stack's own partition and region: IAM grants and the
 * backends' `aws secretsmanager` calls use the stack's region, so a secret elsewhere fails only at
 * boot (every instance ABANDONs) or, across partitions, at deploy after resources were made.
 * Pure; the stack adds a CloudFormation Rule for the case where the region is not known at synth.
 */
import type { ConfigProblem } from './problems';
import type { Config } from './schema';

/** The settings that hold a secret ARN. */
export const SECRET_ARN_FIELDS = ['ftpUsersSecretArn', 'ftpsCertificateSecretArn', 'sftpHostKeysSecretArn'] as const;

/** The partition a region belongs to, for the partitions whose region names say it. */
export function partitionOfRegion(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** Partition and region of an ARN (`arn:PARTITION:SERVICE:REGION:...`). */
export function arnLocation(arn: string): { readonly partition: string; readonly region: string } {
  const [, partition = '', , region = ''] = arn.split(':');
  return { partition, region };
}

/** One problem per secret ARN that is not in `region` (and its partition). */
export function secretArnProblems(c: Config, region: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const field of SECRET_ARN_FIELDS) {
    const arn = c[field];
    if (!arn) continue;
    const at = arnLocation(arn);
    const partition = partitionOfRegion(region);
    if (at.partition !== partition || at.region !== region) {
      const parts = arn.split(':');
      parts[1] = partition;
      parts[3] = region;
      problems.push({
        field,
        value: arn,
        message: `is in ${at.partition}/${at.region}, but the stack deploys to ${partition}/${region}; the backends read secrets in their own region. Copy the secret to ${region} (Secrets Manager replication) and name that copy`,
        nearest: `${parts.join(':')} (its replica's ARN)`,
      });
    }
  }
  return problems;
}
