/**
 * Loading: defaults < JSON config file (`-c config=path`, default `nlb-ftp.config.json` when
 * present) < CDK context keys (`-c backendCount=3`), then validation of the whole.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type AnyZod, kindOf, schemaAt } from './introspect';
import { ConfigError, problemFromIssue, type SourceMap } from './problems';
import { crossFieldProblems } from './rules';
import { type Config, ConfigSchema } from './schema';

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
