/**
 * OTLP traces and logs → the internal model (`TelemetrySpan`, `TelemetryLog`), from protobuf
 * (a hand-written reader, following the field numbers of schema.ts) and from OTLP/JSON.
 *
 * Two kinds of failure:
 *  - the request as a whole cannot be read (not protobuf, invalid JSON, a container of the
 *    wrong type): `OtlpDecodeError` is thrown, the HTTP layer answers 400;
 *  - one span / log record is invalid (bad id, bad time, nesting too deep...): that item is
 *    listed in `rejected` with a code and a reason and the others are kept (OTLP partial
 *    success). What is invalid, in which order fields are checked and what each fault is
 *    called is rules.ts, shared by both decoders: they only read their encoding.
 *
 * Hostile input stays bounded: strings are truncated before they are decoded in full,
 * attribute counts are capped, AnyValue recursion is capped by `maxDepth`, and everything
 * else is iterative.
 */
import type { AttrValue, Attributes, Scope, SpanLink, TelemetryLog, TelemetrySpan } from '../model.ts';
import {
  AttrSet,
  PARENT_SPAN_ID,
  Rejection,
  SPAN_ID,
  TRACE_ID,
  addNote,
  admitAttr,
  checkDepth,
  checkId,
  checkLink,
  checkLog,
  checkSpan,
  cutString,
  finishAttrs,
  idNotHex,
  inAttribute,
  inResource,
  invalid,
  keep,
  limitsOf,
  noteDroppedLinks,
  putAttr,
  reject,
  setAttr,
  within,
  type DecodeOptions,
  type IdField,
  type Limits,
  type Out,
  type RejectedItem,
} from './rules.ts';

// The rules (rejections, limits, the truncation note) live in rules.ts; re-exported for callers of the decoders.
export { DEFAULT_DECODE_OPTIONS, TRUNCATED_ATTRIBUTE, type DecodeOptions, type RejectCode, type RejectedItem } from './rules.ts';

export class OtlpDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OtlpDecodeError';
  }
}

export interface DecodedBatch<T> {
  items: T[];
  rejected: RejectedItem[];
}

// ---------------------------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------------------------

const TWO_32 = 4294967296;
const E9 = 1e9;
// 2^48 = 281474 * 1e9 + 976710656, so hi * 2^32 can be split in 16-bit halves without losing bits.
const P48_HI = Math.floor(2 ** 48 / E9);
const P48_LO = 2 ** 48 % E9;
const P32_HI = Math.floor(TWO_32 / E9);
const P32_LO = TWO_32 % E9;

/** Unsigned 64-bit (lo, hi 32-bit halves) → decimal string, without BigInt (this runs twice per span). */
export function u64ToDecimal(lo: number, hi: number): string {
  if (hi < 0x200000) return String(hi * TWO_32 + lo);
  const h1 = hi >>> 16;
  const h0 = hi & 0xffff;
  // value = h1 * 2^48 + h0 * 2^32 + lo, each product split into (· div 1e9, · mod 1e9).
  const a = h1 * P48_LO; // < 2^46
  const b = h0 * P32_LO; // < 2^45
  const aLo = a % E9;
  const bLo = b % E9;
  let rem = aLo + bLo + lo;
  let top = h1 * P48_HI + h0 * P32_HI + (a - aLo) / E9 + (b - bLo) / E9;
  const carry = rem % E9;
  top += (rem - carry) / E9;
  rem = carry;
  return String(top) + String(rem).padStart(9, '0');
}

/** Signed int64 → number when it is a safe integer, else a decimal string. */
function int64Value(lo: number, hi: number): number | string {
  if (hi < 0x200000) return hi * TWO_32 + lo;
  if (hi >= 0x80000000) {
    const nlo = (~lo + 1) >>> 0;
    const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
    if (nhi < 0x200000) return -(nhi * TWO_32 + nlo);
    return '-' + u64ToDecimal(nlo, nhi);
  }
  return u64ToDecimal(lo, hi);
}

// ---------------------------------------------------------------------------------------------
// Protobuf reader
// ---------------------------------------------------------------------------------------------

/** Buffer's native slicers, which skip the argument handling of `toString` (measurably faster here). */
interface NativeSlices {
  utf8Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
}

class PbReader {
  readonly buf: Uint8Array;
  /** Same memory as `buf`, for native UTF-8 / hex decoding. */
  readonly text: Buffer & NativeSlices;
  readonly view: DataView;
  readonly lim: Limits;
  pos = 0;
  /** Result of varint64 / fixed64. */
  lo = 0;
  hi = 0;
  /** Set when a value was cut by the limits; the attribute loop turns it into a note. */
  truncated = false;

  constructor(buf: Uint8Array, lim: Limits) {
    // A plain view even when given a Buffer: keeps element access monomorphic.
    this.buf = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    this.text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength) as Buffer & NativeSlices;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.lim = lim;
  }
}

function malformed(what: string, at: number): OtlpDecodeError {
  return new OtlpDecodeError(`invalid protobuf: ${what} at byte ${at}`);
}

/** Low 32 bits of a varint, unsigned. */
function varint32(r: PbReader, end: number): number {
  const buf = r.buf;
  let pos = r.pos;
  if (pos < end) {
    const b0 = buf[pos];
    if (b0 < 0x80) {
      r.pos = pos + 1;
      return b0;
    }
  }
  let v = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    if (pos >= end) throw malformed('truncated varint', r.pos);
    const b = buf[pos++];
    if (shift < 32) v |= (b & 0x7f) << shift;
    if (b < 0x80) {
      r.pos = pos;
      return v >>> 0;
    }
  }
  throw malformed('varint longer than 10 bytes', r.pos);
}

function varint64(r: PbReader, end: number): void {
  const buf = r.buf;
  let pos = r.pos;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw malformed('truncated varint', r.pos);
    const b = buf[pos++];
    if (i < 4) lo |= (b & 0x7f) << (i * 7);
    else if (i === 4) {
      lo |= (b & 0x7f) << 28;
      hi = (b & 0x7f) >>> 4;
    } else hi |= (b & 0x7f) << (i * 7 - 32);
    if (b < 0x80) {
      r.pos = pos;
      r.lo = lo >>> 0;
      r.hi = hi >>> 0;
      return;
    }
  }
  throw malformed('varint longer than 10 bytes', r.pos);
}

function fixed64(r: PbReader, end: number): void {
  const p = r.pos;
  if (p + 8 > end) throw malformed('truncated fixed64', p);
  const b = r.buf;
  r.lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  r.hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
  r.pos = p + 8;
}

/** Reads a length prefix and returns the end offset of the field it announces. */
function lengthEnd(r: PbReader, end: number): number {
  const at = r.pos;
  const b0 = at < end ? r.buf[at] : 0x80;
  let len: number;
  if (b0 < 0x80) {
    r.pos = at + 1;
    len = b0;
  } else {
    // Float arithmetic: an absurd length must fail the bound check, not wrap around.
    len = 0;
    let pos = at;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i === 10) throw malformed('varint longer than 10 bytes', at);
      if (pos >= end) throw malformed('truncated length', at);
      const b = r.buf[pos++];
      len += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) break;
    }
    r.pos = pos;
  }
  const fieldEnd = r.pos + len;
  if (fieldEnd > end) throw malformed(`length ${len} runs past the end of the enclosing message (byte ${end})`, at);
  return fieldEnd;
}

function skipField(r: PbReader, tag: number, end: number): void {
  if (tag >>> 3 === 0) throw malformed('field number 0', r.pos);
  skipWire(r, tag & 7, end);
}

function skipWire(r: PbReader, wireType: number, end: number): void {
  switch (wireType) {
    case 0: {
      const buf = r.buf;
      let pos = r.pos;
      for (let i = 0; ; i++) {
        if (i === 10) throw malformed('varint longer than 10 bytes', r.pos);
        if (pos >= end) throw malformed('truncated varint', r.pos);
        if (buf[pos++] < 0x80) break;
      }
      r.pos = pos;
      return;
    }
    case 1:
      if (r.pos + 8 > end) throw malformed('truncated fixed64', r.pos);
      r.pos += 8;
      return;
    case 2:
      r.pos = lengthEnd(r, end);
      return;
    case 5:
      if (r.pos + 4 > end) throw malformed('truncated fixed32', r.pos);
      r.pos += 4;
      return;
    case 3: {
      // Deprecated groups: skipped iteratively, so nesting depth cannot exhaust the stack.
      let depth = 1;
      while (depth > 0) {
        const tag = varint32(r, end);
        const wt = tag & 7;
        if (tag >>> 3 === 0) throw malformed('field number 0', r.pos);
        if (wt === 3) depth++;
        else if (wt === 4) depth--;
        else skipWire(r, wt, end);
      }
      return;
    }
    case 4:
      throw malformed('unexpected end-group', r.pos);
    default:
      throw malformed(`invalid wire type ${wireType}`, r.pos);
  }
}

// Present in every Node this project supports (>= 24); the fallback only guards a future removal.
const HAS_NATIVE_SLICES =
  typeof (Buffer.prototype as Partial<NativeSlices>).utf8Slice === 'function' &&
  typeof (Buffer.prototype as Partial<NativeSlices>).hexSlice === 'function';

function utf8(r: PbReader, start: number, end: number): string {
  return HAS_NATIVE_SLICES ? r.text.utf8Slice(start, end) : r.text.toString('utf8', start, end);
}

// Attribute keys repeat across spans: a small direct-mapped cache of short keys saves the
// UTF-8 decode, and hands V8 the same (already internalized) string for the property store.
const KEY_CACHE_BITS = 10;
const KEY_CACHE_MAX = 64;
const keyCacheBytes = new Uint8Array((1 << KEY_CACHE_BITS) * KEY_CACHE_MAX);
const keyCacheLengths = new Int32Array(1 << KEY_CACHE_BITS).fill(-1);
const keyCacheStrings: string[] = new Array<string>(1 << KEY_CACHE_BITS).fill('');

function keyString(r: PbReader, start: number, end: number): string {
  const len = end - start;
  if (len > KEY_CACHE_MAX || len > r.lim.valueLen) return limitedString(r, start, end);
  const buf = r.buf;
  let h = len;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  const slot = (h ^ (h >>> 15)) & ((1 << KEY_CACHE_BITS) - 1);
  const base = slot * KEY_CACHE_MAX;
  if (keyCacheLengths[slot] === len) {
    let i = 0;
    while (i < len && keyCacheBytes[base + i] === buf[start + i]) i++;
    if (i === len) return keyCacheStrings[slot];
  }
  const str = utf8(r, start, end);
  keyCacheBytes.set(buf.subarray(start, end), base);
  keyCacheLengths[slot] = len;
  keyCacheStrings[slot] = str;
  return str;
}

/** A string field, cut to the value length limit before it is decoded in full. */
function limitedString(r: PbReader, start: number, end: number): string {
  const max = r.lim.valueLen;
  // n UTF-8 bytes never decode to more than n UTF-16 units.
  if (end - start <= max) return utf8(r, start, end);
  // A UTF-16 unit needs at most 3 UTF-8 bytes: 3 * max bytes are enough for max units.
  let cut = start + 3 * max;
  if (cut >= end) cut = end;
  else while (cut > start && (r.buf[cut] & 0xc0) === 0x80) cut--;
  const s = utf8(r, start, cut);
  if (s.length > max) {
    r.truncated = true;
    return cutString(s, max);
  }
  if (cut < end) r.truncated = true;
  return s;
}

function bytesValue(r: PbReader, start: number, end: number): Uint8Array {
  let stop = end;
  if (end - start > r.lim.valueLen) {
    stop = start + r.lim.valueLen;
    r.truncated = true;
  }
  // A copy: a view would keep the whole request buffer alive.
  const out = new Uint8Array(stop - start);
  out.set(r.buf.subarray(start, stop));
  return out;
}

function isAllZero(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

function hex(r: PbReader, start: number, end: number): string {
  return HAS_NATIVE_SLICES ? r.text.hexSlice(start, end) : r.text.toString('hex', start, end);
}

/** An id field [start, end) (start -1: absent), checked by rules.ts; '' when absent (optional ids, or all zeros). */
function pbId(r: PbReader, start: number, end: number, id: IdField, prefix: string, required: boolean): string {
  const bytes = start < 0 ? 0 : end - start;
  // Zeros are looked for only in an id of the right size: the rules check the size first.
  const allZero = bytes === id.bytes && isAllZero(r.buf, start, end);
  return checkId(id, prefix, bytes, allZero, required) ? hex(r, start, end) : '';
}

// AnyValue ------------------------------------------------------------------------------------

function anyValue(r: PbReader, end: number, depth: number): AttrValue {
  checkDepth(depth, r.lim);
  let v: AttrValue = null;
  while (r.pos < end) {
    const tag = varint32(r, end);
    switch (tag) {
      case 0x0a: {
        const e = lengthEnd(r, end);
        v = limitedString(r, r.pos, e);
        r.pos = e;
        break;
      }
      case 0x10:
        varint64(r, end);
        v = (r.lo | r.hi) !== 0;
        break;
      case 0x18:
        varint64(r, end);
        v = int64Value(r.lo, r.hi);
        break;
      case 0x21:
        if (r.pos + 8 > end) throw malformed('truncated double', r.pos);
        v = r.view.getFloat64(r.pos, true);
        r.pos += 8;
        break;
      case 0x2a: {
        const e = lengthEnd(r, end);
        v = arrayValue(r, e, depth);
        r.pos = e;
        break;
      }
      case 0x32: {
        const e = lengthEnd(r, end);
        v = kvlistValue(r, e, depth);
        r.pos = e;
        break;
      }
      case 0x3a: {
        const e = lengthEnd(r, end);
        v = bytesValue(r, r.pos, e);
        r.pos = e;
        break;
      }
      default:
        skipField(r, tag, end);
    }
  }
  return v;
}

function arrayValue(r: PbReader, end: number, depth: number): AttrValue[] {
  const values: AttrValue[] = [];
  while (r.pos < end) {
    const tag = varint32(r, end);
    if (tag === 0x0a) {
      const e = lengthEnd(r, end);
      try {
        values.push(anyValue(r, e, depth + 1));
      } catch (err) {
        // The same path as the JSON decoder gives.
        if (err instanceof Rejection) within(`array_value.values[${values.length}]`, err);
        throw err;
      }
      r.pos = e;
    } else skipField(r, tag, end);
  }
  return values;
}

function kvlistValue(r: PbReader, end: number, depth: number): { [key: string]: AttrValue } {
  const values: { [key: string]: AttrValue } = {};
  let n = 0;
  while (r.pos < end) {
    const tag = varint32(r, end);
    if (tag === 0x0a) {
      const e = lengthEnd(r, end);
      let key = '';
      let value: AttrValue = null;
      while (r.pos < e) {
        const t = varint32(r, e);
        if (t === 0x0a) {
          const ke = lengthEnd(r, e);
          key = keyString(r, r.pos, ke);
          r.pos = ke;
        } else if (t === 0x12) {
          const ve = lengthEnd(r, e);
          try {
            value = anyValue(r, ve, depth + 1);
          } catch (err) {
            if (err instanceof Rejection) within(`kvlist_value.values[${n}]`, err);
            throw err;
          }
          r.pos = ve;
        } else skipField(r, t, e);
      }
      setAttr(values, key, value);
      n++;
      r.pos = e;
    } else skipField(r, tag, end);
  }
  return values;
}

/**
 * One KeyValue message [r.pos, end) into `set`. `prefix` names the list in notes and reasons.
 * A faulty value is kept in set.fault and the list read on: the rules decide when it counts.
 */
function keyValue(r: PbReader, end: number, set: AttrSet, prefix: string): void {
  let key = '';
  let keyCut = false;
  let vStart = -1;
  let vEnd = -1;
  // Fields may come in any order: the value is located first and decoded once the key is known.
  while (r.pos < end) {
    const tag = varint32(r, end);
    if (tag === 0x0a) {
      const e = lengthEnd(r, end);
      r.truncated = false;
      key = keyString(r, r.pos, e);
      keyCut = r.truncated;
      r.pos = e;
    } else if (tag === 0x12) {
      vEnd = lengthEnd(r, end);
      vStart = r.pos;
      r.pos = vEnd;
    } else skipField(r, tag, end);
  }
  if (!admitAttr(set, key, r.lim)) return;
  let value: AttrValue = null;
  r.truncated = keyCut;
  if (vStart >= 0) {
    r.pos = vStart;
    try {
      value = anyValue(r, vEnd, 1);
    } catch (e) {
      if (!(e instanceof Rejection)) throw e;
      set.fault ??= inAttribute(prefix, key, e);
    }
    r.pos = end;
  }
  putAttr(set, prefix, key, value, r.truncated, r.lim);
}

// Resource and scope --------------------------------------------------------------------------

function resourceInto(r: PbReader, end: number, set: AttrSet): void {
  while (r.pos < end) {
    const tag = varint32(r, end);
    if (tag === 0x0a) {
      const e = lengthEnd(r, end);
      keyValue(r, e, set, '');
      r.pos = e;
    } else skipField(r, tag, end);
  }
}

function scopeInto(r: PbReader, end: number, scope: Scope): void {
  // Scope attributes are not part of the model: skipped.
  while (r.pos < end) {
    const tag = varint32(r, end);
    if (tag === 0x0a || tag === 0x12) {
      const e = lengthEnd(r, end);
      r.truncated = false;
      const s = limitedString(r, r.pos, e);
      if (tag === 0x0a) scope.name = s;
      else scope.version = s;
      r.pos = e;
    } else skipField(r, tag, end);
  }
}

/**
 * Resource and scope may come after the items on the wire. The envelope is scanned first for
 * its resource and item-list ranges, so the resource is complete before any item is built.
 */
function resourceEnvelope<T>(
  r: PbReader,
  end: number,
  out: Out<T>,
  readList: (r: PbReader, end: number, out: Out<T>, resource: Attributes, resourceFault: Rejection | null) => void,
): void {
  const resourceRanges: number[] = [];
  const listRanges: number[] = [];
  while (r.pos < end) {
    const tag = varint32(r, end);
    if (tag === 0x0a || tag === 0x12) {
      const e = lengthEnd(r, end);
      (tag === 0x0a ? resourceRanges : listRanges).push(r.pos, e);
      r.pos = e;
    } else skipField(r, tag, end);
  }
  const set = new AttrSet();
  for (let i = 0; i < resourceRanges.length; i += 2) {
    r.pos = resourceRanges[i];
    resourceInto(r, resourceRanges[i + 1], set);
  }
  const resourceFault = set.fault ? inResource(set.fault) : null;
  const resource = finishAttrs(set);
  for (let i = 0; i < listRanges.length; i += 2) {
    r.pos = listRanges[i];
    readList(r, listRanges[i + 1], out, resource, resourceFault);
  }
  r.pos = end;
}

/** ScopeSpans / ScopeLogs: field 1 scope, field 2 items. The scope object is shared, filled whenever it comes. */
function scopeList<T>(
  r: PbReader,
  end: number,
  out: Out<T>,
  resource: Attributes,
  resourceFault: Rejection | null,
  readItem: (r: PbReader, end: number, resource: Attributes, scope: Scope) => T,
): void {
  const scope: Scope = { name: '', version: '' };
  while (r.pos < end) {
    const tag = varint32(r, end);
    if (tag === 0x12) {
      const e = lengthEnd(r, end);
      const index = out.next++;
      try {
        keep(out, index, readItem(r, e, resource, scope), resourceFault);
      } catch (err) {
        reject(out, index, err);
      }
      r.pos = e;
    } else if (tag === 0x0a) {
      const e = lengthEnd(r, end);
      scopeInto(r, e, scope);
      r.pos = e;
    } else skipField(r, tag, end);
  }
}

// Spans ---------------------------------------------------------------------------------------

function link(r: PbReader, end: number, n: number, spanSet: AttrSet): SpanLink {
  let tS = -1;
  let tE = -1;
  let sS = -1;
  let sE = -1;
  const set = new AttrSet();
  const prefix = `links[${n}].`;
  while (r.pos < end) {
    const tag = varint32(r, end);
    switch (tag) {
      case 0x0a:
        tE = lengthEnd(r, end);
        tS = r.pos;
        r.pos = tE;
        break;
      case 0x12:
        sE = lengthEnd(r, end);
        sS = r.pos;
        r.pos = sE;
        break;
      case 0x22: {
        const e = lengthEnd(r, end);
        keyValue(r, e, set, prefix);
        r.pos = e;
        break;
      }
      default:
        skipField(r, tag, end);
    }
  }
  const traceId = pbId(r, tS, tE, TRACE_ID, prefix, true);
  const spanId = pbId(r, sS, sE, SPAN_ID, prefix, true);
  checkLink(prefix, set, spanSet);
  return { traceId, spanId, attributes: set.values };
}

function span(r: PbReader, end: number, resource: Attributes, scope: Scope): TelemetrySpan {
  let tS = -1;
  let tE = -1;
  let sS = -1;
  let sE = -1;
  let pS = -1;
  let pE = -1;
  let name = '';
  let kind = 0;
  let startLo = 0;
  let startHi = 0;
  let endLo = 0;
  let endHi = 0;
  let statusCode = 0;
  let statusMessage = '';
  const set = new AttrSet();
  const links: SpanLink[] = [];
  let droppedLinks = 0;
  let linkFault: Rejection | null = null;
  while (r.pos < end) {
    const tag = varint32(r, end);
    switch (tag) {
      case 0x0a: // trace_id
        tE = lengthEnd(r, end);
        tS = r.pos;
        r.pos = tE;
        break;
      case 0x12: // span_id
        sE = lengthEnd(r, end);
        sS = r.pos;
        r.pos = sE;
        break;
      case 0x22: // parent_span_id
        pE = lengthEnd(r, end);
        pS = r.pos;
        r.pos = pE;
        break;
      case 0x2a: {
        // name
        const e = lengthEnd(r, end);
        r.truncated = false;
        name = limitedString(r, r.pos, e);
        if (r.truncated) addNote(set, 'name');
        r.pos = e;
        break;
      }
      case 0x30: // kind
        kind = varint32(r, end) | 0;
        break;
      case 0x39: // start_time_unix_nano
        fixed64(r, end);
        startLo = r.lo;
        startHi = r.hi;
        break;
      case 0x41: // end_time_unix_nano
        fixed64(r, end);
        endLo = r.lo;
        endHi = r.hi;
        break;
      case 0x4a: {
        // attributes
        const e = lengthEnd(r, end);
        keyValue(r, e, set, '');
        r.pos = e;
        break;
      }
      case 0x6a: {
        // links
        const e = lengthEnd(r, end);
        if (linkFault !== null) {
          // The span is rejected: later links need not be read.
        } else if (links.length < r.lim.links) {
          // Read on after a faulty link: the rules check the span's own fields first.
          try {
            links.push(link(r, e, links.length, set));
          } catch (err) {
            if (!(err instanceof Rejection)) throw err;
            linkFault = err;
          }
        } else droppedLinks++;
        r.pos = e;
        break;
      }
      case 0x7a: {
        // status (repeated occurrences merge, as protobuf requires)
        const e = lengthEnd(r, end);
        while (r.pos < e) {
          const t = varint32(r, e);
          if (t === 0x12) {
            const me = lengthEnd(r, e);
            r.truncated = false;
            statusMessage = limitedString(r, r.pos, me);
            if (r.truncated) addNote(set, 'status.message');
            r.pos = me;
          } else if (t === 0x18) {
            statusCode = varint32(r, e) | 0;
          } else skipField(r, t, e);
        }
        break;
      }
      default:
        // trace_state, dropped counts, events, flags and unknown fields.
        skipField(r, tag, end);
    }
  }
  const traceId = pbId(r, tS, tE, TRACE_ID, '', true);
  const spanId = pbId(r, sS, sE, SPAN_ID, '', true);
  const parentSpanId = pbId(r, pS, pE, PARENT_SPAN_ID, '', false);
  const startTimeUnixNano = u64ToDecimal(startLo, startHi);
  const endTimeUnixNano = u64ToDecimal(endLo, endHi);
  checkSpan(name, startTimeUnixNano, endTimeUnixNano, set, linkFault);
  noteDroppedLinks(set, droppedLinks);
  return {
    traceId,
    spanId,
    parentSpanId,
    name,
    kind,
    startTimeUnixNano,
    endTimeUnixNano,
    attributes: finishAttrs(set),
    links,
    statusCode,
    statusMessage,
    resource,
    scope,
  };
}

function scopeSpans(r: PbReader, end: number, out: Out<TelemetrySpan>, resource: Attributes, resourceFault: Rejection | null): void {
  scopeList(r, end, out, resource, resourceFault, span);
}

// Logs ----------------------------------------------------------------------------------------

function logRecord(r: PbReader, end: number, resource: Attributes, scope: Scope): TelemetryLog {
  let tS = -1;
  let tE = -1;
  let sS = -1;
  let sE = -1;
  let timeLo = 0;
  let timeHi = 0;
  let obsLo = 0;
  let obsHi = 0;
  let severityNumber = 0;
  let severityText = '';
  let eventName = '';
  let body: AttrValue = null;
  let bodyFault: Rejection | null = null;
  const set = new AttrSet();
  while (r.pos < end) {
    const tag = varint32(r, end);
    switch (tag) {
      case 0x09: // time_unix_nano
        fixed64(r, end);
        timeLo = r.lo;
        timeHi = r.hi;
        break;
      case 0x59: // observed_time_unix_nano
        fixed64(r, end);
        obsLo = r.lo;
        obsHi = r.hi;
        break;
      case 0x10: // severity_number
        severityNumber = varint32(r, end) | 0;
        break;
      case 0x1a:
      case 0x62: {
        // severity_text, event_name
        const e = lengthEnd(r, end);
        r.truncated = false;
        const s = limitedString(r, r.pos, e);
        if (tag === 0x1a) severityText = s;
        else eventName = s;
        if (r.truncated) addNote(set, tag === 0x1a ? 'severity_text' : 'event_name');
        r.pos = e;
        break;
      }
      case 0x2a: {
        // body
        const e = lengthEnd(r, end);
        r.truncated = false;
        try {
          body = anyValue(r, e, 1);
        } catch (err) {
          if (!(err instanceof Rejection)) throw err;
          bodyFault ??= err;
        }
        if (r.truncated) addNote(set, 'body');
        r.pos = e;
        break;
      }
      case 0x32: {
        // attributes
        const e = lengthEnd(r, end);
        keyValue(r, e, set, '');
        r.pos = e;
        break;
      }
      case 0x4a: // trace_id
        tE = lengthEnd(r, end);
        tS = r.pos;
        r.pos = tE;
        break;
      case 0x52: // span_id
        sE = lengthEnd(r, end);
        sS = r.pos;
        r.pos = sE;
        break;
      default:
        // dropped_attributes_count, flags and unknown fields.
        skipField(r, tag, end);
    }
  }
  const traceId = pbId(r, tS, tE, TRACE_ID, '', false);
  const spanId = pbId(r, sS, sE, SPAN_ID, '', false);
  const time = u64ToDecimal(timeLo, timeHi);
  const observed = u64ToDecimal(obsLo, obsHi);
  checkLog(time, observed, bodyFault, set);
  const observedTimeUnixNano = observed === '0' ? '' : observed;
  const timeUnixNano = time === '0' ? observedTimeUnixNano : time;
  return {
    traceId,
    spanId,
    timeUnixNano,
    observedTimeUnixNano,
    severityNumber,
    severityText,
    eventName,
    body,
    attributes: finishAttrs(set),
    resource,
    scope,
  };
}

function scopeLogs(r: PbReader, end: number, out: Out<TelemetryLog>, resource: Attributes, resourceFault: Rejection | null): void {
  scopeList(r, end, out, resource, resourceFault, logRecord);
}

function decodeProtobuf<T>(
  body: Uint8Array,
  options: DecodeOptions | undefined,
  readList: (r: PbReader, end: number, out: Out<T>, resource: Attributes, resourceFault: Rejection | null) => void,
): DecodedBatch<T> {
  if (!(body instanceof Uint8Array)) throw new OtlpDecodeError('request body must be bytes');
  const r = new PbReader(body, limitsOf(options));
  const out: Out<T> = { items: [], rejected: [], next: 0 };
  const end = body.length;
  while (r.pos < end) {
    const tag = varint32(r, end);
    if (tag === 0x0a) {
      const e = lengthEnd(r, end);
      resourceEnvelope(r, e, out, readList);
    } else skipField(r, tag, end);
  }
  return { items: out.items, rejected: out.rejected };
}

/** ExportTraceServiceRequest (protobuf) → spans. Throws OtlpDecodeError when the request is not readable. */
export function decodeTracesProtobuf(body: Uint8Array, options?: DecodeOptions): DecodedBatch<TelemetrySpan> {
  return decodeProtobuf(body, options, scopeSpans);
}

/** ExportLogsServiceRequest (protobuf) → log records. Throws OtlpDecodeError when the request is not readable. */
export function decodeLogsProtobuf(body: Uint8Array, options?: DecodeOptions): DecodedBatch<TelemetryLog> {
  return decodeProtobuf(body, options, scopeLogs);
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding)
// ---------------------------------------------------------------------------------------------

type Obj = { [key: string]: unknown };

const EMPTY: readonly unknown[] = Object.freeze([]);
const HEX_RE = /^[0-9a-fA-F]+$/;
const ZERO_RE = /^0+$/;
// Bounded, so BigInt never sees a huge digit string.
const INT_RE = /^-?[0-9]{1,40}$/;
const UINT_RE = /^[0-9]{1,40}$/;
const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

const SPAN_KINDS = new Map([
  ['SPAN_KIND_UNSPECIFIED', 0],
  ['SPAN_KIND_INTERNAL', 1],
  ['SPAN_KIND_SERVER', 2],
  ['SPAN_KIND_CLIENT', 3],
  ['SPAN_KIND_PRODUCER', 4],
  ['SPAN_KIND_CONSUMER', 5],
]);
const STATUS_CODES = new Map([
  ['STATUS_CODE_UNSET', 0],
  ['STATUS_CODE_OK', 1],
  ['STATUS_CODE_ERROR', 2],
]);
const SEVERITIES = new Map<string, number>([['SEVERITY_NUMBER_UNSPECIFIED', 0]]);
for (const [i, level] of ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].entries()) {
  for (let n = 1; n <= 4; n++) SEVERITIES.set(`SEVERITY_NUMBER_${level}${n === 1 ? '' : n}`, i * 4 + n);
}

class JsonCtx {
  readonly lim: Limits;
  /** Second pass: big integer literals arrive as strings of their exact digits. */
  readonly exact: boolean;
  /** An int64 came as a JSON number beyond 2^53: the first pass lost digits and the text is parsed again. */
  inexact = false;
  truncated = false;
  constructor(lim: Limits, exact: boolean) {
    this.lim = lim;
    this.exact = exact;
  }
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A field by its lowerCamelCase name or its proto name (both are valid protobuf JSON); null is absent. */
function get(o: Obj, camel: string, snake?: string): unknown {
  const v = o[camel];
  if (v !== undefined && v !== null) return v;
  if (snake === undefined) return undefined;
  const w = o[snake];
  return w === null ? undefined : w;
}

function requestList(v: unknown, path: string): readonly unknown[] {
  if (v === undefined) return EMPTY;
  if (!Array.isArray(v)) throw new OtlpDecodeError(`${path} must be an array`);
  return v;
}

function itemList(v: unknown, field: string): readonly unknown[] {
  if (v === undefined) return EMPTY;
  if (!Array.isArray(v)) throw invalid(`${field} must be an array`);
  return v;
}

/**
 * Every string of a JSON request passes here. A `\ud800` escape decodes to a lone surrogate,
 * which no UTF-8 store can hold: the row would be stored with U+FFFD while the chain hashed the
 * surrogate, and verify would report the event `modified` for ever. It becomes U+FFFD here, as
 * invalid UTF-8 does in the protobuf reader (`utf8Slice`) and in the body's TextDecoder, so
 * every later stage sees well-formed strings. `isWellFormed` is O(1) on V8's one-byte strings.
 */
function jsonString(s: string, ctx: JsonCtx): string {
  if (s.length > ctx.lim.valueLen) {
    ctx.truncated = true;
    s = cutString(s, ctx.lim.valueLen);
  }
  return s.isWellFormed() ? s : s.toWellFormed();
}

/** A string field of an item; `field` names it in reasons and in the truncation note. */
function jsonText(v: unknown, field: string, ctx: JsonCtx, set: AttrSet): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw invalid(`${field} must be a string`);
  ctx.truncated = false;
  const s = jsonString(v, ctx);
  if (ctx.truncated) addNote(set, field);
  return s;
}

function jsonInt64(x: unknown, ctx: JsonCtx): number | string {
  if (typeof x === 'number') {
    if (Number.isSafeInteger(x)) return x;
    if (!Number.isInteger(x)) throw invalid('int_value must be an integer');
    // Only reached in the exact pass for a non-plain literal (1e19): the double is all there is.
    if (!ctx.exact) ctx.inexact = true;
    if (x >= 2 ** 63 || x < -(2 ** 63)) throw invalid('int_value is out of int64 range');
    return BigInt(x).toString();
  }
  if (typeof x === 'string' && INT_RE.test(x)) {
    const n = Number(x);
    if (Number.isSafeInteger(n)) return n === 0 ? 0 : n;
    const b = BigInt(x);
    if (b > INT64_MAX || b < INT64_MIN) throw invalid('int_value is out of int64 range');
    return b.toString();
  }
  throw invalid('int_value must be an integer or a decimal string');
}

function jsonDouble(x: unknown): number {
  if (typeof x === 'number') return x;
  if (typeof x === 'string') {
    if (x === 'NaN') return NaN;
    if (x === 'Infinity') return Infinity;
    if (x === '-Infinity') return -Infinity;
    if (x.length <= 64 && x.trim() !== '') {
      const n = Number(x);
      if (!Number.isNaN(n)) return n;
    }
  }
  throw invalid('double_value must be a number');
}

function jsonBytes(x: unknown, ctx: JsonCtx): Uint8Array {
  if (typeof x !== 'string') throw invalid('bytes_value must be a base64 string');
  const max = ctx.lim.valueLen;
  // Decode only what the limit keeps: 4 base64 characters per 3 bytes.
  const maxChars = Math.ceil(max / 3) * 4;
  const s = x.length > maxChars ? x.slice(0, maxChars) : x;
  if (!BASE64_RE.test(s)) throw invalid('bytes_value must be a base64 string');
  const decoded = Buffer.from(s, 'base64');
  const n = decoded.length > max ? max : decoded.length;
  if (n < decoded.length || s !== x) ctx.truncated = true;
  const out = new Uint8Array(n);
  out.set(decoded.subarray(0, n));
  return out;
}

function jsonAnyValue(v: unknown, ctx: JsonCtx, depth: number): AttrValue {
  checkDepth(depth, ctx.lim);
  if (v === undefined || v === null) return null;
  if (!isObj(v)) throw invalid('value must be an AnyValue object');
  let x = get(v, 'stringValue', 'string_value');
  if (x !== undefined) {
    if (typeof x !== 'string') throw invalid('string_value must be a string');
    return jsonString(x, ctx);
  }
  x = get(v, 'boolValue', 'bool_value');
  if (x !== undefined) {
    if (typeof x !== 'boolean') throw invalid('bool_value must be a boolean');
    return x;
  }
  x = get(v, 'intValue', 'int_value');
  if (x !== undefined) return jsonInt64(x, ctx);
  x = get(v, 'doubleValue', 'double_value');
  if (x !== undefined) return jsonDouble(x);
  x = get(v, 'arrayValue', 'array_value');
  if (x !== undefined) {
    if (!isObj(x)) throw invalid('array_value must be an object');
    const list = itemList(get(x, 'values'), 'array_value.values');
    const out: AttrValue[] = new Array(list.length);
    for (let i = 0; i < list.length; i++) {
      try {
        out[i] = jsonAnyValue(list[i], ctx, depth + 1);
      } catch (e) {
        if (e instanceof Rejection) within(`array_value.values[${i}]`, e);
        throw e;
      }
    }
    return out;
  }
  x = get(v, 'kvlistValue', 'kvlist_value');
  if (x !== undefined) {
    if (!isObj(x)) throw invalid('kvlist_value must be an object');
    const list = itemList(get(x, 'values'), 'kvlist_value.values');
    const out: { [key: string]: AttrValue } = {};
    for (let i = 0; i < list.length; i++) {
      const kv = list[i];
      if (!isObj(kv)) throw invalid(`kvlist_value.values[${i}] must be an object`);
      const key = kv.key === undefined || kv.key === null ? '' : kv.key;
      if (typeof key !== 'string') throw invalid(`kvlist_value.values[${i}].key must be a string`);
      try {
        setAttr(out, jsonString(key, ctx), jsonAnyValue(kv.value, ctx, depth + 1));
      } catch (e) {
        if (e instanceof Rejection) within(`kvlist_value.values[${i}]`, e);
        throw e;
      }
    }
    return out;
  }
  x = get(v, 'bytesValue', 'bytes_value');
  if (x !== undefined) return jsonBytes(x, ctx);
  return null;
}

/** An attribute list into `set`; its first fault is kept in set.fault, for the rules to report in their order. */
function jsonAttributes(v: unknown, ctx: JsonCtx, set: AttrSet, prefix: string): void {
  try {
    const list = itemList(v, `${prefix}attributes`);
    for (let i = 0; i < list.length; i++) {
      const kv = list[i];
      if (!isObj(kv)) throw invalid(`${prefix}attributes[${i}] must be an object`);
      const rawKey = kv.key === undefined || kv.key === null ? '' : kv.key;
      if (typeof rawKey !== 'string') throw invalid(`${prefix}attributes[${i}].key must be a string`);
      ctx.truncated = false;
      const key = jsonString(rawKey, ctx);
      if (!admitAttr(set, key, ctx.lim)) continue;
      let value: AttrValue;
      try {
        value = jsonAnyValue(kv.value, ctx, 1);
      } catch (e) {
        if (e instanceof Rejection) inAttribute(prefix, key, e);
        throw e;
      }
      putAttr(set, prefix, key, value, ctx.truncated, ctx.lim);
    }
  } catch (e) {
    if (!(e instanceof Rejection)) throw e;
    set.fault ??= e;
  }
}

/** An id: hex digits (OTLP/JSON's own rule), then the rules every encoding shares (rules.ts checkId). */
function jsonId(v: unknown, id: IdField, prefix: string, required: boolean): string {
  if (v === undefined || v === '') {
    checkId(id, prefix, 0, false, required);
    return '';
  }
  if (typeof v !== 'string' || v.length % 2 !== 0 || !HEX_RE.test(v)) throw idNotHex(id, prefix, required, v);
  return checkId(id, prefix, v.length / 2, ZERO_RE.test(v), required) ? v.toLowerCase() : '';
}

/** A fixed64 time → decimal string without leading zeros; '0' when absent. Its range is the rules' (checkSpan, checkLog). */
function jsonTime(v: unknown, field: string, ctx: JsonCtx): string {
  if (v === undefined) return '0';
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) throw invalid(`${field} must be a non-negative integer`);
    if (Number.isSafeInteger(v)) return String(v);
    if (!ctx.exact) ctx.inexact = true;
    return BigInt(v).toString();
  }
  if (typeof v === 'string' && UINT_RE.test(v)) {
    let i = 0;
    while (i < v.length - 1 && v.charCodeAt(i) === 48) i++;
    return i === 0 ? v : v.slice(i);
  }
  throw invalid(`${field} must be a decimal string`);
}

function jsonEnum(v: unknown, names: Map<string, number>, field: string): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw invalid(`${field} must be an int32 or an enum name`);
    return v;
  }
  if (typeof v === 'string') {
    const n = names.get(v);
    if (n === undefined) throw invalid(`${field} has an unknown enum name`);
    return n;
  }
  throw invalid(`${field} must be an int32 or an enum name`);
}

function jsonLink(v: unknown, ctx: JsonCtx, n: number, spanSet: AttrSet): SpanLink {
  const prefix = `links[${n}].`;
  if (!isObj(v)) throw invalid(`links[${n}] must be an object`);
  const set = new AttrSet();
  jsonAttributes(get(v, 'attributes'), ctx, set, prefix);
  const traceId = jsonId(get(v, 'traceId', 'trace_id'), TRACE_ID, prefix, true);
  const spanId = jsonId(get(v, 'spanId', 'span_id'), SPAN_ID, prefix, true);
  checkLink(prefix, set, spanSet);
  return { traceId, spanId, attributes: set.values };
}

function jsonSpan(v: unknown, ctx: JsonCtx, resource: Attributes, scope: Scope): TelemetrySpan {
  if (!isObj(v)) throw invalid('span must be an object');
  const set = new AttrSet();
  const traceId = jsonId(get(v, 'traceId', 'trace_id'), TRACE_ID, '', true);
  const spanId = jsonId(get(v, 'spanId', 'span_id'), SPAN_ID, '', true);
  const parentSpanId = jsonId(get(v, 'parentSpanId', 'parent_span_id'), PARENT_SPAN_ID, '', false);
  const name = jsonText(get(v, 'name'), 'name', ctx, set);
  const startTimeUnixNano = jsonTime(get(v, 'startTimeUnixNano', 'start_time_unix_nano'), 'start_time_unix_nano', ctx);
  const endTimeUnixNano = jsonTime(get(v, 'endTimeUnixNano', 'end_time_unix_nano'), 'end_time_unix_nano', ctx);
  const kind = jsonEnum(get(v, 'kind'), SPAN_KINDS, 'kind');
  jsonAttributes(get(v, 'attributes'), ctx, set, '');
  const linkList = itemList(get(v, 'links'), 'links');
  const n = Math.min(linkList.length, ctx.lim.links);
  const links: SpanLink[] = [];
  let linkFault: Rejection | null = null;
  // The first faulty link is reported after the span's own fields (rules.ts checkSpan).
  for (let i = 0; i < n && linkFault === null; i++) {
    try {
      links.push(jsonLink(linkList[i], ctx, i, set));
    } catch (e) {
      if (!(e instanceof Rejection)) throw e;
      linkFault = e;
    }
  }
  let statusCode = 0;
  let statusMessage = '';
  const status = get(v, 'status');
  if (status !== undefined) {
    if (!isObj(status)) throw invalid('status must be an object');
    statusCode = jsonEnum(get(status, 'code'), STATUS_CODES, 'status.code');
    statusMessage = jsonText(get(status, 'message'), 'status.message', ctx, set);
  }
  checkSpan(name, startTimeUnixNano, endTimeUnixNano, set, linkFault);
  noteDroppedLinks(set, linkList.length - n);
  return {
    traceId,
    spanId,
    parentSpanId,
    name,
    kind,
    startTimeUnixNano,
    endTimeUnixNano,
    attributes: finishAttrs(set),
    links,
    statusCode,
    statusMessage,
    resource,
    scope,
  };
}

function jsonLog(v: unknown, ctx: JsonCtx, resource: Attributes, scope: Scope): TelemetryLog {
  if (!isObj(v)) throw invalid('log record must be an object');
  const set = new AttrSet();
  const traceId = jsonId(get(v, 'traceId', 'trace_id'), TRACE_ID, '', false);
  const spanId = jsonId(get(v, 'spanId', 'span_id'), SPAN_ID, '', false);
  const time = jsonTime(get(v, 'timeUnixNano', 'time_unix_nano'), 'time_unix_nano', ctx);
  const observed = jsonTime(get(v, 'observedTimeUnixNano', 'observed_time_unix_nano'), 'observed_time_unix_nano', ctx);
  const severityNumber = jsonEnum(get(v, 'severityNumber', 'severity_number'), SEVERITIES, 'severity_number');
  // Read in field-number order, the order protobuf encoders write: the truncation note lists the same fields in the same order.
  const severityText = jsonText(get(v, 'severityText', 'severity_text'), 'severity_text', ctx, set);
  ctx.truncated = false;
  let body: AttrValue = null;
  let bodyFault: Rejection | null = null;
  try {
    body = jsonAnyValue(get(v, 'body'), ctx, 1);
  } catch (e) {
    if (!(e instanceof Rejection)) throw e;
    bodyFault = e;
  }
  if (ctx.truncated) addNote(set, 'body');
  jsonAttributes(get(v, 'attributes'), ctx, set, '');
  const eventName = jsonText(get(v, 'eventName', 'event_name'), 'event_name', ctx, set);
  checkLog(time, observed, bodyFault, set);
  const observedTimeUnixNano = observed === '0' ? '' : observed;
  return {
    traceId,
    spanId,
    timeUnixNano: time === '0' ? observedTimeUnixNano : time,
    observedTimeUnixNano,
    severityNumber,
    severityText,
    eventName,
    body,
    attributes: finishAttrs(set),
    resource,
    scope,
  };
}

interface JsonShape<T> {
  resources: string;
  resourcesSnake: string;
  scopes: string;
  scopesSnake: string;
  items: string;
  itemsSnake: string;
  readItem: (v: unknown, ctx: JsonCtx, resource: Attributes, scope: Scope) => T;
}

const TRACES_JSON: JsonShape<TelemetrySpan> = {
  resources: 'resourceSpans',
  resourcesSnake: 'resource_spans',
  scopes: 'scopeSpans',
  scopesSnake: 'scope_spans',
  items: 'spans',
  itemsSnake: 'spans',
  readItem: jsonSpan,
};

const LOGS_JSON: JsonShape<TelemetryLog> = {
  resources: 'resourceLogs',
  resourcesSnake: 'resource_logs',
  scopes: 'scopeLogs',
  scopesSnake: 'scope_logs',
  items: 'logRecords',
  itemsSnake: 'log_records',
  readItem: jsonLog,
};

function jsonScope(v: unknown, path: string, ctx: JsonCtx): Scope {
  const scope: Scope = { name: '', version: '' };
  if (v === undefined) return scope;
  if (!isObj(v)) throw new OtlpDecodeError(`${path} must be an object`);
  const name = get(v, 'name');
  const version = get(v, 'version');
  if (name !== undefined && typeof name !== 'string') throw new OtlpDecodeError(`${path}.name must be a string`);
  if (version !== undefined && typeof version !== 'string') throw new OtlpDecodeError(`${path}.version must be a string`);
  if (name !== undefined) scope.name = jsonString(name, ctx);
  if (version !== undefined) scope.version = jsonString(version, ctx);
  return scope;
}

function jsonRequest<T>(root: unknown, ctx: JsonCtx, shape: JsonShape<T>): DecodedBatch<T> {
  if (!isObj(root)) throw new OtlpDecodeError('request must be a JSON object');
  const out: Out<T> = { items: [], rejected: [], next: 0 };
  const resources = requestList(get(root, shape.resources, shape.resourcesSnake), shape.resources);
  for (let i = 0; i < resources.length; i++) {
    const path = `${shape.resources}[${i}]`;
    const rs = resources[i];
    if (!isObj(rs)) throw new OtlpDecodeError(`${path} must be an object`);
    const set = new AttrSet();
    const res = get(rs, 'resource');
    if (res !== undefined) {
      if (!isObj(res)) throw new OtlpDecodeError(`${path}.resource must be an object`);
      const attrs = get(res, 'attributes');
      if (attrs !== undefined && !Array.isArray(attrs)) throw new OtlpDecodeError(`${path}.resource.attributes must be an array`);
      jsonAttributes(attrs, ctx, set, '');
    }
    const resourceFault = set.fault ? inResource(set.fault) : null;
    const resource = finishAttrs(set);
    const scopes = requestList(get(rs, shape.scopes, shape.scopesSnake), `${path}.${shape.scopes}`);
    for (let j = 0; j < scopes.length; j++) {
      const spath = `${path}.${shape.scopes}[${j}]`;
      const ss = scopes[j];
      if (!isObj(ss)) throw new OtlpDecodeError(`${spath} must be an object`);
      const scope = jsonScope(get(ss, 'scope'), `${spath}.scope`, ctx);
      const items = requestList(get(ss, shape.items, shape.itemsSnake), `${spath}.${shape.items}`);
      for (let k = 0; k < items.length; k++) {
        const index = out.next++;
        try {
          keep(out, index, shape.readItem(items[k], ctx, resource, scope), resourceFault);
        } catch (e) {
          reject(out, index, e);
        }
      }
    }
  }
  return { items: out.items, rejected: out.rejected };
}

const utf8Decoder = new TextDecoder();

/**
 * Quotes the integer literals of 16 digits or more outside strings, so that JSON.parse keeps
 * their exact digits (int64 values and times accept strings). A scan rather than a JSON.parse
 * reviver, whose recursion would overflow on deeply nested input.
 */
function quoteBigIntegers(text: string): string {
  let out = '';
  let last = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const digits = c === 0x2d ? i + 1 : i;
      let j = digits;
      while (j < n && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x39) j++;
      const next = j < n ? text.charCodeAt(j) : 0;
      if (j - digits >= 16 && next !== 0x2e && next !== 0x65 && next !== 0x45) {
        out += text.slice(last, i) + '"' + text.slice(i, j) + '"';
        last = j;
      }
      // Rest of a fraction / exponent: never quoted.
      while (j < n && /[0-9.eE+-]/.test(text[j])) j++;
      i = j - 1;
    }
  }
  return last === 0 ? text : out + text.slice(last);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    // V8 gives no position for a cut-off document: the end is where it went wrong.
    throw new OtlpDecodeError(`invalid JSON: ${message}${/position \d/.test(message) ? '' : ` at position ${text.length}`}`);
  }
}

function decodeJson<T>(body: Uint8Array | string, options: DecodeOptions | undefined, shape: JsonShape<T>): DecodedBatch<T> {
  let text: string;
  if (typeof body === 'string') text = body;
  else if (body instanceof Uint8Array) text = utf8Decoder.decode(body);
  else throw new OtlpDecodeError('request body must be bytes or a string');
  const lim = limitsOf(options);
  const ctx = new JsonCtx(lim, false);
  const batch = jsonRequest(parseJson(text), ctx, shape);
  if (!ctx.inexact) return batch;
  // Rare (senders should quote int64s): pay for a second, exact parse only when needed.
  return jsonRequest(parseJson(quoteBigIntegers(text)), new JsonCtx(lim, true), shape);
}

/** ExportTraceServiceRequest (OTLP/JSON) → spans. Throws OtlpDecodeError when the request is not readable. */
export function decodeTracesJson(body: Uint8Array | string, options?: DecodeOptions): DecodedBatch<TelemetrySpan> {
  return decodeJson(body, options, TRACES_JSON);
}

/** ExportLogsServiceRequest (OTLP/JSON) → log records. Throws OtlpDecodeError when the request is not readable. */
export function decodeLogsJson(body: Uint8Array | string, options?: DecodeOptions): DecodedBatch<TelemetryLog> {
  return decodeJson(body, options, LOGS_JSON);
}
