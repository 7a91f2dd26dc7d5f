/**
 * The one schema for every user-facing setting of nlb-ftp.
 *
 * Pure module: no aws-cdk-lib import, so it loads in microseconds and the local sandbox,
 * the health checker and the docs generator can all reuse it.
 *
 * Sources are merged as: defaults < JSON config file (`-c config=path`, default
 * `nlb-ftp.config.json` when present) < CDK context keys (`-c backendCount=3`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

import { MAX_PASSIVE_PORTS, MAX_PORT, MIN_UNPRIVILEGED_PORT, NLB_MAX_LISTENERS } from '../shared/limits';

export { MAX_PASSIVE_PORTS, MAX_PORT, MIN_UNPRIVILEGED_PORT, NLB_MAX_LISTENERS };

const cidrV4 = z
  .string()
  .regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/, 'must be an IPv4 CIDR such as 203.0.113.0/24');

/** A complete Secrets Manager ARN (with the 6-character suffix), so IAM can name it exactly. */
const secretArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
    'must be the complete ARN of a Secrets Manager secret, ending in its 6-character suffix (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf)',
  );

const healthCheckSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe('Deregister backends whose FTP logins fail; the NLB TCP check alone cannot see broken logins'),
    intervalSeconds: z
      .int()
      .min(5)
      .max(60)
      .default(10)
      .describe('Seconds between probe rounds; with the thresholds it sets how fast a broken backend leaves rotation'),
    timeoutSeconds: z
      .int()
      .min(1)
      .max(30)
      .default(5)
      .describe('Deadline for each probe step; a hung backend counts as failed after this long'),
    fallThreshold: z.int().min(1).max(10).default(2).describe('Consecutive failed rounds before deregistering; 2 ignores a single blip'),
    riseThreshold: z
      .int()
      .min(1)
      .max(10)
      .default(2)
      .describe('Consecutive good rounds before registering again; 2 avoids flapping back in'),
  })
  .default({ enabled: true, intervalSeconds: 10, timeoutSeconds: 5, fallThreshold: 2, riseThreshold: 2 })
  .describe('The FTP login health checker (Lambda)');

const nlbHealthCheckSchema = z
  .strictObject({
    intervalSeconds: z
      .int()
      .min(5)
      .max(300)
      .default(10)
      .describe("NLB TCP health check interval on port 21; 10 s notices a dead vsftpd 3x faster than the NLB's 30 s default"),
    healthyThreshold: z.int().min(2).max(10).default(3).describe('Consecutive good TCP checks before the NLB routes to a target again'),
    unhealthyThreshold: z
      .int()
      .min(2)
      .max(10)
      .default(2)
      .describe('Consecutive failed TCP checks before the NLB stops routing to a target'),
  })
  .default({ intervalSeconds: 10, healthyThreshold: 3, unhealthyThreshold: 2 })
  .describe("The NLB's own TCP health check of port 21 (passive target groups use it too)");

export const ConfigSchema = z.strictObject({
  stackName: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'must start with a letter and hold only letters, digits and hyphens (max 64)')
    .default('NlbFtp')
    .describe('CloudFormation stack name; alarm names start with it'),
  backendCount: z.int().min(1).max(MAX_PASSIVE_PORTS).default(2).describe('Number of vsftpd instances (slots); 2 survives the loss of one'),
  passivePortsPerBackend: z
    .int()
    .min(1)
    .max(MAX_PASSIVE_PORTS)
    .default(8)
    .describe('Passive ports (r) per backend = PASV/EPSV sessions a backend can open at once; 8 leaves room for 6 backends'),
  passivePortStart: z
    .int()
    .min(MIN_UNPRIVILEGED_PORT)
    .max(MAX_PORT)
    .default(40000)
    .describe('First passive port; slot i owns [start + i*r, start + i*r + r - 1]'),
  instanceType: z
    .string()
    .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'must be an EC2 instance type such as t4g.small')
    .default('t4g.small')
    .describe('Graviton burstable: FTP is I/O-bound and t4g.small is the cheapest type with enough memory'),
  maxAzs: z.int().min(1).max(6).default(2).describe('Availability zones (one NLB static IP each); 2 survives an AZ outage'),
  natGateways: z
    .int()
    .min(1)
    .max(6)
    .default(1)
    .describe('NAT gateways for backend boot (packages, SSM, Secrets Manager); 1 keeps cost down, use maxAzs for AZ independence'),
  allowedCidrs: z
    .array(cidrV4)
    .min(1)
    .max(20)
    .default(['0.0.0.0/0'])
    .describe('Client IPv4 ranges allowed to reach port 21 and the passive ports; the default is the whole internet'),
  controlIdleTimeoutSeconds: z
    .int()
    .min(60)
    .max(6000)
    .default(350)
    .describe('NLB TCP idle timeout on port 21; 350 s matches the ENI connection tracking, keepalives cover long transfers'),
  tcpKeepaliveSeconds: z
    .int()
    .min(5)
    .max(7200)
    .default(60)
    .describe(
      'net.ipv4.tcp_keepalive_time on backends (later probes every 10 s); below the idle timeout so control connections survive long transfers',
    ),
  deregistrationDelaySeconds: z
    .int()
    .min(0)
    .max(3600)
    .default(300)
    .describe('How long sessions already on a deregistered backend may continue; 300 s lets most transfers finish'),
  crossZone: z
    .boolean()
    .default(true)
    .describe("Let each AZ's static IP reach backends in every AZ, so one AZ's IP keeps working when its backends are out"),
  ftpUsersSecretArn: secretArn
    .optional()
    .describe('Existing secret of FTP users (JSON username -> password); unset creates one with a generated password'),
  initialFtpUser: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,30}$/, 'must be a Linux user name: lower-case letters, digits, _ and -, max 31')
    .default('ftpuser')
    .describe('User name created in a new users secret (ignored with ftpUsersSecretArn)'),
  ftps: z
    .enum(['required', 'optional', 'off'])
    .default('required')
    .describe('Explicit FTPS (AUTH TLS) on port 21; required keeps passwords and files off the wire in clear text'),
  ftpsRequireSslReuse: z
    .boolean()
    .default(true)
    .describe("Data connections must resume the control connection's TLS session, so no other client can take them over"),
  ftpsMaxTlsVersion: z
    .enum(['1.2', '1.3'])
    .default('1.2')
    .describe('Highest TLS version; over 1.3, curl before 8.9 (Debian 12, RHEL 9) loses downloads after an upload (measured 14/30)'),
  ftpsCertificateSecretArn: secretArn
    .optional()
    .describe('Secret with your certificate ({"certificate","privateKey","ca"?} PEM); unset creates one self-signed certificate'),
  ftpsCertificateNames: z
    .array(
      z
        .string()
        .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a lower-case DNS name such as ftp.example.com'),
    )
    .max(20)
    .default([])
    .describe("Extra DNS names (your CNAME) for the self-signed certificate, besides the NLB's name and static IPs"),
  maxClientsPerBackend: z
    .int()
    .min(1)
    .max(10000)
    .default(200)
    .describe('vsftpd max_clients: caps memory use of one backend under a connection flood'),
  maxSessionsPerIp: z
    .int()
    .min(1)
    .max(1000)
    .default(20)
    .describe('vsftpd max_per_ip: limits one client address (the NLB preserves it); 20 allows offices behind NAT'),
  removalPolicy: z
    .enum(['retain', 'destroy'])
    .default('retain')
    .describe('What stack deletion does to the file system and secrets; retain never loses customer files'),
  nlbHealthCheck: nlbHealthCheckSchema,
  healthCheck: healthCheckSchema,
  alarmEmail: z
    .email('must be an email address such as ops@example.com')
    .optional()
    .describe('Subscribes this address to the alarm topic (confirm the email AWS sends); unset leaves the topic without subscribers'),
  minHealthyBackends: z
    .int()
    .min(1)
    .max(MAX_PASSIVE_PORTS)
    .optional()
    .describe('Alarm when fewer backends are healthy on port 21; unset means 1, or N-1 when N >= 3'),
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** One invalid field, with enough detail to fix it without reading code. */
export interface ConfigProblem {
  /** Dotted setting name, e.g. `healthCheck.intervalSeconds`. */
  readonly field: string;
  /** What was given, as the user would write it. */
  readonly value: unknown;
  /** What is allowed, or what is wrong. */
  readonly message: string;
  /** The nearest value that works, when there is one. */
  readonly nearest?: string;
  /** Where the value came from: `default`, a file path or `-c context`. */
  readonly source?: string;
}

/** Every problem with a configuration, reported at once. Never reaches CloudFormation. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(formatProblems(problems));
    this.name = 'ConfigError';
  }
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  const n = problems.length;
  const lines = problems.map((p) => {
    const from = p.source ? ` (from ${p.source})` : '';
    const nearest = p.nearest !== undefined ? ` Nearest valid value: ${p.nearest}.` : '';
    const stop = /[.?!]$/.test(p.message) ? '' : '.';
    return `  - ${p.field} = ${show(p.value)}${from}: ${p.message}${stop}${nearest}`;
  });
  return [`nlb-ftp: invalid configuration, ${n} problem${n === 1 ? '' : 's'}. Nothing was synthesized.`, ...lines].join('\n');
}

function show(value: unknown): string {
  if (value === undefined) return '(missing)';
  return JSON.stringify(value);
}

function getPath(obj: unknown, keys: readonly PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/** Levenshtein distance, for "did you mean" on misspelt keys. */
function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(key, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

type AnyZod = z.ZodType;

/** Strip default/optional wrappers to reach the schema that decides the type. */
function unwrap(schema: AnyZod): AnyZod {
  let s: AnyZod = schema;
  for (;;) {
    const def = (s as unknown as { _zod: { def: { type: string; innerType?: AnyZod } } })._zod.def;
    if ((def.type === 'default' || def.type === 'optional' || def.type === 'nullable') && def.innerType) {
      s = def.innerType;
    } else {
      return s;
    }
  }
}

function kindOf(schema: AnyZod): string {
  return (unwrap(schema) as unknown as { _zod: { def: { type: string } } })._zod.def.type;
}

function objectShape(schema: AnyZod): Record<string, AnyZod> | undefined {
  const inner = unwrap(schema) as unknown as { _zod: { def: { type: string; shape?: Record<string, AnyZod> } } };
  return inner._zod.def.type === 'object' ? inner._zod.def.shape : undefined;
}

function problemFromIssue(issue: z.core.$ZodIssue, input: unknown, sources: SourceMap): ConfigProblem[] {
  const field = issue.path.map(String).join('.');
  const value = getPath(input, issue.path);
  const source = sources.get(field) ?? sources.get(field.split('.')[0]);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const parent = issue.path.map(String);
      const shape = objectShape(parent.length === 0 ? ConfigSchema : schemaAt(parent)) ?? {};
      return issue.keys.map((k) => {
        const name = [...parent, k].join('.');
        const guess = closest(k, Object.keys(shape));
        return {
          field: name,
          value: getPath(input, [...issue.path, k]),
          source: sources.get(name),
          message: `is not a setting of nlb-ftp${guess ? `; did you mean ${[...parent, guess].join('.')}?` : ''}`,
        };
      });
    }
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array') {
        return [{ field, value, source, message: `needs at least ${min} entr${min === 1 ? 'y' : 'ies'}` }];
      }
      const max = maxOf(issue.path);
      return [{ field, value, source, message: `must be ${rangeText(min, max)}`, nearest: String(min) }];
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array') {
        return [{ field, value, source, message: `allows at most ${max} entries` }];
      }
      const min = minOf(issue.path);
      return [{ field, value, source, message: `must be ${rangeText(min, max)}`, nearest: String(max) }];
    }
    case 'invalid_type': {
      const expected = issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`;
      return [{ field, value, source, message: `must be ${expected}` }];
    }
    case 'invalid_value':
      return [{ field, value, source, message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` }];
    default:
      return [{ field, value, source, message: issue.message }];
  }
}

function schemaAt(path: readonly string[]): AnyZod {
  let s: AnyZod = ConfigSchema;
  for (const k of path) {
    const shape = objectShape(s);
    if (shape?.[k] === undefined) return s;
    s = shape[k];
  }
  return s;
}

function numericBound(schema: AnyZod, which: 'minValue' | 'maxValue'): number | undefined {
  const v = (unwrap(schema) as unknown as Record<string, unknown>)[which];
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
}
const minOf = (p: readonly PropertyKey[]) => numericBound(schemaAt(p.map(String)), 'minValue');
const maxOf = (p: readonly PropertyKey[]) => numericBound(schemaAt(p.map(String)), 'maxValue');

function rangeText(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `a whole number from ${min} to ${max}`;
  if (min !== undefined) return `at least ${min}`;
  if (max !== undefined) return `at most ${max}`;
  return 'a number';
}

/** Rules that involve more than one field. Each names the fields and the values that would work. */
function crossFieldProblems(c: Config, sources: SourceMap): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const n = c.backendCount;
  const r = c.passivePortsPerBackend;
  const listeners = 1 + n * r;
  if (listeners > NLB_MAX_LISTENERS) {
    const maxN = Math.floor(MAX_PASSIVE_PORTS / r);
    const maxR = Math.floor(MAX_PASSIVE_PORTS / n);
    const fixes = [maxR >= 1 ? `passivePortsPerBackend <= ${maxR}` : undefined, maxN >= 1 ? `backendCount <= ${maxN}` : undefined]
      .filter(Boolean)
      .join(' or ');
    problems.push({
      field: 'backendCount',
      value: n,
      source: sources.get('backendCount') ?? sources.get('passivePortsPerBackend'),
      message:
        `passivePortsPerBackend=${r} with backendCount=${n} needs ${listeners} NLB listeners (1 for port 21 + ${n}x${r} passive); ` +
        `an NLB has ${NLB_MAX_LISTENERS} and the limit cannot be raised. Use ${fixes}.`,
    });
  }
  const lastPort = c.passivePortStart + n * r - 1;
  if (lastPort > MAX_PORT) {
    const maxStart = MAX_PORT - n * r + 1;
    problems.push({
      field: 'passivePortStart',
      value: c.passivePortStart,
      source: sources.get('passivePortStart'),
      message: `with ${n} backends x ${r} ports the passive ports would end at ${lastPort}, past ${MAX_PORT}`,
      nearest: String(maxStart),
    });
  }
  if (c.tcpKeepaliveSeconds >= c.controlIdleTimeoutSeconds) {
    problems.push({
      field: 'tcpKeepaliveSeconds',
      value: c.tcpKeepaliveSeconds,
      source: sources.get('tcpKeepaliveSeconds'),
      message: `must be below controlIdleTimeoutSeconds (${c.controlIdleTimeoutSeconds}), or the NLB drops idle control connections during long transfers`,
      nearest: String(c.controlIdleTimeoutSeconds - 1),
    });
  }
  if (c.healthCheck.timeoutSeconds >= c.healthCheck.intervalSeconds) {
    problems.push({
      field: 'healthCheck.timeoutSeconds',
      value: c.healthCheck.timeoutSeconds,
      source: sources.get('healthCheck.timeoutSeconds') ?? sources.get('healthCheck'),
      message: `must be below healthCheck.intervalSeconds (${c.healthCheck.intervalSeconds}) so a round ends before the next starts`,
      nearest: String(c.healthCheck.intervalSeconds - 1),
    });
  }
  if (c.minHealthyBackends !== undefined && c.minHealthyBackends > c.backendCount) {
    problems.push({
      field: 'minHealthyBackends',
      value: c.minHealthyBackends,
      source: sources.get('minHealthyBackends'),
      message: `cannot exceed backendCount (${c.backendCount}), or the alarm could never be OK`,
      nearest: String(c.backendCount),
    });
  }
  if (c.ftps === 'off' && c.ftpsCertificateSecretArn !== undefined) {
    problems.push({
      field: 'ftpsCertificateSecretArn',
      value: c.ftpsCertificateSecretArn,
      source: sources.get('ftpsCertificateSecretArn'),
      message: 'is set but ftps is off, so no backend would use it; set ftps to required (or optional), or remove it',
      nearest: 'ftps=required',
    });
  }
  if (c.ftpsCertificateSecretArn !== undefined && c.ftpsCertificateNames.length > 0) {
    problems.push({
      field: 'ftpsCertificateNames',
      value: c.ftpsCertificateNames.join(','),
      source: sources.get('ftpsCertificateNames'),
      message: 'names the self-signed certificate, but ftpsCertificateSecretArn brings your own; put the names in your certificate instead',
      nearest: '(unset)',
    });
  }
  if (c.maxSessionsPerIp > c.maxClientsPerBackend) {
    problems.push({
      field: 'maxSessionsPerIp',
      value: c.maxSessionsPerIp,
      source: sources.get('maxSessionsPerIp'),
      message: `must not exceed maxClientsPerBackend (${c.maxClientsPerBackend})`,
      nearest: String(c.maxClientsPerBackend),
    });
  }
  return problems;
}

/** The healthy-backend floor the cluster alarm uses: the setting, or 1, or N-1 when N >= 3. */
export function minHealthyBackendsOf(c: Pick<Config, 'backendCount' | 'minHealthyBackends'>): number {
  return c.minHealthyBackends ?? (c.backendCount >= 3 ? c.backendCount - 1 : 1);
}

/** Which source gave each (dotted) key; used only to make error messages point at the right place. */
type SourceMap = Map<string, string>;

/**
 * Validate a merged configuration object. Throws ConfigError listing every problem.
 * `sources` maps dotted keys to where they came from, for the message.
 */
export function parseConfig(input: unknown, sources: SourceMap = new Map()): Config {
  const result = ConfigSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((i) => problemFromIssue(i, input, sources)));
  }
  const cross = crossFieldProblems(result.data, sources);
  if (cross.length > 0) throw new ConfigError(cross);
  return result.data;
}

/**
 * Turn CDK context strings into typed values, guided by the schema.
 * `-c backendCount=3` arrives as "3"; `-c allowedCidrs=10.0.0.0/8,192.0.2.0/24` as one string.
 * A value that cannot be coerced is passed through unchanged so the schema reports it.
 */
export function coerceContextValue(schema: AnyZod, raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  const text = raw.trim();
  switch (kindOf(schema)) {
    case 'number':
    case 'int':
      return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : raw;
    case 'boolean':
      if (/^(true|yes|1)$/i.test(text)) return true;
      if (/^(false|no|0)$/i.test(text)) return false;
      return raw;
    case 'array':
      if (text.startsWith('[')) {
        try {
          return JSON.parse(text);
        } catch {
          return raw;
        }
      }
      return text === '' ? [] : text.split(',').map((s) => s.trim());
    case 'object':
      try {
        return JSON.parse(text);
      } catch {
        return raw;
      }
    default:
      return raw;
  }
}

/** Context keys that belong to CDK itself (feature flags, lookups, CLI settings), not to us. */
function isForeignContextKey(key: string): boolean {
  return !/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/.test(key);
}

/** The context key naming the config file; it is not itself a setting. */
export const CONFIG_FILE_CONTEXT_KEY = 'config';
export const DEFAULT_CONFIG_FILE = 'nlb-ftp.config.json';

export interface LoadOptions {
  /** All CDK context (`app.node.getAllContext()`). */
  readonly context: Record<string, unknown>;
  /** Directory that relative config paths resolve against. */
  readonly cwd?: string;
}

function setPath(target: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let cur = target;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]] = value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Merge defaults < config file < context, coerce context strings, and validate.
 * Throws ConfigError (every problem at once) on bad input, including an unreadable config file.
 */
export function loadConfig(opts: LoadOptions): Config {
  const cwd = opts.cwd ?? process.cwd();
  const merged: Record<string, unknown> = {};
  const sources: SourceMap = new Map();

  const explicitFile = opts.context[CONFIG_FILE_CONTEXT_KEY];
  const filePath = typeof explicitFile === 'string' ? path.resolve(cwd, explicitFile) : path.join(cwd, DEFAULT_CONFIG_FILE);
  if (typeof explicitFile === 'string' || fs.existsSync(filePath)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(filePath, 'utf8'));
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
      throw new ConfigError([
        { field: CONFIG_FILE_CONTEXT_KEY, value: explicitFile ?? DEFAULT_CONFIG_FILE, message: `cannot read the config file: ${reason}` },
      ]);
    }
    if (!isPlainObject(parsed)) {
      throw new ConfigError([
        { field: CONFIG_FILE_CONTEXT_KEY, value: explicitFile ?? DEFAULT_CONFIG_FILE, message: 'the config file must hold a JSON object' },
      ]);
    }
    const rel = path.relative(cwd, filePath) || filePath;
    for (const [k, v] of Object.entries(parsed)) {
      merged[k] = v;
      sources.set(k, rel);
      if (isPlainObject(v)) for (const sub of Object.keys(v)) sources.set(`${k}.${sub}`, rel);
    }
  }

  for (const [key, raw] of Object.entries(opts.context)) {
    if (key === CONFIG_FILE_CONTEXT_KEY || isForeignContextKey(key)) continue;
    const keys = key.split('.');
    const value = coerceContextValue(schemaAt(keys), raw);
    if (keys.length === 1 && isPlainObject(value) && isPlainObject(merged[key])) {
      merged[key] = { ...(merged[key] as Record<string, unknown>), ...value };
    } else {
      setPath(merged, keys, value);
    }
    sources.set(key, '-c context');
  }
  return parseConfig(merged, sources);
}

/** One row of the settings table in the README, generated from the schema itself. */
export interface SettingDoc {
  readonly key: string;
  readonly defaultValue: string;
  readonly allowed: string;
  readonly reason: string;
}

function allowedText(schema: AnyZod): string {
  const inner = unwrap(schema) as unknown as { _zod: { def: { type: string; entries?: Record<string, string> } } };
  switch (inner._zod.def.type) {
    case 'number':
    case 'int':
      return rangeText(numericBound(schema, 'minValue'), numericBound(schema, 'maxValue')).replace('a whole number from ', '');
    case 'boolean':
      return 'true / false';
    case 'enum':
      return Object.values(inner._zod.def.entries ?? {}).join(' / ');
    case 'array':
      return 'list (JSON or comma-separated)';
    default:
      return 'text';
  }
}

export function settingsDoc(): SettingDoc[] {
  const rows: SettingDoc[] = [];
  const walk = (shape: Record<string, AnyZod>, prefix: string) => {
    for (const [k, s] of Object.entries(shape)) {
      const sub = objectShape(s);
      if (sub) {
        walk(sub, `${prefix}${k}.`);
        continue;
      }
      const def = (s as unknown as { _zod: { def: { type: string; defaultValue?: unknown } } })._zod.def;
      const dflt = def.type === 'default' ? JSON.stringify(def.defaultValue) : '(unset)';
      rows.push({ key: `${prefix}${k}`, defaultValue: dflt, allowed: allowedText(s), reason: s.description ?? '' });
    }
  };
  walk(objectShape(ConfigSchema) ?? {}, '');
  return rows;
}

/** The settings table as Markdown, for the README. */
export function settingsTable(): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| Setting | Default | Allowed | Why this default |',
    '| --- | --- | --- | --- |',
    ...settingsDoc().map((r) => `| \`${r.key}\` | \`${esc(r.defaultValue)}\` | ${esc(r.allowed)} | ${esc(r.reason)} |`),
  ].join('\n');
}
