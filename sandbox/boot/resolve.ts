/**
 * CloudFormation's intrinsic functions, resolved to the sandbox's own values as CloudFormation
 * would resolve them to the real ones at deploy time, so the sandbox can run a launch template's
 * user data byte for byte and evaluate the template's IAM policies against the ARNs the sandbox's
 * AWS model uses (sandbox/aws/iam.ts). Only the resource types nlb-ftp refers to; anything else is
 * refused by name, so a new token fails loudly here instead of reaching a boot as `${...}` or a
 * policy as a wrong ARN. Pure.
 */
import { createHash } from 'node:crypto';

type Resource = { readonly Type: string; readonly Properties?: Record<string, unknown> };
export type ResolvableTemplate = { readonly Resources: Record<string, Resource> };

export interface SandboxValues {
  readonly region: string;
  readonly accountId: string;
  /** The NLB's public address: what each `AWS::EC2::EIP` PublicIp resolves to. */
  readonly publicIp: string;
  /** The file system ID every `AWS::EFS::FileSystem` Ref resolves to. */
  readonly fileSystemId: string;
  /** What a VPC's CidrBlock resolves to: the range the health checker's probes come from. */
  readonly vpcCidr: string;
  /** The physical IDs the custom resources the sandbox ran answered (logical ID -> Ref). */
  readonly customResources?: ReadonlyMap<string, string>;
}

/** The sandbox's ARN for a secret of the template (what Ref of an AWS::SecretsManager::Secret returns). */
export function sandboxSecretArn(v: SandboxValues, logicalId: string): string {
  return `arn:aws:secretsmanager:${v.region}:${v.accountId}:secret:${logicalId}-SbXaBc`;
}

/** A stable hex digest of a logical ID: the unique part of a physical ID CloudFormation would generate. */
const digest = (id: string, n: number): string => createHash('sha256').update(id).digest('hex').slice(0, n);

/**
 * The physical name CloudFormation generates for a resource without one (a readable prefix of the
 * logical ID and a unique suffix, within the service's length limit), or the name the template sets.
 */
function physicalName(r: Resource, id: string, nameProperty: string, max: number): string {
  const given = r.Properties?.[nameProperty];
  if (typeof given === 'string') return given;
  const suffix = digest(id, 12).toUpperCase();
  return `${id.slice(0, max - suffix.length - 1)}-${suffix}`;
}

/** What a resource's Ref and Fn::GetAtt give, by type: its ARN and names in the sandbox's account and region. */
function physical(t: ResolvableTemplate, v: SandboxValues, id: string): { ref: string; attrs: Record<string, string> } | undefined {
  const r = t.Resources[id];
  if (!r) throw new Error(`the template refers to ${id}, which it does not define`);
  const at = `${v.region}:${v.accountId}`;
  switch (r.Type) {
    case 'AWS::SecretsManager::Secret':
      return { ref: sandboxSecretArn(v, id), attrs: {} };
    case 'AWS::EFS::FileSystem':
      return { ref: v.fileSystemId, attrs: {} };
    case 'AWS::AutoScaling::AutoScalingGroup':
      return { ref: String(r.Properties?.AutoScalingGroupName ?? id), attrs: {} };
    case 'AWS::ElasticLoadBalancingV2::TargetGroup': {
      // ELB: target group names are at most 32 characters; the ARN ends in a 16-hex-digit ID.
      const name = physicalName(r, id, 'Name', 32);
      const fullName = `targetgroup/${name}/${digest(id, 16)}`;
      return {
        ref: `arn:aws:elasticloadbalancing:${at}:${fullName}`,
        attrs: { TargetGroupFullName: fullName, TargetGroupName: name },
      };
    }
    case 'AWS::ElasticLoadBalancingV2::LoadBalancer': {
      // ELB: load balancer names are at most 32 characters; its DNS name is NAME-ID.elb.REGION.amazonaws.com.
      const name = physicalName(r, id, 'Name', 32);
      const fullName = `net/${name}/${digest(id, 16)}`;
      return {
        ref: `arn:aws:elasticloadbalancing:${at}:loadbalancer/${fullName}`,
        attrs: { LoadBalancerFullName: fullName, DNSName: `${name}-${digest(id, 10)}.elb.${v.region}.amazonaws.com`.toLowerCase() },
      };
    }
    case 'AWS::DynamoDB::Table': {
      const name = physicalName(r, id, 'TableName', 255);
      return { ref: name, attrs: { Arn: `arn:aws:dynamodb:${at}:table/${name}` } };
    }
    case 'AWS::Logs::LogGroup': {
      const name = physicalName(r, id, 'LogGroupName', 512);
      return { ref: name, attrs: { Arn: `arn:aws:logs:${at}:log-group:${name}:*` } };
    }
    case 'AWS::IAM::Role': {
      const name = physicalName(r, id, 'RoleName', 64);
      return { ref: name, attrs: { Arn: `arn:aws:iam::${v.accountId}:role/${name}` } };
    }
    case 'AWS::Lambda::Function': {
      const name = physicalName(r, id, 'FunctionName', 64);
      return { ref: name, attrs: { Arn: `arn:aws:lambda:${at}:function:${name}` } };
    }
    case 'AWS::KMS::Key': {
      const keyId = `${digest(id, 8)}-${digest(id, 12).slice(0, 4)}-4${digest(id, 7).slice(4)}-8${digest(id, 10).slice(7)}-${digest(id, 24).slice(12)}`;
      return { ref: keyId, attrs: { Arn: `arn:aws:kms:${at}:key/${keyId}`, KeyId: keyId } };
    }
    case 'AWS::EC2::VPC':
      return {
        ref: `vpc-${digest(id, 17)}`,
        attrs: { DefaultSecurityGroup: `sg-${digest(`${id}/default`, 17)}`, CidrBlock: v.vpcCidr },
      };
    case 'AWS::EC2::SecurityGroup':
      return { ref: `sg-${digest(id, 17)}`, attrs: { GroupId: `sg-${digest(id, 17)}` } };
    case 'AWS::SNS::Topic': {
      const name = physicalName(r, id, 'TopicName', 256);
      return { ref: `arn:aws:sns:${at}:${name}`, attrs: { TopicName: name } };
    }
    default: {
      // A custom resource's Ref is what its function answered, once the sandbox has run it.
      const answered = r.Type.startsWith('Custom::') ? v.customResources?.get(id) : undefined;
      return answered === undefined ? undefined : { ref: answered, attrs: {} };
    }
  }
}

function refOfResource(t: ResolvableTemplate, v: SandboxValues, id: string): string {
  const pseudo: Record<string, string> = {
    'AWS::Region': v.region,
    'AWS::AccountId': v.accountId,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
  };
  if (pseudo[id] !== undefined) return pseudo[id];
  const p = physical(t, v, id);
  if (p) return p.ref;
  throw new Error(`the sandbox has no value for Ref ${id} (${t.Resources[id].Type}); add one to sandbox/boot/resolve.ts`);
}

function getAtt(t: ResolvableTemplate, v: SandboxValues, id: string, attr: string): string {
  const r = t.Resources[id];
  if (r?.Type === 'AWS::EC2::EIP' && attr === 'PublicIp') return v.publicIp;
  const value = r && physical(t, v, id)?.attrs[attr];
  if (value !== undefined) return value;
  throw new Error(`the sandbox has no value for Fn::GetAtt ${id}.${attr} (${r?.Type ?? 'not in the template'})`);
}

/** The physical ID (what Ref gives) of the template's resource `id`, as the sandbox names it. */
export function sandboxRef(t: ResolvableTemplate, v: SandboxValues, id: string): string {
  return refOfResource(t, v, id);
}

/** Fn::GetAtt `id`.`attr` as the sandbox resolves it. */
export function sandboxGetAtt(t: ResolvableTemplate, v: SandboxValues, id: string, attr: string): string {
  return getAtt(t, v, id, attr);
}

const INTRINSICS = new Set(['Fn::Base64', 'Fn::Join', 'Ref', 'Fn::GetAtt', 'Fn::Sub']);

/**
 * A whole structure (a policy document) with every intrinsic in it resolved: objects and arrays
 * are walked, and an object whose one key is an intrinsic function becomes its text.
 */
export function resolveDeep(value: unknown, t: ResolvableTemplate, v: SandboxValues): unknown {
  if (Array.isArray(value)) return value.map((x) => resolveDeep(x, t, v));
  if (!value || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && (INTRINSICS.has(keys[0]) || keys[0].startsWith('Fn::'))) return resolveIntrinsics(value, t, v);
  return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, resolveDeep(x, t, v)]));
}

/** A value with intrinsics as the text CloudFormation makes of it; Fn::Base64 yields the text EC2 decodes. */
export function resolveIntrinsics(value: unknown, t: ResolvableTemplate, v: SandboxValues): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`cannot resolve ${JSON.stringify(value)}`);
  const o = value as Record<string, unknown>;
  const [fn] = Object.keys(o);
  const arg = o[fn];
  switch (fn) {
    case 'Fn::Base64':
      return resolveIntrinsics(arg, t, v);
    case 'Fn::Join': {
      const [sep, parts] = arg as [string, unknown[]];
      return parts.map((p) => resolveIntrinsics(p, t, v)).join(sep);
    }
    case 'Ref':
      return refOfResource(t, v, String(arg));
    case 'Fn::GetAtt': {
      const [id, attr] = (typeof arg === 'string' ? arg.split('.') : arg) as [string, string];
      return getAtt(t, v, id, attr);
    }
    case 'Fn::Sub': {
      const [text, vars] = (typeof arg === 'string' ? [arg, {}] : arg) as [string, Record<string, unknown>];
      return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
        if (vars[name] !== undefined) return resolveIntrinsics(vars[name], t, v);
        if (name.includes('.')) {
          const [id, attr] = name.split('.');
          return getAtt(t, v, id, attr);
        }
        return refOfResource(t, v, name);
      });
    }
    default:
      throw new Error(`the sandbox cannot resolve ${fn}`);
  }
}
