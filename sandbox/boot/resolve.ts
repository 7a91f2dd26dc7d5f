/**
 * CloudFormation's intrinsic functions, resolved to the sandbox's own values as CloudFormation
 * would resolve them to the real ones at deploy time, so the sandbox can run a launch template's
 * user data byte for byte. Only what nlb-ftp's user data uses; anything else is refused by name,
 * so a new token in the user data fails loudly here instead of reaching a boot as `${...}`. Pure.
 */

type Resource = { readonly Type: string; readonly Properties?: Record<string, unknown> };
export type ResolvableTemplate = { readonly Resources: Record<string, Resource> };

export interface SandboxValues {
  readonly region: string;
  readonly accountId: string;
  /** The NLB's public address: what each `AWS::EC2::EIP` PublicIp resolves to. */
  readonly publicIp: string;
  /** The file system ID every `AWS::EFS::FileSystem` Ref resolves to. */
  readonly fileSystemId: string;
}

/** The sandbox's ARN for a secret of the template (what Ref of an AWS::SecretsManager::Secret returns). */
export function sandboxSecretArn(v: SandboxValues, logicalId: string): string {
  return `arn:aws:secretsmanager:${v.region}:${v.accountId}:secret:${logicalId}-SbXaBc`;
}

function refOfResource(t: ResolvableTemplate, v: SandboxValues, id: string): string {
  const pseudo: Record<string, string> = {
    'AWS::Region': v.region,
    'AWS::AccountId': v.accountId,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
  };
  if (pseudo[id] !== undefined) return pseudo[id];
  const r = t.Resources[id];
  if (!r) throw new Error(`user data refers to ${id}, which the template does not define`);
  switch (r.Type) {
    case 'AWS::SecretsManager::Secret':
      return sandboxSecretArn(v, id);
    case 'AWS::EFS::FileSystem':
      return v.fileSystemId;
    case 'AWS::AutoScaling::AutoScalingGroup':
      return String(r.Properties?.AutoScalingGroupName ?? id);
    default:
      throw new Error(`the sandbox has no value for Ref ${id} (${r.Type}); add one to sandbox/boot/resolve.ts`);
  }
}

function getAtt(t: ResolvableTemplate, v: SandboxValues, id: string, attr: string): string {
  const r = t.Resources[id];
  if (r?.Type === 'AWS::EC2::EIP' && attr === 'PublicIp') return v.publicIp;
  throw new Error(`the sandbox has no value for Fn::GetAtt ${id}.${attr} (${r?.Type ?? 'not in the template'})`);
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
      throw new Error(`the sandbox cannot resolve ${fn} in user data`);
  }
}
