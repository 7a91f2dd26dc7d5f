/**
 * The public SSM parameters that name each backend's AMI, as the stack resolves them at deploy
 * time. Preflight reads the same names; test/unit/preflight.test.ts holds them equal to the
 * template's own parameters. Pure.
 */

/** Canonical's current Ubuntu 24.04 LTS server AMI (gp3 root volume): the ProFTPD backends. */
export function ubuntuAmiParameter(arm: boolean): string {
  return `/aws/service/canonical/ubuntu/server/24.04/stable/current/${arm ? 'arm64' : 'amd64'}/hvm/ebs-gp3/ami-id`;
}

/** Amazon Linux 2023 (kernel 6.1), as aws-cdk-lib's latestAmazonLinux2023 names it: the vsftpd backends. */
export function amazonLinuxAmiParameter(arm: boolean): string {
  return `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-${arm ? 'arm64' : 'x86_64'}`;
}

export function amiParameter(server: 'vsftpd' | 'proftpd', arm: boolean): string {
  return server === 'proftpd' ? ubuntuAmiParameter(arm) : amazonLinuxAmiParameter(arm);
}
