/**
 * Helpers to read a synthesized CloudFormation template as data: flatten Fn::Join strings and
 * follow Ref / GetAtt to the resource they name.
 */

/** Render a value with intrinsics as text: `{"Ref": "X"}` -> `${Ref:X}`, GetAtt -> `${X.Attr}`. */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if ('Fn::Base64' in v) return flatten(v['Fn::Base64']);
    if ('Fn::Join' in v) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(sep);
    }
    if ('Ref' in v) return `\${Ref:${v.Ref}}`;
    // An asset's bucket: `cdk-...-${AWS::AccountId}-${AWS::Region}`, its own placeholders kept.
    if (typeof v['Fn::Sub'] === 'string') return v['Fn::Sub'];
    if ('Fn::GetAtt' in v) {
      const [res, attr] = v['Fn::GetAtt'] as [string, string];
      return `\${${res}.${attr}}`;
    }
  }
  return JSON.stringify(value);
}

/** The logical ID a `{"Ref": ...}` or `{"Fn::GetAtt": [...]}` points at. */
export function refOf(value: unknown): string {
  const v = value as Record<string, unknown>;
  if (typeof v?.Ref === 'string') return v.Ref;
  if (Array.isArray(v?.['Fn::GetAtt'])) return (v['Fn::GetAtt'] as string[])[0];
  throw new Error(`not a reference: ${JSON.stringify(value)}`);
}
