/**
 * Defensive readers for OTLP attribute values. Instrumentations disagree on types (int64 as
 * decimal strings, booleans as 'true', JSON as strings or structured kvlists): every reader
 * here returns undefined rather than throwing on odd input.
 */
import type { AttrValue, Attributes } from '../../model.ts';
import type { MappedFields } from '../types.ts';

export function str(v: unknown): string | undefined {
  if (typeof v === 'string') {
    const t = v.trim();
    return t === '' ? undefined : t;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  return undefined;
}

/** A string kept verbatim (content: whitespace may matter). '' is kept too. */
export function rawStr(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

/** A non-negative integer count (tokens). */
export function count(v: unknown): number | undefined {
  const n = num(v);
  return n !== undefined && n >= 0 ? Math.trunc(n) : undefined;
}

export function bool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'true' || t === '1' || t === 'yes') return true;
    if (t === 'false' || t === '0' || t === 'no') return false;
  }
  return undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function looksLikeJson(s: string): boolean {
  const c = s.trimStart()[0];
  return c === '{' || c === '[' || c === '"';
}

/**
 * JSON strings are parsed, structured values returned as they are. Double-encoded JSON (a JSON
 * string whose content is JSON again, common for tool arguments) is unwrapped. When parsing
 * fails the raw string is returned: nothing is lost.
 */
export function parseJsonish(v: unknown): unknown {
  if (typeof v !== 'string' || !looksLikeJson(v)) return v;
  let cur: unknown = v;
  // Two levels cover the double encoding seen in the wild; more is almost surely data.
  for (let i = 0; i < 3 && typeof cur === 'string' && looksLikeJson(cur); i++) {
    try {
      cur = JSON.parse(cur);
    } catch {
      return i === 0 ? v : cur;
    }
  }
  return cur;
}

/** First attribute present among `keys`, with the key it came from. */
export function first(attrs: Attributes, ...keys: string[]): [string, AttrValue] | undefined {
  for (const k of keys) {
    const v = attrs[k];
    if (v !== undefined && v !== null && v !== '') return [k, v];
  }
  return undefined;
}

/** Sets a mapped field unless an earlier (higher-authority) mapper already set it. */
export function setField<K extends keyof MappedFields>(
  fields: MappedFields,
  key: K,
  value: MappedFields[K] | undefined,
): boolean {
  if (value === undefined || value === '' || fields[key] !== undefined) return false;
  fields[key] = value;
  return true;
}

/**
 * Rebuilds indexed keys (`prefix.N.rest`) numerically: 10 after 2, gaps and truncated tails
 * tolerated. Returns the groups in index order and the keys that fed them.
 */
export function groupIndexed(
  attrs: Record<string, unknown>,
  prefix: string,
): { groups: Array<[number, Record<string, unknown>]>; keys: string[] } {
  const byIndex = new Map<number, Record<string, unknown>>();
  const keys: string[] = [];
  for (const key in attrs) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const dot = rest.indexOf('.');
    const idx = dot < 0 ? rest : rest.slice(0, dot);
    if (idx === '' || !/^\d+$/.test(idx)) continue;
    const n = Number(idx);
    let g = byIndex.get(n);
    if (!g) byIndex.set(n, (g = {}));
    g[dot < 0 ? '' : rest.slice(dot + 1)] = attrs[key];
    keys.push(key);
  }
  const groups = [...byIndex.entries()].sort((a, b) => a[0] - b[0]);
  return { groups, keys };
}

export function hasKeyWithPrefix(attrs: Attributes, prefix: string): boolean {
  for (const k in attrs) if (k.startsWith(prefix)) return true;
  return false;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  try {
    return String(err);
  } catch {
    return 'unknown error';
  }
}

type StringFieldKey = {
  [K in keyof MappedFields]-?: NonNullable<MappedFields[K]> extends string ? K : never;
}[keyof MappedFields];

/**
 * Reads a string attribute into a mapped field (unless already set) and consumes the key.
 * Returns the value read, even when an earlier mapper had already set the field.
 */
export function consumeInto(
  draft: { fields: MappedFields; consume(...keys: string[]): void },
  attrs: Record<string, unknown>,
  field: StringFieldKey,
  key: string,
): string | undefined {
  const v = str(attrs[key]);
  if (v === undefined) return undefined;
  draft.consume(key);
  setField(draft.fields, field, v);
  return v;
}
