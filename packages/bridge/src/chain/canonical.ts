import { hash } from 'node:crypto';
import { encoderFor, RowWriter, rowEncoder } from '../store/rowbinary.ts';
import { EVENT_COLUMNS } from '../store/schema.ts';

/**
 * What an event's hash covers (documented for auditors who re-implement `verify`; README.md
 * "Hash versions"). The column `hash_version` says which serialization a row was hashed with:
 *
 * Version 2 (every event chained since hash_version existed): the row's own RowBinary bytes,
 * exactly as the bridge inserts them, without the `hash` column:
 *
 *   hash = hex(SHA-256("otel-audit/event/v2\n" || RowBinary(columns of HASH_V2_COLUMNS)))
 *
 * RowBinary as ClickHouse defines it (store/rowbinary.ts), with map entries in key order
 * (UTF-16 code units), which is also the order they are inserted in. One serialization serves
 * the hash and the insert; a row read back is re-encoded to check it.
 *
 * Version 1 (rows stored before; hash_version 0):
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
 * when it was chained; a value set or cleared later changes the hash.
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

/** The version-1 hash (rows stored before hash_version; tests of such rows). */
export function eventHashV1(row: Record<string, unknown>): string {
  // One-shot hash: no Hash object per event on the hot path.
  return hash('sha256', HASH_DOMAIN + canonicalEventJson(row), 'hex');
}

/** The hash version new events are chained with. */
export const HASH_VERSION = 2;
export const HASH_DOMAIN_V2 = 'otel-audit/event/v2\n';
const DOMAIN_V2 = Buffer.from(HASH_DOMAIN_V2);

/**
 * The columns version 2 covers, in table order: every column but `hash`. Frozen: a column
 * added later needs a new hash version (canonical.test.ts checks that this list and the table
 * agree), so that rows hashed before read back to the same bytes.
 */
export const HASH_V2_COLUMNS: readonly string[] = [
  ...EVENT_COLUMNS.slice(0, HASH_INDEX).map(([n]) => n),
  ...EVENT_COLUMNS.slice(HASH_INDEX + 1).map(([n]) => n),
];
const typeOf = new Map(EVENT_COLUMNS.map(([n, t]) => [n, t] as const));
const columnsV2 = (names: readonly string[]) => names.map((n) => [n, typeOf.get(n)!] as const);
/** The columns before `hash` and after it, in table order. */
const encodeBefore = rowEncoder(columnsV2(HASH_V2_COLUMNS.slice(0, HASH_INDEX)));
const encodeAfter = rowEncoder(columnsV2(HASH_V2_COLUMNS.slice(HASH_INDEX)));
const HASH_BYTES = 65; // a String of 64 hex characters: one length byte, then the text

const scratch = new RowWriter(64 * 1024);

/** The version-2 hash of a row (as chained in memory, or as read back from ClickHouse). */
export function eventHashV2(row: Record<string, unknown>): string {
  scratch.pos = 0;
  scratch.ensure(DOMAIN_V2.length);
  scratch.pos += DOMAIN_V2.copy(scratch.buf, 0);
  encodeBefore(scratch, row);
  encodeAfter(scratch, row);
  return hash('sha256', scratch.buf.subarray(0, scratch.pos), 'hex');
}

/** The hash a stored row must have, by its hash_version. */
export function eventHash(row: Record<string, unknown>): string {
  return Number(row.hash_version ?? 0) === 2 ? eventHashV2(row) : eventHashV1(row);
}

/**
 * Appends the row's RowBinary bytes (every column, table order) to `w` and returns its
 * version-2 hash, which it also writes into the row's `hash` column: the bytes hashed are the
 * bytes inserted, serialized once. `row.hash_version` must be 2.
 */
export function encodeChainedRow(w: RowWriter, row: Record<string, unknown>): string {
  const start = w.pos;
  encodeBefore(w, row);
  const at = w.pos;
  w.ensure(HASH_BYTES);
  w.pos += HASH_BYTES;
  encodeAfter(w, row);
  return hashRow(w, start, at);
}

/**
 * A row's columns before `chain_id` (its body) and after `hash` (its tail): the parts that do
 * not depend on the row's place in its chain. An intake worker encodes them
 * (`encodeRowParts`), and the main thread, which orders, joins them around the chain columns
 * (`chainRowParts`): the bytes and the version-2 hash are those `encodeChainedRow` gives.
 */
const CHAIN_AT = EVENT_COLUMNS.findIndex(([name]) => name === 'chain_id');
if (EVENT_COLUMNS.slice(CHAIN_AT, HASH_INDEX + 1).map(([n]) => n).join() !== 'chain_id,seq,prev_hash,hash') {
  throw new Error('canonical.ts: the chain columns must be the last of the first schema, in this order');
}
const encodeBody = rowEncoder(columnsV2(HASH_V2_COLUMNS.slice(0, CHAIN_AT)));
const encodeSeq = encoderFor('UInt64');

/**
 * Appends a row's body and then its tail (see above) to `w`; returns where the body ends.
 * `row.hash_version` must be 2.
 */
export function encodeRowParts(w: RowWriter, row: Record<string, unknown>): number {
  encodeBody(w, row);
  const bodyEnd = w.pos;
  encodeAfter(w, row);
  return bodyEnd;
}

/**
 * Appends a whole row to `w` from its parts (`encodeRowParts`: `parts[start, bodyEnd)` the body,
 * `[bodyEnd, end)` the tail) and its chain columns, and returns its version-2 hash (written into
 * the row's `hash` column).
 */
export function chainRowParts(w: RowWriter, parts: Uint8Array, start: number, bodyEnd: number, end: number, chainId: string, seq: number, prevHash: string): string {
  const rowStart = w.pos;
  w.ensure(end - start);
  w.buf.set(parts.subarray(start, bodyEnd), w.pos);
  w.pos += bodyEnd - start;
  w.string(chainId);
  encodeSeq(w, seq);
  w.string(prevHash);
  const at = w.pos;
  w.ensure(HASH_BYTES + end - bodyEnd);
  w.pos += HASH_BYTES;
  w.buf.set(parts.subarray(bodyEnd, end), w.pos);
  w.pos += end - bodyEnd;
  return hashRow(w, rowStart, at);
}

/** Hashes the row `w` holds from `start` (its hash column at `at`, the row ending at `w.pos`) and writes the hash in. */
function hashRow(w: RowWriter, start: number, at: number): string {
  const end = w.pos;
  // The hashed bytes: domain, before, after (contiguous in a scratch copy, hashed one-shot).
  const n = DOMAIN_V2.length + (at - start) + (end - at - HASH_BYTES);
  scratch.pos = 0;
  scratch.ensure(n);
  DOMAIN_V2.copy(scratch.buf, 0);
  w.buf.copy(scratch.buf, DOMAIN_V2.length, start, at);
  w.buf.copy(scratch.buf, DOMAIN_V2.length + (at - start), at + HASH_BYTES, end);
  const h = hash('sha256', scratch.buf.subarray(0, n), 'hex');
  w.buf[at] = 64;
  w.buf.write(h, at + 1, 64, 'latin1');
  return h;
}

/** The prev_hash of the first event of a chain. */
export const GENESIS_HASH = '0'.repeat(64);
