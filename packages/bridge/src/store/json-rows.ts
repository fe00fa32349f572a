import { EVENT_COLUMNS } from './schema.ts';

/**
 * Reading rows as JSON without trusting JSON.parse with map keys.
 *
 * V8 in Node 24 (13.6) can return the wrong string for an object key that holds a non-Latin-1
 * character and an escape: after `{"k.👩‍👩‍👧\\":1}` was parsed, `{"k.👩‍👩‍👧\u0006":1}` comes back with
 * the key `k.👩‍👩‍👧\`. Object keys are where attribute names land when a Map column is read as a
 * JSON object, so a stored event could read back with a changed attribute name and `verify`
 * would report it modified. String *values* are not affected. So Map columns are read as arrays
 * of `{keys, values}` (`output_format_json_map_as_array_of_tuples`) and turned back into objects
 * by property assignment, which compares whole strings.
 */
export const MAPS_AS_PAIRS = { output_format_json_map_as_array_of_tuples: 1 } as const;

const MAP_COLUMNS: readonly string[] = EVENT_COLUMNS.filter(([, type]) => type.startsWith('Map(')).map(([name]) => name);

/** A map read as pairs, as an object (own `__proto__` keys stay data, as JSON.parse makes them). */
export function mapFromPairs(pairs: ReadonlyArray<{ keys: string; values: unknown }>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { keys: k, values: v } of pairs) {
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

/** One JSONEachRow line of a query run with MAPS_AS_PAIRS. */
export function parseRow<T = Record<string, unknown>>(line: string): T {
  const row = JSON.parse(line) as Record<string, unknown>;
  for (const name of MAP_COLUMNS) {
    const v = row[name];
    if (Array.isArray(v)) row[name] = mapFromPairs(v as Array<{ keys: string; values: unknown }>);
  }
  return row as T;
}
