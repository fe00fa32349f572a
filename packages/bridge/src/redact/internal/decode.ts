/**
 * Decoded views of text that hides data behind percent-encoding (`jane.doe%40example.com`) or
 * JSON string escapes (`https:\/\/…`, `jane\u0040…`, `token:\nghp_…`), so that the detectors see
 * what a reader of the decoded text sees. A view records where each of its characters came from,
 * so that a datum found in the view is masked over its encoded span in the source.
 */

export interface View {
  text: string;
  /** Offset in the source where `text[i]` starts; `text.length` maps to the source's length. */
  toSource(i: number): number;
}

/**
 * One level of decoding. Offsets are mapped only for the few data found, so the level keeps just
 * its escapes: `at[j]`, the offset in `text` of the j-th decoded character, and `skipped[j]`, how
 * many source characters the escapes up to and including it saved (`%40` saves 2).
 */
interface Level {
  text: string;
  at: ArrayLike<number>;
  skipped: ArrayLike<number>;
}

/** Encodings nested deeper are left as they are (`%2540` is two levels, JSON in JSON in JSON three). */
const MAX_LEVELS = 4;
/** Longer text is decoded in one pass over typed arrays; shorter text by jumping from escape to escape. */
const DENSE_FROM = 4096;

const HEX = new Int8Array(128).fill(-1);
for (let c = 48; c <= 57; c++) HEX[c] = c - 48;
for (let c = 65; c <= 70; c++) HEX[c] = c - 55;
for (let c = 97; c <= 102; c++) HEX[c] = c - 87;

function hexAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c < 128 ? HEX[c]! : -1;
}

/** The character `%XX` at i stands for, or -1. ASCII only: the detectors look for ASCII data. */
function percentAt(s: string, i: number): number {
  const hi = hexAt(s, i + 1);
  if (hi < 0 || hi > 7) return -1;
  const lo = hexAt(s, i + 2);
  return lo < 0 ? -1 : hi * 16 + lo;
}

const SIMPLE_ESCAPES = new Int16Array(128).fill(-1);
for (const [c, v] of [['"', 34], ['\\', 92], ['/', 47], ['b', 8], ['f', 12], ['n', 10], ['r', 13], ['t', 9]] as const) {
  SIMPLE_ESCAPES[c.charCodeAt(0)] = v;
}

/** Set by escapeAt: the length of the escape it decoded. */
let escapeLength = 0;

/** The character the JSON escape at i (a backslash) stands for, or -1; sets `escapeLength`. */
function escapeAt(s: string, i: number): number {
  const c = s.charCodeAt(i + 1);
  if (c === 117 /* u */) {
    let v = 0;
    for (let k = 2; k < 6; k++) {
      const h = hexAt(s, i + k);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    escapeLength = 6;
    return v;
  }
  const v = c < 128 ? SIMPLE_ESCAPES[c]! : -1;
  escapeLength = 2;
  return v;
}

/**
 * Whether decoding could change what a detector sees: an ASCII `%XX`, or a JSON escape other than
 * `\"` and `\\`, which the detectors already read through (JSON inside JSON strings).
 */
export function hasEncoding(s: string): boolean {
  for (let i = s.indexOf('%'); i >= 0; i = s.indexOf('%', i + 1)) if (percentAt(s, i) >= 0) return true;
  for (let i = s.indexOf('\\'); i >= 0; i = s.indexOf('\\', i + 1)) {
    const next = s.charCodeAt(i + 1);
    if (next !== 34 && next !== 92 && escapeAt(s, i) >= 0) return true;
  }
  return false;
}

/** One level of decoding: every `%XX` (ASCII) and JSON escape; null when there is none. */
function decodeOnce(s: string): Level | null {
  return s.length < DENSE_FROM ? decodeSparse(s) : decodeDense(s);
}

/** indexOf jumps over the plain runs, which are most of a usual string; the text is joined once. */
function decodeSparse(s: string): Level | null {
  const at: number[] = [];
  const skipped: number[] = [];
  const parts: string[] = [];
  let saved = 0;
  let plain = 0; // start of the run of source characters not yet copied
  let percent = s.indexOf('%');
  let backslash = s.indexOf('\\');
  while (percent >= 0 || backslash >= 0) {
    const i = backslash < 0 || (percent >= 0 && percent < backslash) ? percent : backslash;
    let v: number;
    let len: number;
    if (i === percent) {
      v = percentAt(s, i);
      len = 3;
    } else {
      v = escapeAt(s, i);
      len = escapeLength;
    }
    const next = v < 0 ? i + 1 : i + len;
    if (v >= 0) {
      if (i > plain) parts.push(s.slice(plain, i));
      parts.push(String.fromCharCode(v));
      at.push(i - saved);
      saved += len - 1;
      skipped.push(saved);
      plain = next;
    }
    if (percent >= 0 && percent < next) percent = s.indexOf('%', next);
    if (backslash >= 0 && backslash < next) backslash = s.indexOf('\\', next);
  }
  if (at.length === 0) return null;
  parts.push(s.slice(plain));
  return { text: parts.join(''), at, skipped };
}

/**
 * One pass over the characters into typed arrays: for long text, which may be mostly escapes
 * (a long encoded form body, or hostile input), where a step per escape would cost far more.
 */
function decodeDense(s: string): Level | null {
  const out = new Uint16Array(s.length);
  const at = new Int32Array((s.length >> 1) + 1);
  const skipped = new Int32Array((s.length >> 1) + 1);
  let n = 0;
  let count = 0;
  let saved = 0;
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    let v = -1;
    let len = 0;
    if (c === 37) {
      v = percentAt(s, i);
      len = 3;
    } else if (c === 92) {
      v = escapeAt(s, i);
      len = escapeLength;
    }
    if (v < 0) {
      out[n++] = c;
      i++;
      continue;
    }
    saved += len - 1;
    at[count] = n;
    skipped[count++] = saved;
    out[n++] = v;
    i += len;
  }
  if (count === 0) return null;
  return { text: fromCodes(out, n), at: at.subarray(0, count), skipped: skipped.subarray(0, count) };
}

function fromCodes(codes: Uint16Array, n: number): string {
  let text = '';
  // In chunks: fromCharCode takes its codes as arguments.
  for (let k = 0; k < n; k += 8192) text += String.fromCharCode.apply(null, codes.subarray(k, Math.min(n, k + 8192)) as unknown as number[]);
  return text;
}

/** Offset in the level's source of its text offset i. */
function sourceOf(level: Level, i: number): number {
  // How many escapes were decoded before i (binary search in `at`).
  let lo = 0;
  let hi = level.at.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (level.at[mid]! < i) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? i : i + level.skipped[lo - 1]!;
}

/** The fully decoded view of s (up to MAX_LEVELS nested encodings), or null when s has none. */
export function decodeView(s: string): View | null {
  const levels: Level[] = [];
  let text = s;
  while (levels.length < MAX_LEVELS && hasEncoding(text)) {
    const level = decodeOnce(text);
    if (level === null) break;
    levels.push(level);
    text = level.text;
  }
  if (levels.length === 0) return null;
  return {
    text,
    toSource: (i) => {
      for (let l = levels.length - 1; l >= 0; l--) i = sourceOf(levels[l]!, i);
      return i;
    },
  };
}
