import { dateTime64ToBigInt } from '../internal/time.ts';

/**
 * A RowBinary encoder for a fixed table schema. chDB parses RowBinary about 4× faster than
 * JSONEachRow for the events table (see bench/), and the bytes are what the write-ahead log
 * keeps for a chained batch, so a row is serialized for storage exactly once.
 *
 * Supported types: String, LowCardinality(String), UInt8, UInt32, UInt64, Float64, Bool,
 * DateTime64(9, ...), Nullable(T), Array(T), Tuple(named fields), Map(String, String).
 */
type Encode = (w: RowWriter, v: unknown) => void;

export class RowWriter {
  buf: Buffer;
  pos = 0;

  /** `initial`: a size, or a buffer to write into (reused memory). */
  constructor(initial: number | Buffer = 1 << 20) {
    this.buf = typeof initial === 'number' ? Buffer.allocUnsafe(initial) : initial;
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  string(s: string): void {
    const n = s.length;
    // Up to 42 UTF-16 units the UTF-8 length is below 128: a one-byte length prefix, written
    // after the bytes, saves the byteLength pass for most values (attribute keys, ids, enums).
    if (n < 43) {
      this.ensure(3 * n + 1);
      const buf = this.buf;
      const start = this.pos + 1;
      // ASCII byte by byte: a call into Buffer.write costs more than the loop for short values
      // (most of a row's 80-odd strings), ~50 against ~13 ns. Anything else is written again.
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        buf[start + i] = c;
      }
      const written = i === n ? n : buf.write(s, start, 'utf8');
      buf[this.pos] = written;
      this.pos += written + 1;
      return;
    }
    const len = Buffer.byteLength(s);
    this.varint(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  u8(n: number): void {
    this.ensure(1);
    this.buf[this.pos++] = n;
  }

  u32(n: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(n >>> 0, this.pos);
    this.pos += 4;
  }

  u64(n: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(n, this.pos);
    this.pos += 8;
  }

  i64(n: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(n, this.pos);
    this.pos += 8;
  }

  f64(n: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(n, this.pos);
    this.pos += 8;
  }

  /** The bytes written so far (a copy, so the writer can be reused). */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }

  /**
   * Moves the first `chunk.length` bytes written into `chunk` and keeps the rest: a writer that
   * spills as it goes stays about a chunk in size, whatever the batch.
   */
  spillTo(chunk: Buffer): void {
    const n = chunk.length;
    if (n > this.pos) throw new Error(`RowWriter.spillTo: ${n} bytes asked, ${this.pos} written`);
    this.buf.copy(chunk, 0, 0, n);
    this.buf.copyWithin(0, n, this.pos);
    this.pos -= n;
  }

  /**
   * Copies the bytes written so far into `chunks` (in order, as many bytes as each holds; the
   * spool's reused, shared row chunks) and starts over. The writer's own buffer is never shared
   * memory: V8 writes strings into a SharedArrayBuffer on a slow path.
   */
  moveTo(chunks: readonly Buffer[]): void {
    let at = 0;
    for (const c of chunks) at += this.buf.copy(c, 0, at, Math.min(this.pos, at + c.length));
    if (at !== this.pos) throw new Error(`RowWriter.moveTo: ${at} of ${this.pos} bytes fit`);
    this.pos = 0;
  }
}

/** Splits a ClickHouse type's top-level arguments: 'a String, b Nullable(Float64)' → two. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(s.slice(start).trim());
  return out;
}

function inner(type: string, prefix: string): string | null {
  return type.startsWith(prefix + '(') && type.endsWith(')') ? type.slice(prefix.length + 1, -1) : null;
}

export function encoderFor(rawType: string): Encode {
  const type = rawType.replace(/\s+CODEC\(.*\)$/, '').trim();
  if (type === 'String') return (w, v) => w.string(v === null || v === undefined ? '' : String(v));
  if (type === 'UInt8') return (w, v) => w.u8(Number(v ?? 0) & 0xff);
  if (type === 'UInt32') return (w, v) => w.u32(Number(v ?? 0));
  if (type === 'UInt64') {
    return (w, v) => {
      // Most values are small numbers (seq, durations, token counts): no BigInt for them.
      if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) {
        w.ensure(8);
        w.buf.writeUInt32LE(v % 0x1_0000_0000, w.pos);
        w.buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), w.pos + 4);
        w.pos += 8;
      } else w.u64(BigInt((v as number | string | bigint | null) ?? 0));
    };
  }
  if (type === 'Float64') return (w, v) => w.f64(Number(v ?? 0));
  if (type === 'Bool') return (w, v) => w.u8(v ? 1 : 0);
  if (/^DateTime64\(9(,.*)?\)$/.test(type)) {
    // Consecutive rows often share a time (ingest_time is per request): one parse for a run.
    let lastText = '';
    let lastValue = 0n;
    return (w, v) => {
      const text = String(v);
      if (text !== lastText) {
        lastValue = dateTime64ToBigInt(text);
        lastText = text;
      }
      w.i64(lastValue);
    };
  }
  let arg: string | null;
  if ((arg = inner(type, 'LowCardinality'))) return encoderFor(arg);
  if ((arg = inner(type, 'Nullable'))) {
    const enc = encoderFor(arg);
    return (w, v) => {
      if (v === null || v === undefined) return w.u8(1);
      w.u8(0);
      enc(w, v);
    };
  }
  if ((arg = inner(type, 'Array'))) {
    const enc = encoderFor(arg);
    return (w, v) => {
      const a = (v ?? []) as unknown[];
      w.varint(a.length);
      for (const x of a) enc(w, x);
    };
  }
  if ((arg = inner(type, 'Tuple'))) {
    const fields = splitArgs(arg).map((f) => {
      const m = /^(\w+)\s+(.+)$/.exec(f);
      if (!m) throw new Error(`RowBinary: unnamed tuple field "${f}" is not supported`);
      return [m[1], encoderFor(m[2])] as const;
    });
    return (w, v) => {
      const t = v as Record<string, unknown> | unknown[];
      const isArray = Array.isArray(t);
      for (let i = 0; i < fields.length; i++) {
        const [name, enc] = fields[i];
        enc(w, isArray ? t[i] : (t as Record<string, unknown>)[name]);
      }
    };
  }
  if ((arg = inner(type, 'Map'))) {
    const [k, val] = splitArgs(arg);
    const ek = encoderFor(k);
    const ev = encoderFor(val);
    return (w, v) => {
      const m = (v ?? {}) as Record<string, unknown>;
      // In key order (UTF-16 code units): the same bytes whatever order the object was built
      // or read back in (a row's hash covers them, chain/canonical.ts).
      // Usually already in that order (intake builds them so): checked in one pass, not sorted.
      const keys = Object.keys(m);
      for (let i = 1; i < keys.length; i++) {
        if (keys[i - 1] > keys[i]) {
          keys.sort();
          break;
        }
      }
      w.varint(keys.length);
      for (let i = 0; i < keys.length; i++) {
        ek(w, keys[i]);
        ev(w, m[keys[i]]);
      }
    };
  }
  throw new Error(`RowBinary: unsupported type ${rawType}`);
}

/**
 * An encoder of whole rows, in the given column order. The function is generated with one
 * named property read per column (`row.event_id`): in a loop, `row[name]` is a keyed read that
 * sees every column's name and goes megamorphic, a quarter of a row's encoding time.
 */
export function rowEncoder(columns: ReadonlyArray<readonly [name: string, type: string]>): (w: RowWriter, row: Record<string, unknown>) => void {
  const encoders = columns.map(([, type]) => encoderFor(type));
  const body = columns
    .map(([name], i) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`RowBinary: column name "${name}" is not an identifier`);
      return `e[${i}](w, row.${name});`;
    })
    .join('\n');
  return new Function('e', `return function encodeRow(w, row) {\n${body}\n};`)(encoders) as (w: RowWriter, row: Record<string, unknown>) => void;
}

/** The `structure` argument of file()/input() for these columns. */
export function structureOf(columns: ReadonlyArray<readonly [name: string, type: string]>): string {
  return columns.map(([n, t]) => `${n} ${t.replace(/\s+CODEC\(.*\)$/, '')}`).join(', ');
}
