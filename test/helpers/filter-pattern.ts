/**
 * CloudWatch Logs JSON metric-filter patterns, evaluated locally against real events, so the
 * stack's filters are tested against what the servers actually write. Covers the documented JSON
 * syntax the stack uses (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html,
 * "Using metric filters to match terms in JSON log events"): `{ SELECTOR OP VALUE }` with `$.field`
 * selectors, `=` and `!=` on strings (with `*` wildcards) and numbers, `<`, `<=`, `>`, `>=` on
 * numbers, `&&`, `||` and parentheses. Anything else throws, so a pattern outside this subset
 * cannot pass by accident.
 */

type Json = Record<string, unknown>;
type Node =
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'cmp'; selector: string[]; op: string; value: string | number | null };

const TOKEN = /\s*(\$\.[A-Za-z0-9_.]+|&&|\|\||!=|<=|>=|=|<|>|\(|\)|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|NULL\b)/y;

function tokenize(body: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < body.length) {
    if (/^\s*$/.test(body.slice(TOKEN.lastIndex))) break;
    const start = TOKEN.lastIndex;
    const m = TOKEN.exec(body);
    if (!m) throw new Error(`unsupported filter pattern syntax at ${JSON.stringify(body.slice(start))}`);
    out.push(m[1]);
  }
  return out;
}

export function parseFilterPattern(pattern: string): Node {
  const m = /^\s*\{(.*)\}\s*$/s.exec(pattern);
  if (!m) throw new Error(`not a JSON filter pattern: ${pattern}`);
  const tokens = tokenize(m[1]);
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const t = tokens[i++];
    if (t === undefined || (expected !== undefined && t !== expected)) throw new Error(`expected ${expected ?? 'a token'} in ${pattern}`);
    return t;
  };
  const primary = (): Node => {
    if (peek() === '(') {
      take('(');
      const n = or();
      take(')');
      return n;
    }
    const sel = take();
    if (!sel.startsWith('$.')) throw new Error(`expected a $.selector in ${pattern}, got ${sel}`);
    const op = take();
    if (!['=', '!=', '<', '<=', '>', '>='].includes(op)) throw new Error(`unsupported operator ${op}`);
    const raw = take();
    const value = raw === 'NULL' ? null : raw.startsWith('"') ? (JSON.parse(raw) as string) : Number(raw);
    if (typeof value === 'string' && !['=', '!='].includes(op)) throw new Error(`${op} compares numbers only`);
    return { kind: 'cmp', selector: sel.slice(2).split('.'), op, value };
  };
  const and = (): Node => {
    let n = primary();
    while (peek() === '&&') {
      take();
      n = { kind: 'and', left: n, right: primary() };
    }
    return n;
  };
  const or = (): Node => {
    let n = and();
    while (peek() === '||') {
      take();
      n = { kind: 'or', left: n, right: and() };
    }
    return n;
  };
  const root = or();
  if (i !== tokens.length) throw new Error(`trailing tokens in ${pattern}`);
  return root;
}

function evaluate(n: Node, event: Json): boolean {
  if (n.kind !== 'cmp')
    return n.kind === 'and' ? evaluate(n.left, event) && evaluate(n.right, event) : evaluate(n.left, event) || evaluate(n.right, event);
  let v: unknown = event;
  for (const k of n.selector) v = v !== null && typeof v === 'object' ? (v as Json)[k] : undefined;
  if (n.value === null) return n.op === '=' ? v === null : v !== null && v !== undefined;
  if (typeof n.value === 'number') {
    if (typeof v !== 'number') return false;
    const cmp: Record<string, boolean> = {
      '=': v === n.value,
      '!=': v !== n.value,
      '<': v < n.value,
      '<=': v <= n.value,
      '>': v > n.value,
      '>=': v >= n.value,
    };
    return cmp[n.op];
  }
  if (typeof v !== 'string') return n.op === '!=';
  const re = new RegExp(
    `^${n.value
      .split('*')
      .map((s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return n.op === '=' ? re.test(v) : !re.test(v);
}

/** Does the JSON filter pattern match this event (one parsed log line)? */
export function filterMatches(pattern: string, event: Json): boolean {
  return evaluate(parseFilterPattern(pattern), event);
}

/** The value a metric filter publishes for a matching event: a constant, or `$.field`. */
export function filterValue(metricValue: string, event: Json): number {
  if (metricValue.startsWith('$.')) return Number(event[metricValue.slice(2)]);
  return Number(metricValue);
}
