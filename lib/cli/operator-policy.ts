/**
 * What an operator's AWS identity needs for `npm run status`, `npm run roll`, `npm run unban` and
 * `npm run preflight`: one statement per need, each with the commands that use it and why it is scoped as
 * it is. `iam/operator-policy.json` is generated from this (`npm run operator-policy`), each
 * command's `--help` names the actions it needs from it, and test/unit/operator-policy.test.ts runs
 * every command with exactly this policy (every call allowed) and with each statement removed (the
 * command names the missing action). Pure: no AWS SDK, no aws-cdk-lib.
 */
import { OUT_OF_ROTATION_TAG } from '../shared/contract';

export type OperatorCommand = 'status' | 'roll' | 'preflight' | 'unban';

export interface OperatorPermission {
  readonly sid: string;
  readonly actions: readonly string[];
  /** The resources, for the stack named `stack`. */
  readonly resources: (stack: string) => readonly string[];
  readonly condition?: Record<string, Record<string, unknown>>;
  readonly usedBy: readonly OperatorCommand[];
  /** Why it is needed and why it is scoped as it is (`*` only where AWS has no resource-level permission). */
  readonly why: string;
}

export const OPERATOR_PERMISSIONS: readonly OperatorPermission[] = [
  {
    sid: 'ReadTheStack',
    actions: ['cloudformation:DescribeStacks'],
    resources: (stack) => [`arn:aws:cloudformation:*:*:stack/${stack}/*`, 'arn:aws:cloudformation:*:*:stack/CDKToolkit/*'],
    usedBy: ['status', 'roll', 'preflight', 'unban'],
    why: "the stack's outputs name its slots and target groups; preflight also reads the CDK bootstrap stack's version",
  },
  {
    sid: 'ReadTheSlots',
    actions: ['autoscaling:DescribeAutoScalingGroups'],
    resources: () => ['*'],
    usedBy: ['status', 'roll'],
    why: 'each slot is an Auto Scaling group of one; Auto Scaling has no resource-level permission for Describe calls',
  },
  {
    sid: 'ReadTargetHealth',
    actions: ['elasticloadbalancing:DescribeTargetHealth'],
    resources: () => ['*'],
    usedBy: ['status', 'roll'],
    why: 'which instances the NLB sends port 21 and SFTP to; ELB has no resource-level permission for Describe calls',
  },
  {
    sid: 'ReadAlarmsAndMetrics',
    actions: ['cloudwatch:DescribeAlarms', 'cloudwatch:GetMetricData'],
    resources: () => ['*'],
    usedBy: ['status'],
    why: "the alarm states and the checker's last probes; read-only, and GetMetricData has no resource-level permission",
  },
  {
    sid: 'ReadTheUsersSyncs',
    actions: ['logs:FilterLogEvents'],
    resources: (stack) => [`arn:aws:logs:*:*:log-group:/nlb-ftp/${stack}/audit`, `arn:aws:logs:*:*:log-group:/nlb-ftp/${stack}/audit:*`],
    usedBy: ['status'],
    why: "each backend's last users sync (users applied and skipped, with the reason) from the audit trail; this stack's audit log group only",
  },
  {
    sid: 'ReadTheBans',
    actions: ['dynamodb:Query'],
    resources: (stack) => [`arn:aws:dynamodb:*:*:table/${stack}-BanTable*`],
    usedBy: ['status', 'unban'],
    why: "the active bans, and an address's failure counts; CloudFormation generates the table's name from the stack's, so the pattern holds only this stack's bans table",
  },
  {
    sid: 'LiftABan',
    actions: ['dynamodb:DeleteItem'],
    resources: (stack) => [`arn:aws:dynamodb:*:*:table/${stack}-BanTable*`],
    usedBy: ['unban'],
    why: "unban deletes the address's ban and its failure counts (so its next typo does not ban it again); this stack's bans table only",
  },
  {
    sid: 'RollOneSlotAtATime',
    actions: [
      'autoscaling:UpdateAutoScalingGroup',
      'autoscaling:SetInstanceProtection',
      'autoscaling:SuspendProcesses',
      'autoscaling:ResumeProcesses',
      'autoscaling:TerminateInstanceInAutoScalingGroup',
    ],
    resources: (stack) => [`arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/${stack}-slot*`],
    usedBy: ['roll'],
    why: "the roll grows a slot's group to two, waits, and shrinks it; only this stack's slot groups, by name",
  },
  {
    sid: 'MoveTargetsInAndOutOfRotation',
    actions: ['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets'],
    resources: () => ['arn:aws:elasticloadbalancing:*:*:targetgroup/*'],
    usedBy: ['roll'],
    why: "the roll drains the old instance from port 21 and SFTP and puts it back if the new one fails; CloudFormation generates the target groups' names, so no name pattern holds only this stack's",
  },
  {
    sid: 'MarkTheDrainedInstance',
    actions: ['ec2:CreateTags', 'ec2:DeleteTags'],
    resources: () => ['arn:aws:ec2:*:*:instance/*'],
    condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [OUT_OF_ROTATION_TAG] } },
    usedBy: ['roll'],
    why: `the tag that tells the health checker not to register the instance being drained; no other tag key`,
  },
  {
    sid: 'PreflightAccountChecks',
    actions: [
      'ec2:DescribeAccountAttributes',
      'ec2:DescribeAddresses',
      'ec2:DescribeAvailabilityZones',
      'ec2:DescribeInstanceTypeOfferings',
      'elasticloadbalancing:DescribeAccountLimits',
      'elasticloadbalancing:DescribeLoadBalancers',
      'elasticloadbalancing:DescribeTargetGroups',
      'lambda:GetAccountSettings',
    ],
    resources: () => ['*'],
    usedBy: ['preflight'],
    why: 'quotas and free capacity a first deploy needs (Elastic IPs, NLBs, target groups, Lambda concurrency, the instance type per AZ); none has a resource-level permission',
  },
  {
    sid: 'ReadTheAmiParameter',
    actions: ['ssm:GetParameter'],
    resources: () => ['arn:aws:ssm:*:*:parameter/aws/service/debian/*'],
    usedBy: ['preflight'],
    why: "the Debian image the template resolves, from AWS's public parameters",
  },
];

/** The default stack name the shipped policy file is written for (the schema's default). */
export const POLICY_FILE_STACK = 'NlbFtp';

/** The least-privilege IAM policy for the operator commands on stack `stack`; `omit` leaves statements out (tests). */
export function operatorPolicy(stack: string, omit: readonly string[] = []) {
  return {
    Version: '2012-10-17',
    Statement: OPERATOR_PERMISSIONS.filter((p) => !omit.includes(p.sid)).map((p) => ({
      Sid: p.sid,
      Effect: 'Allow' as const,
      Action: [...p.actions],
      Resource: [...p.resources(stack)],
      ...(p.condition ? { Condition: p.condition } : {}),
    })),
  };
}

/** The actions `command` needs, for its `--help`. */
export function actionsNeededBy(command: OperatorCommand): string[] {
  return OPERATOR_PERMISSIONS.filter((p) => p.usedBy.includes(command)).flatMap((p) => p.actions);
}
