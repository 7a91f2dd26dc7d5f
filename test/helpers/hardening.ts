/**
 * Security checks over a synthesized template, used both on the real stack (expect nothing) and
 * on deliberately broken test-only stacks (expect findings), so each check is proven able to fail.
 */

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;
type Statement = { Effect?: string; Action?: string | string[]; Resource?: unknown; NotResource?: unknown };

/** Actions whose APIs accept no resource-level permission, so `*` is the narrowest grant. */
export const ACTIONS_WITHOUT_RESOURCE_SCOPE = new Set([
  'elasticloadbalancing:DescribeTargetHealth',
  'ec2:DescribeInstances',
  'ec2:DescribeNetworkInterfaces',
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
]);

function statementsOf(resources: Resources): Array<{ id: string; st: Statement }> {
  const out: Array<{ id: string; st: Statement }> = [];
  for (const [id, r] of Object.entries(resources)) {
    const docs: unknown[] = [];
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') docs.push(r.Properties?.PolicyDocument);
    if (r.Type === 'AWS::IAM::Role')
      for (const p of (r.Properties?.Policies as Array<{ PolicyDocument: unknown }>) ?? []) docs.push(p.PolicyDocument);
    for (const d of docs) for (const st of (d as { Statement?: Statement[] })?.Statement ?? []) out.push({ id, st });
  }
  return out;
}

/** Allow statements whose resource is `*` (or contains a bare wildcard) for an action that could be scoped. */
export function wildcardGrants(resources: Resources): string[] {
  const findings: string[] = [];
  for (const { id, st } of statementsOf(resources)) {
    if (st.Effect !== 'Allow') continue;
    const res = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
    const actions = Array.isArray(st.Action) ? st.Action : [st.Action];
    const wildcard = res.some((r) => r === '*' || (typeof r === 'string' && /:\*$|\/\*$/.test(r) && !r.includes('log-group')));
    if (!wildcard) continue;
    const scopable = actions.filter((a) => typeof a === 'string' && !ACTIONS_WITHOUT_RESOURCE_SCOPE.has(a));
    if (scopable.length > 0) findings.push(`${id}: ${scopable.join(', ')} on ${JSON.stringify(st.Resource)}`);
  }
  return findings;
}

/** Any ingress rule that includes port 22, or any instance with an SSH key pair. */
export function sshExposure(resources: Resources): string[] {
  const findings: string[] = [];
  // The one exception: the NLB's own group may admit 22 when 22 is its SFTP listener, which
  // forwards to another port on the backends (their sshd stays unreachable).
  const refId = (v: unknown) => {
    const o = v as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
    return o?.Ref ?? o?.['Fn::GetAtt']?.[0];
  };
  const sftpOn22 = Object.values(resources).some((r) => {
    if (r.Type !== 'AWS::ElasticLoadBalancingV2::Listener' || Number(r.Properties?.Port) !== 22) return false;
    const tg = refId((r.Properties?.DefaultActions as Array<{ TargetGroupArn: unknown }>)?.[0]?.TargetGroupArn);
    return tg !== undefined && Number(resources[tg]?.Properties?.Port) !== 22;
  });
  const nlbGroups = new Set(
    Object.values(resources)
      .filter((r) => r.Type === 'AWS::ElasticLoadBalancingV2::LoadBalancer')
      .flatMap((r) => ((r.Properties?.SecurityGroups as unknown[]) ?? []).map(refId)),
  );
  const covers22 = (r: Record<string, unknown>) =>
    r.IpProtocol === '-1' || ((r.IpProtocol === 'tcp' || r.IpProtocol === '6') && Number(r.FromPort) <= 22 && Number(r.ToPort) >= 22);
  for (const [id, r] of Object.entries(resources)) {
    const p = r.Properties ?? {};
    if (r.Type === 'AWS::EC2::SecurityGroup' && !(sftpOn22 && nlbGroups.has(id))) {
      for (const rule of (p.SecurityGroupIngress as Array<Record<string, unknown>>) ?? [])
        if (covers22(rule)) findings.push(`${id}: ingress covers port 22`);
    }
    if (r.Type === 'AWS::EC2::SecurityGroupIngress' && covers22(p)) findings.push(`${id}: ingress covers port 22`);
    if (
      (r.Type === 'AWS::EC2::Instance' || r.Type === 'AWS::EC2::LaunchTemplate') &&
      (p.KeyName || (p.LaunchTemplateData as Record<string, unknown>)?.KeyName)
    ) {
      findings.push(`${id}: has an SSH key pair`);
    }
  }
  return findings;
}

/** Log groups without a retention period keep logs (and their cost) forever. */
export function logGroupsWithoutRetention(resources: Resources): string[] {
  return Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::Logs::LogGroup' && r.Properties?.RetentionInDays === undefined)
    .map(([id]) => id);
}

/** Password-like material that must never be in a template, user data or asset manifest. */
export const SECRET_PATTERNS: ReadonlyArray<[string, RegExp]> = [
  ['PEM block', /-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----/],
  ['AWS access key ID', /\b(AKIA|ASIA)[0-9A-Z]{16}\b/],
  ['AWS secret access key', /aws_secret_access_key|AWS_SECRET_ACCESS_KEY/],
  ['literal secret string', /"SecretString"\s*:\s*"/],
  ['password literal', /"password"\s*:\s*"[^"]+"|\bpassword\s*=\s*['"]?[^\s'"$]{6,}/i],
];

/** Scan text for password-like material, and for each known secret value. */
export function findSecrets(text: string, knownSecrets: readonly string[] = []): string[] {
  const findings = SECRET_PATTERNS.filter(([, re]) => re.test(text)).map(([name]) => name);
  for (const s of knownSecrets) if (s && text.includes(s)) findings.push(`known secret ${s.slice(0, 3)}…`);
  return findings;
}
