/** docs/configuration.md's settings table, generated from the schema itself. */
import { type AnyZod, defaultOf, enumValues, kindOf, numericBound, objectShape } from './introspect';
import { rangeText } from './problems';
import { ConfigSchema } from './schema';

/** One row of the settings table in docs/configuration.md, generated from the schema itself. */
export interface SettingDoc {
  readonly key: string;
  readonly defaultValue: string;
  readonly allowed: string;
  readonly reason: string;
}

function allowedText(schema: AnyZod): string {
  switch (kindOf(schema)) {
    case 'number':
    case 'int':
      return rangeText(numericBound(schema, 'min'), numericBound(schema, 'max')).replace('a whole number from ', '');
    case 'boolean':
      return 'true / false';
    case 'enum':
      return (enumValues(schema) ?? []).join(' / ');
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
      const dflt = defaultOf(s);
      const defaultValue = dflt ? JSON.stringify(dflt.value) : '(unset)';
      rows.push({ key: `${prefix}${k}`, defaultValue, allowed: allowedText(s), reason: s.description ?? '' });
    }
  };
  walk(objectShape(ConfigSchema) ?? {}, '');
  return rows;
}

/** The settings table as Markdown, for docs/configuration.md. */
export function settingsTable(): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| Setting | Default | Allowed | Why this default |',
    '| --- | --- | --- | --- |',
    ...settingsDoc().map((r) => `| \`${r.key}\` | \`${esc(r.defaultValue)}\` | ${esc(r.allowed)} | ${esc(r.reason)} |`),
  ].join('\n');
}
