/**
 * How a bad configuration is reported: one line per problem, naming the setting, the value, its
 * source, what is allowed and the nearest value that works.
 */
import type { z } from 'zod';
import { type AnyZod, enumValues, kindOf, numericBound, objectShape, schemaAt } from './introspect';
import { ConfigSchema } from './schema';

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
  // JSON.parse turns 1e309 into Infinity, which JSON.stringify would print as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return `${value} (a number too large to use)`;
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

export function closest(key: string, candidates: readonly string[]): string | undefined {
  // Case, _ and - do not count: backend_count and backend-count mean backendCount.
  const norm = (t: string) => t.toLowerCase().replace(/[_-]/g, '');
  const k = norm(key);
  // A shortened name (healthCheck.interval) means the one it starts.
  const prefixed = k.length >= 4 ? candidates.filter((c) => norm(c).startsWith(k)) : [];
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    // Ties go to a candidate with the same first letter (t5g -> t4g rather than g5g).
    const d = distance(k, norm(c)) - (c[0] === key[0] ? 0.5 : 0);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Which source gave each (dotted) key; used only to make error messages point at the right place. */
export type SourceMap = Map<string, string>;

export function problemFromIssue(issue: z.core.$ZodIssue, input: unknown, sources: SourceMap): ConfigProblem[] {
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
      const max = numericBound(schemaAt(issue.path), 'max');
      return [{ field, value, source, message: `must be ${rangeText(min, max)}`, nearest: String(min) }];
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array') {
        return [{ field, value, source, message: `allows at most ${max} entries` }];
      }
      const min = numericBound(schemaAt(issue.path), 'min');
      return [{ field, value, source, message: `must be ${rangeText(min, max)}`, nearest: String(max) }];
    }
    case 'invalid_type':
      return [{ field, value, source, message: `must be ${expectedText(schemaAt(issue.path))}` }];
    case 'invalid_value':
      return [{ field, value, source, message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` }];
    default:
      return [{ field, value, source, message: issue.message }];
  }
}

export function rangeText(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `a whole number from ${min} to ${max}`;
  if (min !== undefined) return `a whole number of at least ${min}`;
  if (max !== undefined) return `a whole number of at most ${max}`;
  return 'a whole number';
}

/** What a setting takes, in words: the range of a number, the keys of an object, the values of a choice. */
export function expectedText(schema: AnyZod): string {
  switch (kindOf(schema)) {
    case 'int':
      return rangeText(numericBound(schema, 'min'), numericBound(schema, 'max'));
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${(enumValues(schema) ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'array':
      return 'a list (JSON, or comma-separated on the command line)';
    case 'object':
      return `an object with the keys ${Object.keys(objectShape(schema) ?? {}).join(', ')} (JSON, or -c ${'KEY.SUBKEY'}=VALUE)`;
    default:
      return 'text';
  }
}
