/**
 * The one place that reads a zod schema's structure (wrappers, object shapes, numeric bounds,
 * defaults, enum values), through zod's public API, for messages, context coercion and the
 * settings table of docs/configuration.md.
 */
import { z } from 'zod';
import { ConfigSchema } from './schema';

export type AnyZod = z.ZodType;

/** Strip default/optional/nullable wrappers to reach the schema that decides the type. */
export function unwrap(schema: AnyZod): AnyZod {
  let s: AnyZod = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as AnyZod;
  return s;
}

/** The type name that decides coercion and messages: `int`, `number`, `boolean`, `enum`, `array`, `object`, `string`... */
export function kindOf(schema: AnyZod): string {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodNumber) return inner.format === 'safeint' || inner.isInt ? 'int' : 'number';
  return inner.type;
}

export function objectShape(schema: AnyZod): Record<string, AnyZod> | undefined {
  const inner = unwrap(schema);
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, AnyZod>) : undefined;
}

/** The schema of a dotted setting path; the nearest enclosing schema when the path goes nowhere. */
export function schemaAt(path: readonly PropertyKey[]): AnyZod {
  let s: AnyZod = ConfigSchema;
  for (const k of path.map(String)) {
    const shape = objectShape(s);
    if (shape?.[k] === undefined) return s;
    s = shape[k];
  }
  return s;
}

export function numericBound(schema: AnyZod, which: 'min' | 'max'): number | undefined {
  const inner = unwrap(schema);
  if (!(inner instanceof z.ZodNumber)) return undefined;
  const v = which === 'min' ? inner.minValue : inner.maxValue;
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
}

/** The default value, when the schema has one. */
export function defaultOf(schema: AnyZod): { value: unknown } | undefined {
  return schema instanceof z.ZodDefault ? { value: schema.def.defaultValue } : undefined;
}

export function enumValues(schema: AnyZod): readonly string[] | undefined {
  const inner = unwrap(schema);
  return inner instanceof z.ZodEnum ? (inner.options as string[]) : undefined;
}
