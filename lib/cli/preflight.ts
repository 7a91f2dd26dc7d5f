/**
 * `npm run preflight`: before the first `cdk deploy`, check with the caller's own credentials and
 * region what that deploy needs from the account, read-only, and say for every problem what to do.
 *
 *  - the CDK bootstrap stack exists and is recent enough for the template's assets;
 *  - Elastic IPs: the stack needs one per AZ (the NLB's static IPs) and one per NAT gateway;
 *  - Lambda: the account's concurrency (the checker reserves none, see docs/operations.md);
 *  - the instance type is offered in every AZ the stack uses;
 *  - the AMI's public SSM parameter resolves;
 *  - NLB, target-group, listener and target quotas against what the config makes.
 *
 * Every call is a Describe/Get; nothing is created or changed. No aws-cdk-lib import.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeAccountAttributesCommand,
  DescribeAddressesCommand,
  DescribeAvailabilityZonesCommand,
  DescribeInstanceTypeOfferingsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  DescribeAccountLimitsCommand,
  DescribeLoadBalancersCommand,
  type DescribeLoadBalancersCommandOutput,
  DescribeTargetGroupsCommand,
  type DescribeTargetGroupsCommandOutput,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { type Config, loadConfig } from '../config';
import { isArmInstanceType } from '../config/instance-types';
import { amiParameter } from '../shared/images';
import { type CommandSpec, EXIT, explainAwsError, helpText, parseCommand, UsageError } from './command';

/** The bootstrap version the synthesized template's CheckBootstrapVersion rule asks for. */
export const MIN_BOOTSTRAP_VERSION = 6;

export interface PreflightClients {
  readonly cfn: CloudFormationClient;
  readonly ec2: EC2Client;
  readonly elb: ElasticLoadBalancingV2Client;
  readonly lambda: LambdaClient;
  readonly ssm: SSMClient;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  /** What was found. */
  readonly detail: string;
  /** What to do, when not ok. */
  readonly fix?: string;
}

const pass = (name: string, detail: string): Check => ({ name, ok: true, detail });
const fail = (name: string, detail: string, fix: string): Check => ({ name, ok: false, detail, fix });

/** What the configured stack needs from the account. */
export function needs(c: Config): { eips: number; targetGroups: number; listeners: number; targets: number } {
  const passive = c.backendCount * c.passivePortsPerBackend;
  return {
    // One static IP per AZ for the NLB, one per NAT gateway (there are at most as many as AZs).
    eips: c.maxAzs + Math.min(c.natGateways, c.maxAzs),
    targetGroups: 1 + passive,
    listeners: 1 + passive,
    // Every backend in the port-21 group, and in each of its own passive groups.
    targets: c.backendCount + passive,
  };
}

async function stackExists(cfn: CloudFormationClient, name: string): Promise<boolean> {
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: name }));
    return (out.Stacks ?? []).some((s) => s.StackStatus !== 'DELETE_COMPLETE');
  } catch (err) {
    if ((err as Error).name === 'ValidationError' && /does not exist/.test((err as Error).message)) return false;
    throw err;
  }
}

async function bootstrapCheck(c: PreflightClients): Promise<Check> {
  const name = 'CDK bootstrap';
  let version: number | undefined;
  try {
    const out = await c.cfn.send(new DescribeStacksCommand({ StackName: 'CDKToolkit' }));
    const v = out.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'BootstrapVersion')?.OutputValue;
    version = v === undefined ? 0 : Number(v);
  } catch (err) {
    if ((err as Error).name === 'ValidationError' && /does not exist/.test((err as Error).message)) {
      return fail(name, 'no CDKToolkit stack in this account and region', 'run `npx cdk bootstrap` once for this account and region');
    }
    throw err;
  }
  return version >= MIN_BOOTSTRAP_VERSION
    ? pass(name, `CDKToolkit version ${version}`)
    : fail(name, `CDKToolkit version ${version}, older than ${MIN_BOOTSTRAP_VERSION}`, 'run `npx cdk bootstrap` again to update it');
}

async function eipCheck(c: PreflightClients, cfg: Config, deployed: boolean): Promise<Check> {
  const name = 'Elastic IPs';
  // The SDK's AttributeNames type lists only default-vpc and supported-platforms: ask for all.
  const attrs = await c.ec2.send(new DescribeAccountAttributesCommand({}));
  const maxAttr = attrs.AccountAttributes?.find((a) => a.AttributeName === 'vpc-max-elastic-ips');
  const max = Number(maxAttr?.AttributeValues?.[0]?.AttributeValue ?? 5);
  const used = (await c.ec2.send(new DescribeAddressesCommand({}))).Addresses?.length ?? 0;
  const need = needs(cfg).eips;
  if (deployed) return pass(name, `${used} of ${max} in use, this stack's included (it is deployed already)`);
  const free = max - used;
  return free >= need
    ? pass(name, `${need} needed (${cfg.maxAzs} NLB static IPs, ${Math.min(cfg.natGateways, cfg.maxAzs)} NAT), ${free} of ${max} free`)
    : fail(
        name,
        `${need} needed (${cfg.maxAzs} for the NLB, ${Math.min(cfg.natGateways, cfg.maxAzs)} for NAT), only ${free} of ${max} free`,
        `release unused Elastic IPs, or ask for a higher "EC2-VPC Elastic IPs" quota (Service Quotas, L-0263D0A3) of at least ${used + need}`,
      );
}

async function lambdaCheck(c: PreflightClients): Promise<Check> {
  const name = 'Lambda concurrency';
  const out = await c.lambda.send(new GetAccountSettingsCommand({}));
  const quota = out.AccountLimit?.ConcurrentExecutions ?? 0;
  const unreserved = out.AccountLimit?.UnreservedConcurrentExecutions ?? 0;
  // The checker and the certificate function reserve nothing; they need a free execution when they run.
  return unreserved >= 2
    ? pass(name, `quota ${quota}, ${unreserved} unreserved (nlb-ftp reserves none)`)
    : fail(
        name,
        `only ${unreserved} unreserved concurrent executions`,
        'lower other functions’ reserved concurrency, or ask for a higher Lambda concurrency quota',
      );
}

async function instanceTypeCheck(c: PreflightClients, cfg: Config): Promise<Check> {
  const name = 'Instance type';
  const zones = (
    await c.ec2.send(
      new DescribeAvailabilityZonesCommand({
        Filters: [
          { Name: 'zone-type', Values: ['availability-zone'] },
          { Name: 'state', Values: ['available'] },
        ],
      }),
    )
  ).AvailabilityZones?.map((z) => z.ZoneName ?? '')
    .filter(Boolean)
    .sort()
    .slice(0, cfg.maxAzs);
  const offered = new Set(
    (
      await c.ec2.send(
        new DescribeInstanceTypeOfferingsCommand({
          LocationType: 'availability-zone',
          Filters: [{ Name: 'instance-type', Values: [cfg.instanceType] }],
        }),
      )
    ).InstanceTypeOfferings?.map((o) => o.Location ?? ''),
  );
  const missing = (zones ?? []).filter((z) => !offered.has(z));
  return missing.length === 0
    ? pass(name, `${cfg.instanceType} is offered in ${(zones ?? []).join(', ')}`)
    : fail(
        name,
        `${cfg.instanceType} is not offered in ${missing.join(', ')}`,
        `choose an instanceType offered in every AZ the stack uses (${(zones ?? []).join(', ')}), e.g. t4g.small or t3.small`,
      );
}

async function amiCheck(c: PreflightClients, cfg: Config): Promise<Check> {
  const name = 'AMI';
  const parameter = amiParameter(cfg.ftpServer, isArmInstanceType(cfg.instanceType));
  try {
    const out = await c.ssm.send(new GetParameterCommand({ Name: parameter }));
    return pass(name, `${parameter} = ${out.Parameter?.Value ?? '?'}`);
  } catch (err) {
    if ((err as Error).name === 'ParameterNotFound') {
      return fail(
        name,
        `${parameter} does not resolve in this region`,
        'deploy to a region where the image is published, or choose another ftpServer',
      );
    }
    throw err;
  }
}

async function loadBalancingCheck(c: PreflightClients, cfg: Config): Promise<Check[]> {
  const limits = new Map(
    ((await c.elb.send(new DescribeAccountLimitsCommand({}))).Limits ?? []).map((l) => [l.Name ?? '', Number(l.Max ?? 0)]),
  );
  let nlbs = 0;
  let marker: string | undefined;
  do {
    const out: DescribeLoadBalancersCommandOutput = await c.elb.send(new DescribeLoadBalancersCommand({ Marker: marker }));
    nlbs += (out.LoadBalancers ?? []).filter((l) => l.Type === 'network').length;
    marker = out.NextMarker;
  } while (marker);
  let groups = 0;
  marker = undefined;
  do {
    const out: DescribeTargetGroupsCommandOutput = await c.elb.send(new DescribeTargetGroupsCommand({ Marker: marker }));
    groups += out.TargetGroups?.length ?? 0;
    marker = out.NextMarker;
  } while (marker);
  const n = needs(cfg);
  const quota = (key: string, fallback: number) => limits.get(key) ?? fallback;
  const checks: Check[] = [];
  const nlbMax = quota('network-load-balancers', 50);
  checks.push(
    nlbs + 1 <= nlbMax
      ? pass('Network Load Balancers', `1 needed, ${nlbs} of ${nlbMax} in use`)
      : fail('Network Load Balancers', `${nlbs} of ${nlbMax} in use`, 'delete an unused NLB or ask for a higher quota'),
  );
  const tgMax = quota('target-groups', 3000);
  checks.push(
    groups + n.targetGroups <= tgMax
      ? pass('Target groups', `${n.targetGroups} needed, ${groups} of ${tgMax} in use`)
      : fail(
          'Target groups',
          `${n.targetGroups} needed, ${groups} of ${tgMax} in use`,
          'delete unused target groups or ask for a higher quota',
        ),
  );
  const listenerMax = quota('listeners-per-network-load-balancer', 50);
  checks.push(
    n.listeners <= listenerMax
      ? pass('Listeners per NLB', `${n.listeners} needed of ${listenerMax}`)
      : fail('Listeners per NLB', `${n.listeners} needed, quota ${listenerMax}`, 'lower backendCount or passivePortsPerBackend'),
  );
  const targetMax = quota('targets-per-network-load-balancer', 3000);
  checks.push(
    n.targets <= targetMax
      ? pass('Targets per NLB', `${n.targets} needed of ${targetMax}`)
      : fail('Targets per NLB', `${n.targets} needed, quota ${targetMax}`, 'lower backendCount or passivePortsPerBackend'),
  );
  return checks;
}

/** Every check, in order; an AWS error that is not a finding stops it (explain() words it). */
export async function preflight(c: PreflightClients, cfg: Config): Promise<{ checks: Check[]; deployed: boolean }> {
  const deployed = await stackExists(c.cfn, cfg.stackName);
  const checks: Check[] = [
    await bootstrapCheck(c),
    await eipCheck(c, cfg, deployed),
    await lambdaCheck(c),
    await instanceTypeCheck(c, cfg),
    await amiCheck(c, cfg),
    ...(await loadBalancingCheck(c, cfg)),
  ];
  return { checks, deployed };
}

export function renderChecks(r: { checks: readonly Check[]; deployed: boolean }, cfg: Config): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines = [
    `preflight for stack ${cfg.stackName} (${cfg.backendCount} x ${cfg.ftpServer}, ${cfg.passivePortsPerBackend} passive ports each, ${cfg.maxAzs} AZs)${r.deployed ? ': deployed already, checking an update' : ''}`,
  ];
  for (const c of r.checks) {
    lines.push(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(width)}  ${c.detail}`);
    if (!c.ok && c.fix) lines.push(`     ${' '.repeat(width)}  -> ${c.fix}`);
  }
  const failed = r.checks.filter((c) => !c.ok).length;
  lines.push(failed === 0 ? 'ready: run `npx cdk deploy`' : `${failed} problem(s): fix them before \`npx cdk deploy\``);
  return `${lines.join('\n')}\n`;
}

export const PREFLIGHT_COMMAND: CommandSpec = {
  permissionsOf: 'preflight',
  usage: 'npm run preflight --',
  summary:
    'Read-only, with your credentials and region: what the first cdk deploy of this configuration needs from the account, and what to do about each gap.',
  options: {
    context: {
      type: 'string',
      short: 'c',
      multiple: true,
      value: 'KEY=VALUE',
      help: 'a setting, as for cdk deploy (nlb-ftp.config.json is read too)',
    },
  },
  examples: ['npm run preflight', 'npm run preflight -- -c backendCount=3 -c ftpServer=vsftpd'],
};

/** The whole command, without touching process: testable with mocked SDK clients. Exit 0 ready, 1 problems, 2 usage. */
export async function runPreflight(
  argv: readonly string[],
  clients?: PreflightClients,
  cwd = process.cwd(),
): Promise<{ code: number; stdout: string; stderr: string }> {
  let parsed: ReturnType<typeof parseCommand>;
  const context: Record<string, string> = {};
  try {
    parsed = parseCommand(PREFLIGHT_COMMAND, argv);
    for (const kv of parsed.help ? [] : ((parsed.values.context as string[] | undefined) ?? [])) {
      const [k, v] = kv.split(/=(.*)/s, 2);
      if (!kv.includes('=') || !k) throw new UsageError(`-c needs KEY=VALUE, got ${kv}`);
      context[k] = v;
    }
  } catch (err) {
    return { code: EXIT.usage, stdout: '', stderr: `${(err as Error).message}\n${helpText(PREFLIGHT_COMMAND)}` };
  }
  if (parsed.help) return { code: EXIT.ok, stdout: helpText(PREFLIGHT_COMMAND), stderr: '' };
  try {
    const cfg = loadConfig({ context, cwd });
    const c = clients ?? {
      cfn: new CloudFormationClient({}),
      ec2: new EC2Client({}),
      elb: new ElasticLoadBalancingV2Client({}),
      lambda: new LambdaClient({}),
      ssm: new SSMClient({}),
    };
    const r = await preflight(c, cfg);
    return { code: r.checks.every((x) => x.ok) ? EXIT.ok : EXIT.failed, stdout: renderChecks(r, cfg), stderr: '' };
  } catch (err) {
    return { code: EXIT.failed, stdout: '', stderr: `${explainAwsError(err)}\n` };
  }
}
