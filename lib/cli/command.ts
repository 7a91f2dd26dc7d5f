/**
 * What every operator command (status, roll, preflight) shares: one argument parser on Node's own
 * util.parseArgs with `--help`, an unknown flag refused with a did-you-mean, one exit-code rule
 * (0 ok, 1 failed, 2 usage), and one sentence for each AWS problem people actually hit, never an
 * SDK class name. No aws-cdk-lib import.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config';
import { closest } from '../config/problems';
import { FleetError } from './fleet';
import { actionsNeededBy, type OperatorCommand } from './operator-policy';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Shown in --help: what it does. */
  readonly help: string;
  /** Shown in --help: the value's name, e.g. NAME or N. */
  readonly value?: string;
  /** Shown in --help: the default, in words. */
  readonly default?: string;
}

export interface CommandSpec {
  /** e.g. `npm run status --` */
  readonly usage: string;
  readonly summary: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
  /** The command whose AWS permissions the help lists (./operator-policy.ts). */
  readonly permissionsOf?: OperatorCommand;
  /** One required argument that is not a flag (`npm run unban ADDRESS`): its name and meaning. */
  readonly argument?: { readonly name: string; readonly help: string };
}

/** A bad command line: the message names the flag. Exit 2. */
export class UsageError extends Error {}

export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

export function helpText(spec: CommandSpec): string {
  const flags = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return [flag, `${o.help}${o.multiple ? ' (repeatable)' : ''}${o.default ? ` [default: ${o.default}]` : ''}`];
  });
  flags.push(['-h, --help', 'show this help']);
  const width = Math.max(...flags.map(([f]) => f.length));
  return [
    `usage: ${spec.usage} [options]${spec.argument ? ` ${spec.argument.name}` : ''}`,
    '',
    spec.summary,
    '',
    ...(spec.argument ? [`  ${spec.argument.name}  ${spec.argument.help}`, ''] : []),
    'options:',
    ...flags.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`),
    '',
    'examples:',
    ...spec.examples.map((e) => `  ${e}`),
    '',
    ...(spec.permissionsOf
      ? [
          'AWS permissions (the whole least-privilege policy: iam/operator-policy.json):',
          ...wrapList(actionsNeededBy(spec.permissionsOf)).map((l) => `  ${l}`),
          '',
        ]
      : []),
  ].join('\n');
}

/** Comma-separated items in lines of at most 100 characters. */
function wrapList(items: readonly string[]): string[] {
  const lines: string[] = [];
  for (const item of items) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + item.length + 2 <= 100) lines[last] += `, ${item}`;
    else lines.push(item);
  }
  return lines;
}

/** Parse, or `help`; an unknown flag, a missing value or a stray argument is a UsageError naming it. */
export function parseCommand(
  spec: CommandSpec,
  argv: readonly string[],
): { help: true } | { help: false; values: ParsedValues; argument?: string } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, o] of Object.entries(spec.options)) {
    // parseArgs refuses keys present with the value undefined.
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  let values: ParsedValues;
  let positionals: string[] = [];
  try {
    const parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: spec.argument !== undefined });
    values = parsed.values as ParsedValues;
    positionals = parsed.positionals;
  } catch (err) {
    const e = err as Error & { code?: string };
    const unknown = /Unknown option '([^']+)'/.exec(e.message)?.[1];
    if (unknown) {
      const guess = closest(unknown.replace(/^-+/, ''), Object.keys(spec.options));
      throw new UsageError(`unknown option ${unknown}${guess ? `; did you mean --${guess}?` : ''}`);
    }
    const positional = /Unexpected argument '([^']+)'/.exec(e.message)?.[1];
    if (positional) throw new UsageError(`unexpected argument ${positional}`);
    const missing = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(e.message)?.[1];
    if (missing) throw new UsageError(`${missing} needs a value`);
    throw new UsageError(e.message.split('\n')[0]);
  }
  if (values.help) return { help: true };
  if (!spec.argument) return { help: false, values };
  if (positionals.length === 0) throw new UsageError(`${spec.argument.name} is missing: ${spec.argument.help}`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${positionals[1]} (one ${spec.argument.name} at a time)`);
  return { help: false, values, argument: positionals[0] };
}

/**
 * Write all of `text` to a file descriptor before anything else happens, then exit. `console.error`
 * and `process.stderr.write` queue what a non-blocking pipe cannot take at once, and
 * `process.exit` drops the queue: a long problem list was cut off at 64 or 128 KiB. This writes
 * synchronously, waiting out a full pipe.
 */
export function writeAllAndExit(fd: 1 | 2, text: string, code: number): never {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); // the reader is behind: wait 5 ms
    }
  }
  process.exit(code);
}

/**
 * For a program's own entry point: the parsed values, or print the help (exit 0) or the usage
 * error with the help (exit 2) and end the process.
 */
export function parseOrExit(spec: CommandSpec, argv: readonly string[]): ParsedValues {
  try {
    const parsed = parseCommand(spec, argv);
    if (!parsed.help) return parsed.values;
    return writeAllAndExit(1, helpText(spec), EXIT.ok);
  } catch (err) {
    return writeAllAndExit(2, `${(err as Error).message}\n${helpText(spec)}`, EXIT.usage);
  }
}

/** A whole number of at least `min` from a flag, or a UsageError naming the flag. */
export function wholeNumber(flag: string, value: string | undefined, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} needs a whole number of at least ${min}, got ${value}`);
  return n;
}

/** The IAM action an AccessDenied message names, e.g. `cloudformation:DescribeStacks`. */
function deniedAction(message: string): string | undefined {
  return /perform: ([a-z0-9-]+:[A-Za-z0-9]+)/.exec(message)?.[1];
}

/**
 * One sentence that says what to do, for the AWS problems people hit: no region, no credentials,
 * expired credentials, access denied (with the action), throttling, a stack that is not found or
 * not an nlb-ftp stack (FleetError), and a bad setting (ConfigError). Never an SDK class name.
 */
export function explainAwsError(err: unknown): string {
  const e = err as Error & { name?: string; message?: string };
  const message = e?.message ?? String(err);
  const name = e?.name ?? '';
  if (err instanceof FleetError || err instanceof ConfigError || err instanceof UsageError) return message;
  if (/region is missing/i.test(message)) return 'No AWS region set: export AWS_REGION (or AWS_DEFAULT_REGION) and try again.';
  if (
    /^(ExpiredToken|ExpiredTokenException|RequestExpired)$/.test(name) ||
    /security token included in the request is expired/i.test(message)
  ) {
    return 'Your AWS credentials have expired: refresh them (aws sso login, or new keys) and try again.';
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return 'No AWS credentials found: configure them (aws configure, AWS_PROFILE or the AWS_* environment variables) and try again.';
  }
  if (/^(AccessDenied|AccessDeniedException|UnauthorizedOperation|AuthorizationError)$/.test(name)) {
    const action = deniedAction(message);
    return action
      ? `Access denied: your AWS identity may not call ${action}; allow it in your IAM policy and try again.`
      : `Access denied: your AWS identity lacks a permission this command needs (AWS said: ${message.replace(/\s+/g, ' ').trim()}).`;
  }
  if (/^(Throttling|ThrottlingException|TooManyRequestsException|RequestLimitExceeded)$/.test(name) || /rate exceeded/i.test(message)) {
    return 'AWS is throttling these calls: wait a minute and try again.';
  }
  if (/(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EAI_AGAIN|getaddrinfo)/.test(message)) {
    return `Cannot reach the AWS API (${/(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EAI_AGAIN)/.exec(message)?.[1] ?? 'network'}): check your network or proxy and try again.`;
  }
  return `The AWS call failed: ${message.replace(/\s+/g, ' ').trim()}`;
}
