/**
 * The little DER (ITU-T X.690) that RFC 3161 needs: a reader that keeps each element's exact
 * bytes (signatures are checked over them) and a writer for the request. Low tag numbers and
 * definite lengths only, which is what DER allows for every structure read here; anything else is
 * refused with an error, never guessed at. Certificates themselves are left to node:crypto's
 * X509Certificate.
 */

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** A context-specific tag: [n] constructed (EXPLICIT, or IMPLICIT over a constructed type). */
export const ctx = (n: number): number => 0xa0 | n;

export interface DerNode {
  tag: number;
  /** The whole element: tag, length and content. */
  raw: Buffer;
  /** The content octets. */
  value: Buffer;
}

export class DerError extends Error {}

/** The element at `off`, and where the next one starts. */
export function readElement(buf: Buffer, off = 0): { node: DerNode; end: number } {
  if (off + 2 > buf.length) throw new DerError('truncated DER element');
  const tag = buf[off];
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used by this format');
  let len = buf[off + 1];
  let head = 2;
  if (len === 0x80) throw new DerError('indefinite length (BER) is not DER');
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n > 4 || off + 2 + n > buf.length) throw new DerError('DER length too long');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[off + 2 + i];
    head += n;
  }
  const end = off + head + len;
  if (end > buf.length) throw new DerError('truncated DER element');
  return { node: { tag, raw: buf.subarray(off, end), value: buf.subarray(off + head, end) }, end };
}

/** Exactly one element filling `buf`. */
export function parseDer(buf: Buffer): DerNode {
  const { node, end } = readElement(buf, 0);
  if (end !== buf.length) throw new DerError(`${buf.length - end} trailing bytes after the DER element`);
  return node;
}

/** The elements inside a constructed one. */
export function children(node: DerNode): DerNode[] {
  if (!(node.tag & 0x20)) throw new DerError(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  let off = 0;
  while (off < node.value.length) {
    const { node: c, end } = readElement(node.value, off);
    out.push(c);
    off = end;
  }
  return out;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`${what} is missing`);
  if (node.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`);
  return node;
}

export function oidToString(node: DerNode): string {
  expectTag(node, TAG.OID, 'object identifier');
  const b = node.value;
  if (b.length === 0) throw new DerError('empty object identifier');
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  const first = parts.shift()!;
  const a = first < 40 ? 0 : first < 80 ? 1 : 2;
  return [a, first - a * 40, ...parts].join('.');
}

/** An INTEGER's value (two's complement, big-endian). */
export function integerValue(node: DerNode): bigint {
  expectTag(node, TAG.INTEGER, 'integer');
  if (node.value.length === 0) throw new DerError('empty integer');
  let v = BigInt(`0x${node.value.toString('hex')}`);
  if (node.value[0] & 0x80) v -= 1n << BigInt(node.value.length * 8);
  return v;
}

/** GeneralizedTime as DER has it: YYYYMMDDHHMMSS[.f+]Z. */
export function generalizedTime(node: DerNode): Date {
  expectTag(node, TAG.GENERALIZED_TIME, 'GeneralizedTime');
  const s = node.value.toString('latin1');
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d+)?Z$/.exec(s);
  if (!m) throw new DerError(`invalid GeneralizedTime ${JSON.stringify(s)}`);
  const ms = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms));
}

// ---- writing ----

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function encode(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export function encodeOid(oid: string): Buffer {
  const parts = oid.split('.').map((p) => Number(p));
  if (parts.length < 2 || parts.some((p) => !Number.isSafeInteger(p) || p < 0)) throw new DerError(`invalid object identifier ${oid}`);
  const out: number[] = [];
  for (const v of [parts[0] * 40 + parts[1], ...parts.slice(2)]) {
    const group: number[] = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) group.unshift(0x80 | (x & 0x7f));
    out.push(...group);
  }
  return encode(TAG.OID, Buffer.from(out));
}

/** A non-negative INTEGER from its big-endian magnitude (minimal, with a 0 byte when the top bit is set). */
export function encodeUnsigned(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let v = magnitude.subarray(i);
  if (v.length === 0) v = Buffer.from([0]);
  if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return encode(TAG.INTEGER, v);
}

export const encodeBoolean = (b: boolean): Buffer => encode(TAG.BOOLEAN, Buffer.from([b ? 0xff : 0]));
export const encodeNull = (): Buffer => encode(TAG.NULL);
