/**
 * The rules for OTLP items, written once for both decoders (decode.ts: protobuf and OTLP/JSON).
 *
 * Each decoder reads its encoding into the same facts (an id's size in bytes and whether it is
 * all zeros, a time as a decimal string, a value's nesting depth), then asks these functions,
 * so that the same fault gets the same code and the same reason whatever the encoding:
 *
 *  - which items are rejected and why (`Rejection`: a `RejectCode` and a reason naming the
 *    field by its opentelemetry-proto name, `trace_id`, `start_time_unix_nano`...);
 *  - in which order an item's fields are checked, so that an item with two faults reports
 *    the same first one (checkSpan, checkLink, checkLog);
 *  - the limits (value length, attribute count, links, nesting depth) and the truncation note.
 *
 * Only OTLP/JSON can express a value of the wrong type (a number where a hex string belongs, an
 * unknown enum name, bad base64): those are `INVALID_VALUE`, raised by the JSON decoder. Bytes
 * that do not parse as protobuf are not an item's fault: the whole request fails
 * (OtlpDecodeError). Both decoders turn text that is not well-formed Unicode into U+FFFD
 * (protobuf: Buffer#utf8Slice; JSON: the body's TextDecoder and `toWellFormed`), never a rejection.
 */
import type { AttrValue, Attributes } from '../model.ts';

// ---------------------------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------------------------

/** Why an item was rejected; the same code for the same fault in either encoding. */
export type RejectCode =
  /** A required field is absent or empty: trace_id, span_id, name, start/end time. */
  | 'MISSING'
  /** An id of the wrong size (trace_id 16 bytes, span_id 8). */
  | 'ID_LENGTH'
  /** A required id of all zeros (an optional one is read as absent). */
  | 'ID_ALL_ZERO'
  /** OTLP/JSON only: an id that is not a string of hex digits. */
  | 'ID_NOT_HEX'
  /** A time at or past 2^63 ns. */
  | 'TIME_OUT_OF_RANGE'
  /** A span that ends before it starts. */
  | 'END_BEFORE_START'
  /** An AnyValue nested deeper than maxDepth. */
  | 'TOO_DEEP'
  /** OTLP/JSON only: a field of the wrong JSON type or form. */
  | 'INVALID_VALUE';

export interface RejectedItem {
  /** Position of the span / log record in the request, counted across all resources and scopes. */
  index: number;
  reason: string;
  /** Set by the decoders; absent on items rejected later (pipeline: tenant not allowed). */
  code?: RejectCode;
}

/** Rejects the current item. Not an Error: no stack trace is captured, and it never leaves the decoders. */
export class Rejection {
  code: RejectCode;
  reason: string;
  constructor(code: RejectCode, reason: string) {
    this.code = code;
    this.reason = reason;
  }
}

/** A fault found inside a field: the reason gets the field's path in front (`attributes["k"]: `, `body: `). */
export function within(path: string, fault: Rejection): Rejection {
  fault.reason = `${path}: ${fault.reason}`;
  return fault;
}

export const inAttribute = (prefix: string, key: string, fault: Rejection): Rejection => within(`${prefix}attributes["${key}"]`, fault);

/** Every item of a resource whose attributes are faulty is rejected with the resource's fault. */
export const inResource = (fault: Rejection): Rejection => new Rejection(fault.code, `resource ${fault.reason}`);

/** A JSON-only fault (wrong type or form). */
export const invalid = (reason: string): Rejection => new Rejection('INVALID_VALUE', reason);

// ---------------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------------

export interface IdField {
  name: string;
  bytes: number;
}

export const TRACE_ID: IdField = { name: 'trace_id', bytes: 16 };
export const SPAN_ID: IdField = { name: 'span_id', bytes: 8 };
export const PARENT_SPAN_ID: IdField = { name: 'parent_span_id', bytes: 8 };

/**
 * An id as read from either encoding: `bytes` its size (0 when absent or empty), `allZero`
 * whether every byte is 0. True: keep it; false: absent (an optional id that is empty or all
 * zeros: "no span"). Throws for a required id that is missing or all zeros, and for a wrong size.
 */
export function checkId(id: IdField, prefix: string, bytes: number, allZero: boolean, required: boolean): boolean {
  if (bytes === 0) {
    if (required) throw new Rejection('MISSING', `${prefix}${id.name} is missing`);
    return false;
  }
  if (bytes !== id.bytes) {
    throw new Rejection('ID_LENGTH', `${prefix}${id.name} must be ${id.bytes} bytes${required ? '' : ' or empty'}, got ${bytes}`);
  }
  if (allZero) {
    if (required) throw new Rejection('ID_ALL_ZERO', `${prefix}${id.name} is all zeros`);
    return false;
  }
  return true;
}

/** OTLP/JSON ids are hex (not base64, unlike other protobuf JSON bytes). `v` is what came instead. */
export function idNotHex(id: IdField, prefix: string, required: boolean, v: unknown): Rejection {
  const want = `${prefix}${id.name} must be ${2 * id.bytes} hex digits${required ? '' : ' or empty'}`;
  if (typeof v !== 'string') return new Rejection('ID_NOT_HEX', `${want}, got ${Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`}`);
  return new Rejection('ID_NOT_HEX', /^[0-9a-fA-F]*$/.test(v) ? `${want}, got ${v.length}` : `${want}, got non-hex characters`);
}

// ---------------------------------------------------------------------------------------------
// Times: decimal strings of nanoseconds, without leading zeros; '0' when absent
// ---------------------------------------------------------------------------------------------

/** Longer inputs are refused by the JSON decoder before they reach here (and protobuf's fixed64 has at most 20 digits). */
const INT64_LIMIT = '9223372036854775808';

function timeInRange(s: string): boolean {
  return s.length < 19 || (s.length === 19 && s < INT64_LIMIT);
}

function decimalLess(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a < b;
}

function checkTime(field: string, s: string, required: boolean): void {
  if (s === '0') {
    if (required) throw new Rejection('MISSING', `${field} is missing`);
    return;
  }
  if (!timeInRange(s)) throw new Rejection('TIME_OUT_OF_RANGE', `${field} is out of range (must be < 2^63)`);
}

// ---------------------------------------------------------------------------------------------
// Items: the order of the checks, after the ids (checked first, in field order, with checkId)
// ---------------------------------------------------------------------------------------------

/**
 * A span, after its ids: name, start and end times, the first faulty attribute, the first
 * faulty link. `linkFault` is that link's own fault (checkLink), found while reading it.
 */
export function checkSpan(name: string, start: string, end: string, attrs: AttrSet, linkFault: Rejection | null): void {
  if (name === '') throw new Rejection('MISSING', 'name is missing');
  checkTime('start_time_unix_nano', start, true);
  checkTime('end_time_unix_nano', end, true);
  if (decimalLess(end, start)) {
    throw new Rejection('END_BEFORE_START', `end_time_unix_nano (${end}) is before start_time_unix_nano (${start})`);
  }
  if (attrs.fault) throw attrs.fault;
  if (linkFault) throw linkFault;
}

/** A link, after its ids: its attributes. Its notes go to the span's set, where readers look. */
export function checkLink(prefix: string, attrs: AttrSet, spanAttrs: AttrSet): void {
  if (attrs.fault) throw attrs.fault;
  if (attrs.notes) for (const note of attrs.notes) addNote(spanAttrs, note);
  if (attrs.dropped) addNote(spanAttrs, `${prefix}attributes(+${attrs.dropped} dropped)`);
}

/** A log record, after its (optional) ids: time, observed time, body, attributes. */
export function checkLog(time: string, observed: string, bodyFault: Rejection | null, attrs: AttrSet): void {
  checkTime('time_unix_nano', time, false);
  checkTime('observed_time_unix_nano', observed, false);
  if (bodyFault) throw within('body', bodyFault);
  if (attrs.fault) throw attrs.fault;
}

/** Where the items of a request go, indexed across all resources and scopes. */
export interface Out<T> {
  items: T[];
  rejected: RejectedItem[];
  /** Flattened index of the next item. */
  next: number;
}

/** An item read without fault is kept, unless its resource is faulty. */
export function keep<T>(out: Out<T>, index: number, item: T, resourceFault: Rejection | null): void {
  if (resourceFault) out.rejected.push({ index, reason: resourceFault.reason, code: resourceFault.code });
  else out.items.push(item);
}

/** An item that threw: listed as rejected if it was a Rejection; anything else goes on up. */
export function reject<T>(out: Out<T>, index: number, err: unknown): void {
  if (!(err instanceof Rejection)) throw err;
  out.rejected.push({ index, reason: err.reason, code: err.code });
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

export interface DecodeOptions {
  /** Longer string (UTF-16 units) and bytes values are truncated; the item gets a note. */
  maxAttributeValueLength?: number;
  /** Distinct attribute keys kept per span / log record / link / resource; the rest is dropped with a note. */
  maxAttributes?: number;
  /** AnyValue nesting allowed (a plain value is depth 1); deeper rejects the item. */
  maxDepth?: number;
  /** Links kept per span; the rest is dropped with a note. */
  maxLinks?: number;
}

export const DEFAULT_DECODE_OPTIONS: Readonly<Required<DecodeOptions>> = Object.freeze({
  maxAttributeValueLength: 65536,
  maxAttributes: 1024,
  maxDepth: 16,
  maxLinks: 1024,
});

export interface Limits {
  valueLen: number;
  attrs: number;
  depth: number;
  links: number;
}

export function limitsOf(options: DecodeOptions | undefined): Limits {
  const o = { ...DEFAULT_DECODE_OPTIONS, ...options };
  return { valueLen: o.maxAttributeValueLength, attrs: o.maxAttributes, depth: o.maxDepth, links: o.maxLinks };
}

/** Called on entering an AnyValue at `depth` (a plain value is 1). */
export function checkDepth(depth: number, lim: Limits): void {
  if (depth > lim.depth) throw new Rejection('TOO_DEEP', `value nested deeper than ${lim.depth} levels`);
}

/**
 * Attribute added to an item (or a resource) whose values were cut by the limits: the
 * truncated keys, comma-separated, plus `attributes(+N dropped)` / `links(+N dropped)`.
 * Non-attribute fields are named as `name`, `status.message`, `body`, `severity_text`, `event_name`.
 */
export const TRUNCATED_ATTRIBUTE = 'otel_audit.truncated';

/** Caps the note itself, so 100k truncated keys cannot make a huge attribute. */
const MAX_NOTES = 32;

/** One attribute list being filled, with its limit bookkeeping and its first fault. */
export class AttrSet {
  values: Attributes = {};
  count = 0;
  dropped = 0;
  notes: string[] | null = null;
  moreNotes = 0;
  /** The first attribute's fault; the decoders read on (the item's other checks come first). */
  fault: Rejection | null = null;
}

/** False: the attribute is over maxAttributes and is dropped, its value left unread. */
export function admitAttr(set: AttrSet, key: string, lim: Limits): boolean {
  if (set.count >= lim.attrs && !Object.hasOwn(set.values, key)) {
    set.dropped++;
    return false;
  }
  return true;
}

/** Stores an admitted attribute; `truncated`: its key or value was cut (noted as prefix + key). */
export function putAttr(set: AttrSet, prefix: string, key: string, value: AttrValue, truncated: boolean, lim: Limits): void {
  if (truncated) addNote(set, prefix + key);
  if (set.count < lim.attrs && !Object.hasOwn(set.values, key)) set.count++;
  setAttr(set.values, key, value);
}

export function setAttr(values: { [key: string]: AttrValue }, key: string, value: AttrValue): void {
  // A plain assignment to "__proto__" would replace the prototype instead of adding a key.
  if (key === '__proto__') {
    Object.defineProperty(values, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    values[key] = value;
  }
}

export function addNote(set: AttrSet, what: string): void {
  if (set.notes === null) set.notes = [];
  if (set.notes.length < MAX_NOTES) set.notes.push(what);
  else set.moreNotes++;
}

export function noteDroppedLinks(set: AttrSet, dropped: number): void {
  if (dropped > 0) addNote(set, `links(+${dropped} dropped)`);
}

export function finishAttrs(set: AttrSet): Attributes {
  if (set.notes !== null || set.dropped > 0) {
    const parts = set.notes ?? [];
    if (set.moreNotes > 0) parts.push(`…(+${set.moreNotes} more)`);
    if (set.dropped > 0) parts.push(`attributes(+${set.dropped} dropped)`);
    setAttr(set.values, TRUNCATED_ATTRIBUTE, parts.join(','));
  }
  return set.values;
}

/** Keeps at most `max` UTF-16 units without splitting a surrogate pair; copies so a huge source string is not retained. */
export function cutString(s: string, max: number): string {
  let n = max;
  const c = s.charCodeAt(n - 1);
  if (c >= 0xd800 && c <= 0xdbff) n--;
  return (' ' + s.slice(0, n)).slice(1);
}
