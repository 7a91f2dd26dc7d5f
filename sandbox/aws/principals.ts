/**
 * The template's principals, by the logical ID of their role: what the sandbox issues credentials
 * to (sandbox/aws/sigv4.ts), so each call to the local endpoint is made as the role that makes it
 * on AWS. Read from the synthesized template; a shape it does not expect is an error by name.
 */
type Resource = { readonly Type: string; readonly Properties?: Record<string, unknown> };
type Template = { readonly Resources: Record<string, Resource> };

function refOrGetAtt(value: unknown, what: string): string {
  const v = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] } | undefined;
  const id = v?.Ref ?? v?.['Fn::GetAtt']?.[0];
  if (!id) throw new Error(`${what}: expected a Ref or Fn::GetAtt, found ${JSON.stringify(value)}`);
  return id;
}

/** The role of a slot's instances: group -> launch template -> instance profile -> its role. */
export function instanceRoleOf(t: Template, groupLogicalId: string): string {
  const group = t.Resources[groupLogicalId];
  const lt = refOrGetAtt(
    (group?.Properties?.LaunchTemplate as { LaunchTemplateId?: unknown })?.LaunchTemplateId,
    `${groupLogicalId} launch template`,
  );
  const data = t.Resources[lt]?.Properties?.LaunchTemplateData as { IamInstanceProfile?: { Arn?: unknown } } | undefined;
  const profile = refOrGetAtt(data?.IamInstanceProfile?.Arn, `${lt} instance profile`);
  const roles = t.Resources[profile]?.Properties?.Roles as unknown[] | undefined;
  return refOrGetAtt(roles?.[0], `${profile} role`);
}

/** The Lambda function whose logical ID starts with `prefix`: its logical ID and resource. */
export function functionOf(t: Template, prefix: string): [string, Resource] {
  const fn = Object.entries(t.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(prefix));
  if (!fn) throw new Error(`the template has no Lambda function ${prefix}*`);
  return fn;
}

/** The role of the Lambda function whose logical ID starts with `prefix`. */
export function functionRoleOf(t: Template, prefix: string): string {
  const [id, fn] = functionOf(t, prefix);
  return refOrGetAtt(fn.Properties?.Role, `${id} role`);
}
