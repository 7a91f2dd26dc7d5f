/**
 * Loading: defaults < JSON config file (`-c config=path`, default `nlb-ftp.config.json` when
 * present) < CDK context keys (`-c backendCount=3`), then validation of the whole.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type AnyZod, kindOf, schemaAt } from './introspect';
import { ConfigError, type ConfigProblem, problemFromIssue, type SourceMap } from './problems';
import { ruleProblems } from './rules';
import { type Config, ConfigSchema } from './schema';

/**
 * Validate a merged configuration object. Throws ConfigError listing every problem at once:
 * per-setting problems and, with the bad settings left at their defaults, the rules between
 * settings (except those that involve a setting already reported).
 * `sources` maps dotted keys to where they came from, for the message.
 */
export function parseConfig(input: unknown, sources: SourceMap = new Map()): Config {
  const result = ConfigSchema.safeParse(input);
  const problems: ConfigProblem[] = [];
  let data: Config | undefined;
  const bad = new Set<string>();
  if (result.success) {
    data = result.data;
  } else {
    problems.push(...result.error.issues.flatMap((i) => problemFromIssue(i, input, sources)));
    for (const p of problems) bad.add(p.field);
    // Drop what is bad, so defaults stand in and the rules between settings can still run.
    const retry = ConfigSchema.safeParse(withoutFields(input, [...bad]));
    if (retry.success) data = retry.data;
  }
  if (data) {
    const isBad = (field: string) => bad.has(field) || [...bad].some((b) => field.startsWith(`${b}.`) || b.startsWith(`${field}.`));
    for (const { involves, ...p } of ruleProblems(data, sources)) {
      if (!involves.some(isBad)) problems.push(p);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return data as Config;
}

/** A copy of a plain object without the given dotted paths. */
function withoutFields(input: unknown, fields: readonly string[]): unknown {
  if (!isPlainObject(input)) return {};
  const copy = structuredClone(input) as Record<string, unknown>;
  for (const f of fields) {
    const keys = f.split('.');
    let cur: unknown = copy;
    for (const k of keys.slice(0, -1)) cur = isPlainObject(cur) ? cur[k] : undefined;
    if (isPlainObject(cur)) delete cur[keys[keys.length - 1]];
  }
  return copy;
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
      // Any decimal number, 1e3 included; what is not a number is left for the schema to report with its range.
      return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) ? Number(text) : raw;
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

/**
 * Context keys that belong to CDK itself, known by name or form, so that any other key is ours and
 * a misspelt one (`backend_count`) is reported with a did-you-mean instead of ignored:
 * feature flags (`@aws-cdk/...`), the CLI's own (`aws:cdk:...`), cached lookups
 * (`availability-zones:account=...`, `ami:...`), and a few plain names.
 */
const CDK_CONTEXT_KEYS = new Set(['acknowledged-issue-numbers', 'cli-telemetry', 'assetOutdir', 'aws-cdk:enableDiffNoFail']);
export function isCdkContextKey(key: string): boolean {
  return key.startsWith('@') || key.includes(':') || CDK_CONTEXT_KEYS.has(key);
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
      // Editors on Windows save JSON with a byte-order mark, which JSON.parse refuses.
      parsed = JSON.parse(fs.readFileSync(filePath, 'utf8').replace(/^\uFEFF/, ''));
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
    if (key === CONFIG_FILE_CONTEXT_KEY || isCdkContextKey(key)) continue;
    const keys = key.split('.');
    const value = coerceContextValue(schemaAt(keys), raw);
    if (keys.length === 1 && isPlainObject(value) && isPlainObject(merged[key])) {
      merged[key] = { ...(merged[key] as Record<string, unknown>), ...value };
    } else {
      setPath(merged, keys, value);
    }
    sources.set(key, '-c context');
    if (isPlainObject(value)) for (const sub of Object.keys(value)) sources.set(`${key}.${sub}`, '-c context');
  }
  return parseConfig(merged, sources);
}
