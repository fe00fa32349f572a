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

/**
 * JSON.parse for documents whose object keys are data (an evidence pack's events, a proof
 * bundle's row): the same result, but every object key is made from a string *value* (which
 * V8 decodes correctly) and set by assignment, never by the parser's key path. Slower than
 * JSON.parse; meant for the offline verifiers. Throws SyntaxError on what JSON.parse refuses.
 */
export function parseJsonSafeKeys(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} in JSON at position ${i}`);
  };
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const string = (): string => {
    const start = i;
    i++; // the opening quote
    for (;;) {
      if (i >= text.length) fail('Unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      i += c === 0x5c ? 2 : 1;
    }
    i++;
    // A string value: the part of the parser that decodes escapes correctly.
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const out: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('Expected a key');
        const k = string();
        ws();
        if (text[i] !== ':') fail("Expected ':'");
        i++;
        const v = value();
        if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
        else out[k] = v;
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return out;
        }
        fail("Expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const out: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return out;
        }
        fail("Expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    const m = /^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) fail('Unexpected token');
    i += m![0].length;
    return JSON.parse(m![0]);
  };
  const out = value();
  ws();
  if (i !== text.length) fail('Unexpected non-whitespace character after JSON');
  return out;
}
