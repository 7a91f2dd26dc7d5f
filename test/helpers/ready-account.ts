/**
 * An AWS account where a first deploy of the default configuration works, as preflight reads it:
 * stubs for every call it makes. Shared by the preflight test and the operator-policy test.
 */
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeAccountAttributesCommand,
  DescribeAddressesCommand,
  DescribeAvailabilityZonesCommand,
  DescribeInstanceTypeOfferingsCommand,
} from '@aws-sdk/client-ec2';
import {
  DescribeAccountLimitsCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetAccountSettingsCommand } from '@aws-sdk/client-lambda';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import type { AwsStub } from 'aws-sdk-client-mock';

// biome-ignore lint/suspicious/noExplicitAny: each stub is of a different client
type Stub = AwsStub<any, any, any>;
export interface AccountStubs {
  readonly cfn: Stub;
  readonly ec2: Stub;
  readonly elb: Stub;
  readonly lambda: Stub;
  readonly ssm: Stub;
}

export const notExist = (name: string) => Object.assign(new Error(`Stack with id ${name} does not exist`), { name: 'ValidationError' });

/** An account where a first deploy of the defaults works. */
export function readyAccount({ cfn, ec2, elb, lambda, ssm }: AccountStubs): void {
  cfn.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).resolves({
    Stacks: [
      {
        StackName: 'CDKToolkit',
        StackStatus: 'UPDATE_COMPLETE',
        CreationTime: new Date(0),
        Outputs: [{ OutputKey: 'BootstrapVersion', OutputValue: '28' }],
      },
    ],
  });
  cfn.on(DescribeStacksCommand, { StackName: 'NlbFtp' }).rejects(notExist('NlbFtp'));
  ec2.on(DescribeAccountAttributesCommand).resolves({
    AccountAttributes: [
      { AttributeName: 'supported-platforms', AttributeValues: [{ AttributeValue: 'VPC' }] },
      { AttributeName: 'vpc-max-elastic-ips', AttributeValues: [{ AttributeValue: '5' }] },
    ],
  });
  ec2.on(DescribeAddressesCommand).resolves({ Addresses: [] });
  ec2.on(DescribeAvailabilityZonesCommand).resolves({
    AvailabilityZones: [{ ZoneName: 'eu-west-1b' }, { ZoneName: 'eu-west-1a' }, { ZoneName: 'eu-west-1c' }],
  });
  ec2.on(DescribeInstanceTypeOfferingsCommand).resolves({
    InstanceTypeOfferings: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'].map((Location) => ({ Location, InstanceType: 't4g.small' })),
  });
  elb.on(DescribeAccountLimitsCommand).resolves({
    Limits: [
      { Name: 'network-load-balancers', Max: '50' },
      { Name: 'target-groups', Max: '3000' },
      { Name: 'listeners-per-network-load-balancer', Max: '50' },
      { Name: 'targets-per-network-load-balancer', Max: '3000' },
    ],
  });
  elb.on(DescribeLoadBalancersCommand).resolves({ LoadBalancers: [] });
  elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [] });
  lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { ConcurrentExecutions: 10, UnreservedConcurrentExecutions: 10 } });
  ssm.on(GetParameterCommand).resolves({ Parameter: { Name: 'x', Value: 'ami-0123456789abcdef0' } });
}
