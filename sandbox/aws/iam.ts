/**
 * IAM as AWS enforces it, for the sandbox's AWS: every call to the model (through either face) is
 * evaluated, with its action and resource ARN, against the caller's identity policies from the
 * synthesized template (resolved as CloudFormation resolves them, ../boot/resolve.ts) and the
 * resource's own policy where the template gives one. The evaluation is @cloud-copilot/iam-simulate,
 * a maintained IAM engine (AGPL-3.0: a dev dependency, never bundled into the app or a Lambda).
 *
 * A denied call is an AwsError with AWS's own code and wording for that service, so the code under
 * test handles it as it would on AWS. Every decision is kept, for the IAM report.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { type ResolvableTemplate, resolveDeep, resolveIntrinsics, type SandboxValues, sandboxRef } from '../boot/resolve';
import { AwsError } from './model';

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Record<string, unknown>;
  readonly Principal?: unknown;
}
export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: readonly PolicyStatement[];
}
/** One identity policy of a principal: its name (the template's logical ID, or the managed policy's name) and document. */
export interface NamedPolicy {
  readonly name: string;
  readonly document: PolicyDocument;
  /** An AWS managed policy (its name is AWS's), not one of the template's own. */
  readonly managed?: true;
}

/**
 * The AWS managed policies the template attaches, as AWS publishes them (IAM console, policy
 * versions as of 2026-12: AWSLambdaBasicExecutionRole v1, AWSLambdaVPCAccessExecutionRole v3,
 * AmazonSSMManagedInstanceCore v3). A template that attaches another fails here by name, so its
 * document is added rather than silently left out of the evaluation.
 */
export const AWS_MANAGED_POLICIES: Record<string, PolicyDocument> = {
  'service-role/AWSLambdaBasicExecutionRole': {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'], Resource: '*' }],
  },
  'service-role/AWSLambdaVPCAccessExecutionRole': {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AWSLambdaVPCAccessExecutionPermissions',
        Effect: 'Allow',
        Action: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        Resource: '*',
      },
    ],
  },
  AmazonSSMManagedInstanceCore: {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: [
          'ssm:DescribeAssociation',
          'ssm:GetDeployablePatchSnapshotForInstance',
          'ssm:GetDocument',
          'ssm:DescribeDocument',
          'ssm:GetManifest',
          'ssm:GetParameter',
          'ssm:GetParameters',
          'ssm:ListAssociations',
          'ssm:ListInstanceAssociations',
          'ssm:PutInventory',
          'ssm:PutComplianceItems',
          'ssm:PutConfigurePackageResult',
          'ssm:UpdateAssociationStatus',
          'ssm:UpdateInstanceAssociationStatus',
          'ssm:UpdateInstanceInformation',
        ],
        Resource: '*',
      },
      {
        Effect: 'Allow',
        Action: [
          'ssmmessages:CreateControlChannel',
          'ssmmessages:CreateDataChannel',
          'ssmmessages:OpenControlChannel',
          'ssmmessages:OpenDataChannel',
        ],
        Resource: '*',
      },
      {
        Effect: 'Allow',
        Action: [
          'ec2messages:AcknowledgeMessage',
          'ec2messages:DeleteMessage',
          'ec2messages:FailMessage',
          'ec2messages:GetEndpoint',
          'ec2messages:GetMessages',
          'ec2messages:SendReply',
        ],
        Resource: '*',
      },
    ],
  },
};

type Resource = { readonly Type: string; readonly Properties?: Record<string, unknown> };

const refsRole = (roles: unknown, roleId: string): boolean =>
  Array.isArray(roles) && roles.some((r) => (r as { Ref?: string })?.Ref === roleId);

/** Each role of the template (by logical ID) with its identity policies, resolved as CloudFormation resolves them. */
export function templatePrincipals(t: ResolvableTemplate, v: SandboxValues): Map<string, NamedPolicy[]> {
  const res = t.Resources as Record<string, Resource>;
  const principals = new Map<string, NamedPolicy[]>();
  for (const [roleId, role] of Object.entries(res)) {
    if (role.Type !== 'AWS::IAM::Role') continue;
    const policies: NamedPolicy[] = [];
    for (const arn of (role.Properties?.ManagedPolicyArns as unknown[]) ?? []) {
      const resolved = resolveIntrinsics(arn, t, v);
      const name = resolved.replace(/^arn:aws:iam::aws:policy\//, '');
      const document = AWS_MANAGED_POLICIES[name];
      if (!document) throw new Error(`${roleId} attaches ${resolved}, whose document sandbox/aws/iam.ts does not have; add it`);
      policies.push({ name, document, managed: true });
    }
    for (const p of (role.Properties?.Policies as Array<{ PolicyName: string; PolicyDocument: unknown }>) ?? []) {
      policies.push({ name: `${roleId}/${p.PolicyName}`, document: resolveDeep(p.PolicyDocument, t, v) as PolicyDocument });
    }
    for (const [policyId, p] of Object.entries(res)) {
      if ((p.Type === 'AWS::IAM::Policy' || p.Type === 'AWS::IAM::ManagedPolicy') && refsRole(p.Properties?.Roles, roleId)) {
        policies.push({ name: policyId, document: resolveDeep(p.Properties?.PolicyDocument, t, v) as PolicyDocument });
      }
    }
    principals.set(roleId, policies);
  }
  return principals;
}

/** Resource policies of the template, by the ARN of the resource they guard (Secrets Manager's, today). */
export function templateResourcePolicies(t: ResolvableTemplate, v: SandboxValues): Map<string, PolicyDocument> {
  const out = new Map<string, PolicyDocument>();
  for (const r of Object.values(t.Resources as Record<string, Resource>)) {
    if (r.Type !== 'AWS::SecretsManager::ResourcePolicy') continue;
    const secret = (r.Properties?.SecretId as { Ref?: string })?.Ref;
    if (!secret) throw new Error('a secret resource policy whose SecretId is not a Ref');
    out.set(sandboxRef(t, v, secret), resolveDeep(r.Properties?.ResourcePolicy, t, v) as PolicyDocument);
  }
  return out;
}

/** The request's context keys that conditions test (e.g. `aws:TagKeys` of a CreateTags). */
export type RequestContext = Readonly<Record<string, string | readonly string[]>>;

/** One evaluated call. */
export interface IamDecision {
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly allowed: boolean;
  /** The statements that allowed it, as `policy#Sid` (or `policy#N`, N counting from 1). */
  readonly allowedBy: readonly string[];
  readonly at: number;
}

/** Where the AWS is: what ARNs are built from. */
export interface IamWhere {
  readonly region: string;
  readonly accountId: string;
}

/**
 * The ARN of each resource a modelled call acts on, as AWS builds it for authorization; one copy
 * for both faces. An action with no resource-level permission is authorized on `*`.
 */
export const resourceArn = {
  secret: (w: IamWhere, id: string) => (id.startsWith('arn:') ? id : `arn:aws:secretsmanager:${w.region}:${w.accountId}:secret:${id}`),
  table: (w: IamWhere, name: string) => `arn:aws:dynamodb:${w.region}:${w.accountId}:table/${name}`,
  object: (_w: IamWhere, bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`,
  /** Auto Scaling puts the group's ID in its ARN; the sandbox's is fixed, as policies match it with `*`. */
  group: (w: IamWhere, name: string) =>
    `arn:aws:autoscaling:${w.region}:${w.accountId}:autoScalingGroup:5a4db0c5-0000-4000-8000-000000000000:autoScalingGroupName/${name}`,
  instance: (w: IamWhere, id: string) => `arn:aws:ec2:${w.region}:${w.accountId}:instance/${id}`,
  stack: (w: IamWhere, name: string) =>
    `arn:aws:cloudformation:${w.region}:${w.accountId}:stack/${name}/5a4db0c5-0000-4000-8000-000000000000`,
};

/** The IAM prefix of each SDK client, by its `serviceId`. */
const IAM_PREFIX: Record<string, string> = {
  'Auto Scaling': 'autoscaling',
  S3: 's3',
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

/**
 * What one call is authorized as: its IAM action and each resource ARN it acts on (`*` where the
 * action has no resource-level permission), from the service (an SDK client's `serviceId`), the
 * operation and its input as the SDK names them. One copy for both faces: the HTTP endpoint and
 * SDK clients under `withIam` (./sdk-iam.ts).
 */
export function authorizationOf(
  serviceId: string,
  commandName: string,
  input: Record<string, unknown>,
  w: IamWhere,
  lookup: IamLookup = {},
): Array<{ action: string; resource: string; context?: RequestContext }> {
  const prefix = IAM_PREFIX[serviceId];
  if (!prefix) throw new Error(`no IAM prefix known for the SDK service ${serviceId}; add it to sandbox/aws/iam.ts`);
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
    case 's3':
      // HeadObject is authorized as s3:GetObject.
      return [{ action: 's3:GetObject', resource: resourceArn.object(w, String(input.Bucket), String(input.Key)) }];
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

/** The protocol family of a service's errors: what AWS calls a denial in each. */
export type DenialShape = 'json' | 'dynamodb' | 'query' | 'ec2' | 's3';

/** AWS's denial for each protocol family: its code and HTTP status. */
export const DENIAL: Record<DenialShape, { readonly code: string; readonly status: number }> = {
  json: { code: 'AccessDeniedException', status: 400 },
  dynamodb: { code: 'AccessDeniedException', status: 400 },
  query: { code: 'AccessDenied', status: 403 },
  ec2: { code: 'UnauthorizedOperation', status: 403 },
  s3: { code: 'AccessDenied', status: 403 },
};

/** The service prefix an action belongs to, for its denial's shape. */
export function denialShapeOf(action: string): DenialShape {
  const service = action.split(':')[0];
  if (service === 'dynamodb') return 'dynamodb';
  if (service === 'ec2') return 'ec2';
  if (service === 's3') return 's3';
  if (['elasticloadbalancing', 'autoscaling', 'cloudformation', 'cloudwatch'].includes(service)) return 'query';
  return 'json';
}

export class IamEnforcer {
  readonly decisions: IamDecision[] = [];
  private readonly principals: Map<string, NamedPolicy[]>;
  private readonly resourcePolicies: Map<string, PolicyDocument>;

  /** The template's principals; `extra` adds principals it does not hold (an operator, with the policy it ships). */
  constructor(
    readonly where: IamWhere,
    principals: Map<string, NamedPolicy[]>,
    resourcePolicies: Map<string, PolicyDocument> = new Map(),
  ) {
    this.principals = new Map(principals);
    this.resourcePolicies = resourcePolicies;
  }

  static fromTemplate(t: ResolvableTemplate, v: SandboxValues): IamEnforcer {
    return new IamEnforcer(v, templatePrincipals(t, v), templateResourcePolicies(t, v));
  }

  /**
   * Principals each with one policy allowing exactly `actions` on any resource: for tests of
   * something other than the template's policies (the model's two faces, a bundle's calls).
   */
  static allowing(where: IamWhere, grants: Record<string, readonly string[]>): IamEnforcer {
    const principals = new Map(
      Object.entries(grants).map(([p, actions]): [string, NamedPolicy[]] => [
        p,
        [
          {
            name: `${p}-test-grant`,
            document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }] },
          },
        ],
      ]),
    );
    return new IamEnforcer(where, principals);
  }

  /** Give `principal` exactly these policies (a principal the template does not define, such as an operator). */
  setPolicies(principal: string, policies: NamedPolicy[]): void {
    this.principals.set(principal, policies);
  }

  policiesOf(principal: string): readonly NamedPolicy[] {
    return this.principals.get(principal) ?? [];
  }

  principalNames(): string[] {
    return [...this.principals.keys()];
  }

  /** The caller as AWS names it in a denial: the role's session. */
  callerArn(principal: string): string {
    return `arn:aws:sts::${this.where.accountId}:assumed-role/${principal}/nlb-ftp-sandbox`;
  }

  /** Evaluate one call; throw AWS's denial as an AwsError when it is not allowed. */
  async authorize(principal: string, action: string, resource: string, context: RequestContext = {}): Promise<void> {
    const d = await this.evaluate(principal, action, resource, context);
    if (d.allowed) return;
    const shape = DENIAL[denialShapeOf(action)];
    const on = resource === '*' ? '' : ` on resource: ${resource}`;
    const why = d.explicit
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${action} action`;
    const prefix = shape.code === 'UnauthorizedOperation' ? 'You are not authorized to perform this operation. ' : '';
    throw new AwsError(
      shape.code,
      `${prefix}User: ${this.callerArn(principal)} is not authorized to perform: ${action}${on} ${why}`,
      shape.status,
    );
  }

  /** The decision for one call, recorded. */
  async evaluate(
    principal: string,
    action: string,
    resource: string,
    context: RequestContext = {},
  ): Promise<IamDecision & { explicit: boolean }> {
    const policies = this.principals.get(principal);
    if (!policies) throw new Error(`the sandbox has no principal ${principal}`);
    const result = await runSimulation(
      {
        identityPolicies: policies.map((p) => ({ name: p.name, policy: p.document as unknown as Record<string, unknown> })),
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: this.resourcePolicies.get(resource) as Record<string, unknown> | undefined,
        request: {
          action,
          principal: this.callerArn(principal),
          resource: { accountId: this.where.accountId, resource },
          contextVariables: { ...context } as Record<string, string | string[]>,
        },
      },
      {},
    );
    // An evaluation error is a sandbox bug (an action name or ARN AWS would not accept): fail loudly.
    if (result.resultType === 'error') throw new Error(`IAM evaluation of ${action} on ${resource}: ${JSON.stringify(result.errors)}`);
    const allowed = result.overallResult === 'Allowed';
    const single = result.resultType === 'single' ? result.result : undefined;
    const allowedBy = (single?.analysis?.identityAnalysis?.allowStatements ?? []).map(
      (s: { policyId?: string; explain?: { identifier?: string } }) => `${s.policyId}#${s.explain?.identifier}`,
    );
    const decision = { principal, action, resource, allowed, allowedBy, at: Date.now() };
    this.decisions.push(decision);
    return { ...decision, explicit: result.overallResult === 'ExplicitlyDenied' };
  }
}

/**
 * What each principal used in this run, and which of its statements in the template nothing used
 * (`npm run sandbox -- --iam-report`). Statements of AWS managed policies are left out: they are
 * AWS's, and the calls they grant (SSM, Lambda's own logs) never reach the sandbox's endpoint.
 */
export function iamReport(iam: IamEnforcer): string {
  const lines: string[] = [];
  for (const principal of iam.principalNames()) {
    const mine = iam.decisions.filter((d) => d.principal === principal);
    const used = [...new Set(mine.filter((d) => d.allowed).map((d) => d.action))].sort();
    const denied = [...new Set(mine.filter((d) => !d.allowed).map((d) => d.action))].sort();
    const usedStatements = new Set(mine.flatMap((d) => d.allowedBy));
    const unused = iam
      .policiesOf(principal)
      .filter((p) => !p.managed)
      .flatMap((p) =>
        p.document.Statement.map((st, i) => ({ id: `${p.name}#${st.Sid ?? i + 1}`, actions: [st.Action].flat() })).filter(
          (st) => !usedStatements.has(st.id),
        ),
      );
    lines.push(`${principal}: ${mine.length} call(s) evaluated`);
    lines.push(`  used:   ${used.join(', ') || 'nothing'}`);
    if (denied.length) lines.push(`  denied: ${denied.join(', ')}`);
    lines.push(`  statements nothing used: ${unused.map((st) => `${st.id} (${st.actions.join(', ')})`).join('; ') || 'none'}`);
  }
  return lines.join('\n');
}
