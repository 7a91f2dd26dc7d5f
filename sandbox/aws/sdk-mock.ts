/**
 * The SDK face of the AWS model (./model.ts): aws-sdk-client-mock stubs of every client nlb-ftp
 * uses, each command answered by the model's operation, each AwsError thrown as the SDK throws a
 * service error (its `name` is AWS's code; DynamoDB's conditional failure is the SDK's own class,
 * so `instanceof` holds). Unit and handler tests use it; the sandbox uses the HTTP face.
 */
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  ResumeProcessesCommand,
  SetInstanceProtectionCommand,
  SuspendProcessesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  type DynamoDBClientResolvedConfig,
  type ServiceInputTypes as DynamoInput,
  type ServiceOutputTypes as DynamoOutput,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateTagsCommand, DeleteTagsCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  InvalidTargetException,
  RegisterTargetsCommand,
  TargetGroupNotFoundException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type AwsStub, mockClient } from 'aws-sdk-client-mock';
import { AwsError, type AwsModel, type DynamoItem } from './model';

/**
 * The SDK's own exception class for a code its service models (the query protocol's wire code
 * `TargetGroupNotFound` is `TargetGroupNotFoundException` to the SDK). Other codes keep their name,
 * as the SDK names an error it has no class for.
 */
const MODELED_EXCEPTIONS: Record<string, new (o: { message: string; $metadata: object }) => Error> = {
  ConditionalCheckFailedException,
  TargetGroupNotFound: TargetGroupNotFoundException,
  InvalidTarget: InvalidTargetException,
};

/** An AwsError as the SDK throws it: its modeled class where it has one, else an Error named by the code. */
export function sdkError(err: AwsError): Error {
  const $metadata = { httpStatusCode: err.status };
  const Modeled = MODELED_EXCEPTIONS[err.code];
  if (Modeled) return new Modeled({ message: err.message, $metadata });
  return Object.assign(new Error(err.message), { name: err.code, $fault: 'client', $metadata });
}

/** Run a model operation; an AwsError becomes the error the SDK would throw. */
function sdk<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof AwsError)) throw err;
    throw sdkError(err);
  }
}

type DynamoStub = AwsStub<DynamoInput, DynamoOutput, DynamoDBClientResolvedConfig>;

function installDynamo(ddb: DynamoStub, model: AwsModel): void {
  ddb.on(GetItemCommand).callsFake((input) => sdk(() => ({ Item: model.getItem(input.TableName, input.Key as DynamoItem) })));
  ddb.on(PutItemCommand).callsFake((input) =>
    sdk(() => {
      model.putItem(input.TableName, input.Item as DynamoItem, input.ConditionExpression, input.ExpressionAttributeValues as DynamoItem);
      return {};
    }),
  );
  ddb.on(QueryCommand).callsFake((input) =>
    sdk(() => {
      const items = model.query(input.TableName, input.KeyConditionExpression, input.ExpressionAttributeValues as DynamoItem);
      return { Items: items, Count: items.length };
    }),
  );
  ddb.on(DeleteItemCommand).callsFake((input) =>
    sdk(() => {
      model.deleteItem(input.TableName, input.Key as DynamoItem);
      return {};
    }),
  );
}

/** One DynamoDB client (this instance only, not the class) whose tables are the model's. */
export function modelDynamoClient(model: AwsModel): DynamoDBClient {
  const client = new DynamoDBClient({ region: 'eu-west-1' });
  installDynamo(mockClient(client), model);
  return client;
}

export type MockedAws = ReturnType<typeof mockAwsClients>;

/** Stub every SDK client nlb-ftp uses with the model behind it. Call `restore()` when done. */
export function mockAwsClients(model: AwsModel) {
  const elb = mockClient(ElasticLoadBalancingV2Client);
  const ec2 = mockClient(EC2Client);
  const asg = mockClient(AutoScalingClient);
  const cfn = mockClient(CloudFormationClient);
  const ddb = mockClient(DynamoDBClient);
  const sm = mockClient(SecretsManagerClient);

  function install(): void {
    elb.on(DescribeTargetHealthCommand).callsFake((input) =>
      sdk(() => ({
        TargetHealthDescriptions: model
          .describeTargetHealth(input.TargetGroupArn)
          .map(({ id, state, port }) => ({ Target: { Id: id, Port: port }, TargetHealth: { State: state } })),
      })),
    );
    elb.on(RegisterTargetsCommand).callsFake((input) =>
      sdk(() => {
        model.registerTargets(
          input.TargetGroupArn,
          input.Targets.map((t: { Id: string }) => t.Id),
        );
        return {};
      }),
    );
    elb.on(DeregisterTargetsCommand).callsFake((input) =>
      sdk(() => {
        model.deregisterTargets(
          input.TargetGroupArn,
          input.Targets.map((t: { Id: string }) => t.Id),
        );
        return {};
      }),
    );
    ec2.on(DescribeInstancesCommand).callsFake((input) =>
      sdk(() => {
        const ids = input.Filters?.find((f: { Name?: string }) => f.Name === 'instance-id')?.Values ?? input.InstanceIds ?? [];
        return {
          Reservations: model.describeInstances(ids).map((i) => ({
            Instances: [
              {
                InstanceId: i.id,
                PrivateIpAddress: i.privateIp,
                State: { Name: i.state },
                Tags: Object.entries(i.tags).map(([Key, Value]) => ({ Key, Value })),
              },
            ],
          })),
        };
      }),
    );
    ec2.on(CreateTagsCommand).callsFake((input) =>
      sdk(() => {
        model.createTags(input.Resources, Object.fromEntries(input.Tags.map((t: { Key: string; Value: string }) => [t.Key, t.Value])));
        return {};
      }),
    );
    ec2.on(DeleteTagsCommand).callsFake((input) =>
      sdk(() => {
        model.deleteTags(
          input.Resources,
          (input.Tags ?? []).map((t: { Key: string }) => t.Key),
        );
        return {};
      }),
    );
    asg.on(DescribeAutoScalingGroupsCommand).callsFake((input) =>
      sdk(() => ({
        AutoScalingGroups: model.describeAutoScalingGroups(input.AutoScalingGroupNames ?? []).map((g) => ({
          AutoScalingGroupName: g.name,
          LaunchTemplate: { LaunchTemplateId: g.launchTemplateId, Version: g.version },
          MinSize: g.min,
          MaxSize: g.max,
          DesiredCapacity: g.desired,
          TargetGroupARNs: [...g.targetGroups],
          SuspendedProcesses: [...g.suspended].map((ProcessName) => ({ ProcessName })),
          Instances: g.instances.map((i) => ({
            InstanceId: i.id,
            LifecycleState: i.lifecycle,
            HealthStatus: 'Healthy',
            ProtectedFromScaleIn: i.protectedFromScaleIn,
            LaunchTemplate: { LaunchTemplateId: g.launchTemplateId, Version: i.version },
          })),
        })),
      })),
    );
    asg.on(CompleteLifecycleActionCommand).callsFake((input) =>
      sdk(() => {
        model.completeLifecycleAction({
          group: input.AutoScalingGroupName,
          hook: input.LifecycleHookName,
          instanceId: input.InstanceId ?? '',
          result: input.LifecycleActionResult,
        });
        return {};
      }),
    );
    asg.on(UpdateAutoScalingGroupCommand).callsFake((input) =>
      sdk(() => {
        model.updateAutoScalingGroup(input.AutoScalingGroupName, {
          min: input.MinSize,
          max: input.MaxSize,
          desired: input.DesiredCapacity,
        });
        return {};
      }),
    );
    asg.on(SetInstanceProtectionCommand).callsFake((input) =>
      sdk(() => {
        model.setInstanceProtection(input.AutoScalingGroupName, input.InstanceIds, input.ProtectedFromScaleIn);
        return {};
      }),
    );
    asg.on(SuspendProcessesCommand).callsFake((input) =>
      sdk(() => {
        model.suspendProcesses(input.AutoScalingGroupName, input.ScalingProcesses ?? []);
        return {};
      }),
    );
    asg.on(ResumeProcessesCommand).callsFake((input) =>
      sdk(() => {
        model.resumeProcesses(input.AutoScalingGroupName, input.ScalingProcesses ?? []);
        return {};
      }),
    );
    asg.on(TerminateInstanceInAutoScalingGroupCommand).callsFake((input) =>
      sdk(() => {
        model.terminateInstanceInAutoScalingGroup(input.InstanceId, input.ShouldDecrementDesiredCapacity);
        return {};
      }),
    );
    cfn.on(DescribeStacksCommand).callsFake((input) =>
      sdk(() => {
        const name = input.StackName as string;
        const outputs = model.describeStack(name);
        return {
          Stacks: [
            {
              StackName: name,
              StackStatus: 'UPDATE_COMPLETE',
              CreationTime: new Date(0),
              Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
            },
          ],
        };
      }),
    );
    installDynamo(ddb, model);
    sm.on(GetSecretValueCommand).callsFake((input) =>
      sdk(() => {
        const s = model.getSecretValue(input.SecretId);
        return { ARN: s.arn, Name: s.arn, SecretString: s.value, VersionId: 'v1' };
      }),
    );
  }
  install();

  return {
    elb,
    ec2,
    asg,
    cfn,
    ddb,
    sm,
    /** Forget the recorded calls and any per-test stub; the model keeps its state. */
    reset(): void {
      for (const m of [elb, ec2, asg, cfn, ddb, sm]) m.reset();
      install();
    },
    restore(): void {
      for (const m of [elb, ec2, asg, cfn, ddb, sm]) m.restore();
    },
  };
}
