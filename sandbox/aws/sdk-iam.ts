/**
 * IAM on SDK clients: each command a client sends is first authorized by the IamEnforcer (./iam.ts)
 * as the principal the client stands for, and a denial is thrown as the SDK throws AWS's. For code
 * that is tested through injected SDK clients (the operator commands) rather than the HTTP endpoint;
 * it works with whatever answers behind the client (the model's mocks, a test's own stubs).
 */
import { type IamEnforcer, type IamWhere, type RequestContext, resourceArn } from './iam';
import { AwsError } from './model';
import { sdkError } from './sdk-mock';

/** The IAM prefix of each SDK client, by its `serviceId`. */
const IAM_PREFIX: Record<string, string> = {
  'Auto Scaling': 'autoscaling',
  'CloudWatch Logs': 'logs',
  CloudFormation: 'cloudformation',
  CloudWatch: 'cloudwatch',
  DynamoDB: 'dynamodb',
  EC2: 'ec2',
  'Elastic Load Balancing v2': 'elasticloadbalancing',
  Lambda: 'lambda',
  'Secrets Manager': 'secretsmanager',
  SSM: 'ssm',
};

export interface IamLookup {
  /** The Auto Scaling group an instance belongs to (TerminateInstanceInAutoScalingGroup names only the instance). */
  readonly groupOfInstance?: (instanceId: string) => string | undefined;
}

/** What one SDK command is authorized as: its IAM action and each resource ARN it acts on (`*` where the action has no resource-level permission). */
export function authorizationOf(
  serviceId: string,
  commandName: string,
  input: Record<string, unknown>,
  w: IamWhere,
  lookup: IamLookup = {},
): Array<{ action: string; resource: string; context?: RequestContext }> {
  const prefix = IAM_PREFIX[serviceId];
  if (!prefix) throw new Error(`no IAM prefix known for the SDK service ${serviceId}; add it to sandbox/aws/sdk-iam.ts`);
  const op = commandName.replace(/Command$/, '');
  const action = `${prefix}:${op}`;
  const one = (resource: string) => [{ action, resource }];
  switch (prefix) {
    case 'cloudformation':
      return one(typeof input.StackName === 'string' ? resourceArn.stack(w, input.StackName) : '*');
    case 'autoscaling': {
      if (typeof input.AutoScalingGroupName === 'string') return one(resourceArn.group(w, input.AutoScalingGroupName));
      if (op === 'TerminateInstanceInAutoScalingGroup') {
        const group = lookup.groupOfInstance?.(String(input.InstanceId));
        if (!group) throw new Error(`cannot authorize ${action}: which group holds ${String(input.InstanceId)} is unknown`);
        return one(resourceArn.group(w, group));
      }
      return one('*');
    }
    case 'elasticloadbalancing':
      return one(typeof input.TargetGroupArn === 'string' && !op.startsWith('Describe') ? input.TargetGroupArn : '*');
    case 'ec2':
      if (op === 'CreateTags' || op === 'DeleteTags') {
        const context = { 'aws:TagKeys': ((input.Tags as Array<{ Key?: string }>) ?? []).map((t) => String(t.Key)) };
        return ((input.Resources as string[]) ?? []).map((id) => ({ action, resource: resourceArn.instance(w, id), context }));
      }
      return one('*');
    case 'ssm': {
      // AWS's public parameters (/aws/service/...) are documented with an empty account field; the
      // IAM engine needs one, and a policy's `*` account matches either.
      const name = String(input.Name ?? '');
      return one(`arn:aws:ssm:${w.region}:${w.accountId}:parameter${name.startsWith('/') ? name : `/${name}`}`);
    }
    case 'secretsmanager':
      return one(resourceArn.secret(w, String(input.SecretId ?? '')));
    case 'logs':
      // CloudWatch Logs authorizes log-group actions on the group's ARN with its `:*` suffix.
      return one(
        typeof input.logGroupName === 'string' ? `arn:aws:logs:${w.region}:${w.accountId}:log-group:${input.logGroupName}:*` : '*',
      );
    case 'dynamodb':
      return one(resourceArn.table(w, String(input.TableName ?? '')));
    default:
      return one('*');
  }
}

type SdkClient = { send: (command: never, ...rest: never[]) => Promise<unknown>; config: { serviceId?: string } };

/**
 * The same client, every command authorized first as `principal`. Each decision is recorded by
 * the enforcer; `onCall` hears every action tried.
 */
export function withIam<C extends SdkClient>(client: C, iam: IamEnforcer, principal: string, lookup: IamLookup = {}): C {
  const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  const serviceId = client.config.serviceId ?? '';
  const guarded = async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
    for (const { action, resource, context } of authorizationOf(
      serviceId,
      command.constructor.name,
      command.input ?? {},
      iam.where,
      lookup,
    )) {
      try {
        await iam.authorize(principal, action, resource, context);
      } catch (err) {
        throw err instanceof AwsError ? sdkError(err) : err;
      }
    }
    return send(command);
  };
  Object.assign(client, { send: guarded });
  return client;
}
