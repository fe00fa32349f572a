import { hash } from 'node:crypto';
import { EVENT_COLUMNS } from '../store/schema.ts';

/**
 * The canonical serialization that an event's hash covers (documented for auditors who
 * re-implement `verify`):
 *
 *   hash = hex(SHA-256("otel-audit/event/v1\n" || JSON(values)))
 *
 * where `values` is a JSON array holding, in the `events` column order of the DDL, every
 * column except `hash` itself (so `chain_id`, `seq` and `prev_hash` are covered), each
 * normalized so that a row as inserted and the same row as read back from ClickHouse
 * (JSONEachRow with output_format_json_quote_64bit_integers=1) give the same bytes:
 *  - 64-bit integers (UInt64, Nullable(UInt64)) as decimal strings, or null;
 *  - named tuples as arrays of their fields in declared order;
 *  - maps as arrays of [key, value] pairs sorted by key (code-unit order);
 *  - everything else exactly as JSON has it (strings, booleans, UInt32, Float64).
 *
 * Strings are well-formed Unicode: the OTLP decoder replaces lone surrogates (`\ud800` in
 * OTLP/JSON) and invalid UTF-8 with U+FFFD, so the string hashed is the one UTF-8 storage keeps
 * and reads back (a lone surrogate would be hashed as its `\u` escape but stored as U+FFFD).
 *
 * Columns added after the first schema (those after `hash` in table order, for instance
 * `content_sealed`) follow the first-schema columns as `[name, value]` pairs, in table order,
 * and only when their value is not the column's default ('', 0, false, null, [], {}). A row stored before such a
 * column existed reads back with the column's default ('') and so hashes exactly as it did
 * when it was sealed; a value set or cleared later changes the hash.
 */
export const HASH_DOMAIN = 'otel-audit/event/v1\n';

type Normalizer = (v: unknown) => unknown;

const uint64: Normalizer = (v) => (v === null || v === undefined ? null : String(v));
const identity: Normalizer = (v) => v;
const map: Normalizer = (v) => {
  const m = (v ?? {}) as Record<string, string>;
  // Array.prototype.sort without a comparator orders strings by UTF-16 code units.
  const keys = Object.keys(m).sort();
  const pairs: Array<[string, string]> = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) pairs[i] = [keys[i], m[keys[i]]];
  return pairs;
};

function tupleArray(fields: string[]): Normalizer {
  return (v) =>
    ((v ?? []) as unknown[]).map((t) =>
      Array.isArray(t) ? t : fields.map((f) => (t as Record<string, unknown>)[f] ?? null),
    );
}

function normalizerFor(type: string): Normalizer {
  if (/^(Nullable\()?UInt64\)?$/.test(type)) return uint64;
  if (type.startsWith('Map(')) return map;
  const tuple = /^Array\(Tuple\((.*)\)\)$/.exec(type);
  if (tuple) {
    const fields = tuple[1].split(',').map((f) => f.trim().split(/\s+/)[0]);
    return tupleArray(fields);
  }
  return identity;
}

const HASH_INDEX = EVENT_COLUMNS.findIndex(([name]) => name === 'hash');
const withNormalizer = ([name, type]: readonly [string, string]) => [name, normalizerFor(type.replace(/ CODEC\(.*\)$/, ''))] as const;
const HASHED_COLUMNS = EVENT_COLUMNS.slice(0, HASH_INDEX).map(withNormalizer);
/** Added after the first schema: hashed as [name, value] only when not empty. */
const ADDED_COLUMNS = EVENT_COLUMNS.slice(HASH_INDEX + 1).map(withNormalizer);

/** The value a column added later reads back with on rows stored before it existed. */
function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '' || v === false || v === 0 || v === '0') return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v).length === 0;
}

/** The canonical bytes of a row (inserted shape or read-back shape). */
export function canonicalEventJson(row: Record<string, unknown>): string {
  const values: unknown[] = new Array(HASHED_COLUMNS.length);
  for (let i = 0; i < HASHED_COLUMNS.length; i++) {
    const [name, normalize] = HASHED_COLUMNS[i];
    values[i] = normalize(row[name]);
  }
  for (const [name, normalize] of ADDED_COLUMNS) {
    const v = normalize(row[name]);
    if (!isEmpty(v)) values.push([name, v]);
  }
  return JSON.stringify(values);
}

export function eventHash(row: Record<string, unknown>): string {
  // One-shot hash: no Hash object per event on the hot path.
  return hash('sha256', HASH_DOMAIN + canonicalEventJson(row), 'hex');
}

/** The prev_hash of the first event of a chain. */
export const GENESIS_HASH = '0'.repeat(64);
