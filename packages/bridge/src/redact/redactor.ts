import { resolveConfig, type RedactorConfig } from './config.ts';
import { isJsonSchema, looksLikeCredential, secretKeyStrength, type Detector } from './detectors.ts';
import { decodeView, type View } from './internal/decode.ts';
import { BACKSLASH, PERCENT, gate, passes, profile, type Gate } from './internal/profile.ts';

export type { CustomPattern, RedactorConfig } from './config.ts';
export { RedactorConfigError } from './config.ts';

export interface RedactionResult {
  /** The input with every finding masked; the input itself when nothing was found. */
  text: string;
  /** How many values were masked. */
  findings: number;
  /** Kinds found, each once, in the order they were masked. */
  kinds: string[];
}

export interface ValueRedaction {
  /** A redacted copy; containers without findings are returned as they are (never mutated). */
  value: unknown;
  findings: number;
  kinds: string[];
}

/** No built-in detector can match fewer characters (`pwd=x`). */
const MIN_LENGTH = 5;
/** Deeper values are replaced, not walked: a bound on stack use for hostile input. */
const MAX_DEPTH = 64;
const SECRET_MASK = '[secret]';
const SHORT_STRING = 64;
const SHORT_CACHE_ENTRIES = 20_000;
const NO_KINDS: string[] = Object.freeze([]) as unknown as string[];
const NOTHING_FOUND = (text: string): RedactionResult => ({ text, findings: 0, kinds: NO_KINDS });

/** Runs one detector over text; returns the text with its matches masked and the count. */
function apply(d: Detector, text: string): [string, number] {
  const re = d.pattern;
  re.lastIndex = 0;
  let out = '';
  let last = 0;
  let count = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (d.validate !== undefined && !d.validate(m)) {
      // A rejected candidate may overlap a real one further in: "DE00 DE89 3704 0044 ...".
      re.lastIndex = m.index + 1;
      continue;
    }
    const start = d.start === undefined ? m.index : Math.max(last, d.start(m));
    const end = d.end === undefined ? m.index + m[0].length : d.end(m);
    out += text.slice(last, start) + d.mask(m);
    last = end;
    if (end > re.lastIndex) re.lastIndex = end;
    count++;
  }
  return count === 0 ? [text, 0] : [out + text.slice(last), count];
}

/** A datum found in a decoded view: its offsets in the view, and its mask. */
interface Span {
  start: number;
  end: number;
  mask: string;
}

/**
 * The matches of one detector in `text`, except those overlapping a datum an earlier detector found
 * (masked first, it would not have been seen): `taken`, sorted and disjoint. Returns `taken` with
 * them merged in. Linear: matches come in order, so one pointer walks `taken`.
 */
function collect(d: Detector, text: string, taken: Span[]): Span[] {
  const re = d.pattern;
  re.lastIndex = 0;
  const found: Span[] = [];
  let last = 0;
  let j = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (d.validate !== undefined && !d.validate(m)) {
      re.lastIndex = m.index + 1;
      continue;
    }
    const start = d.start === undefined ? m.index : Math.max(last, d.start(m));
    const end = d.end === undefined ? m.index + m[0].length : d.end(m);
    if (end > re.lastIndex) re.lastIndex = end;
    last = end;
    while (j < taken.length && taken[j]!.end <= start) j++;
    if (j < taken.length && taken[j]!.start < end) continue;
    found.push({ start, end, mask: d.mask(m) });
  }
  if (found.length === 0) return taken;
  if (taken.length === 0) return found;
  const merged: Span[] = [];
  let a = 0;
  let b = 0;
  while (a < taken.length || b < found.length) {
    merged.push(b >= found.length || (a < taken.length && taken[a]!.start < found[b]!.start) ? taken[a++]! : found[b++]!);
  }
  return merged;
}

/**
 * Writes the data found in a decoded view into its source: each mask replaces the encoded span of
 * its datum. What the mask repeats of the view (a key, a separator, `://user:`) is left in the
 * source as it was, so `password%3Dx` becomes `password%3D[secret]`, not `password=[secret]`.
 */
function unmap(source: string, view: View, spans: Span[]): string {
  const v = view.text;
  let out = '';
  let last = 0;
  for (const span of spans) {
    let { start, end, mask } = span;
    while (start < end && mask.length > 0 && mask.charCodeAt(0) === v.charCodeAt(start)) {
      start++;
      mask = mask.slice(1);
    }
    while (start < end && mask.length > 0 && mask.charCodeAt(mask.length - 1) === v.charCodeAt(end - 1)) {
      end--;
      mask = mask.slice(0, -1);
    }
    // A quote the mask adds (a container's `"[secret]"`) is written as the key's quote is in the
    // source (`\"` in JSON inside a JSON string), so the JSON stays valid.
    const q = mask.includes('"') ? v.lastIndexOf('"', start - 1) : -1;
    if (q >= 0) {
      let b = q;
      while (b > 0 && v.charCodeAt(b - 1) === 92) b--;
      const quote = v.slice(b, q + 1);
      const encoded = source.slice(view.toSource(b), view.toSource(q + 1));
      if (encoded !== quote) mask = mask.replaceAll(quote, encoded);
    }
    const from = view.toSource(start);
    out += source.slice(last, from) + mask;
    last = Math.max(from, view.toSource(end));
  }
  return out + source.slice(last);
}

/** Applies one detector to what `r` holds so far, adding its findings to `r`. */
function runDetector(d: Detector, r: RedactionResult): void {
  const [out, n] = apply(d, r.text);
  if (n === 0) return;
  r.text = out;
  r.findings += n;
  if (r.kinds === NO_KINDS) r.kinds = [d.kind];
  else if (!r.kinds.includes(d.kind)) r.kinds = [...r.kinds, d.kind];
}

export class Redactor {
  readonly #builtins: readonly Detector[];
  /** `#builtins[i]` runs only when `#gates[i]` passes. */
  readonly #gates: readonly Gate[];
  readonly #custom: readonly Detector[];
  readonly #secretKeys: boolean;
  /** Results for strings of up to SHORT_STRING characters (cleared when full). */
  readonly #short = new Map<string, RedactionResult>();

  constructor(config: RedactorConfig = {}) {
    const resolved = resolveConfig(config);
    this.#builtins = resolved.builtins;
    this.#gates = resolved.builtins.map((d) => gate(d.trigger));
    this.#custom = resolved.custom;
    this.#secretKeys = resolved.secretKeys;
  }

  /**
   * Masks every detected secret and personal datum in one string. The result is shared for
   * short strings (a cache): treat it as read-only.
   */
  redactString(s: string): RedactionResult {
    if (s.length > SHORT_STRING) return this.#redact(s);
    // Attribute keys and short values (methods, models, routes, statuses) repeat across spans.
    let r = this.#short.get(s);
    if (r === undefined) {
      r = this.#redact(s);
      if (this.#short.size >= SHORT_CACHE_ENTRIES) this.#short.clear();
      this.#short.set(s, r);
    }
    return r;
  }

  #redact(s: string): RedactionResult {
    const builtins = s.length >= MIN_LENGTH;
    if (!builtins && this.#custom.length === 0) return NOTHING_FOUND(s);
    const r: RedactionResult = { text: s, findings: 0, kinds: NO_KINDS };
    for (let i = 0; i < this.#custom.length; i++) runDetector(this.#custom[i]!, r);
    if (builtins) {
      // Profiled once, on the input: what a mask adds is mask text, which no detector is meant to match.
      const p = profile(s);
      // The decoded text first: it is what a reader sees (`token:\nghp_…` has a line break before
      // the token, `https:\/\/u:pw@host` is a URL). Most strings have neither '%' nor a backslash.
      const decoded = (p.bits & (PERCENT | BACKSLASH)) !== 0 && this.#decoded(r);
      for (let i = 0; i < this.#builtins.length; i++) {
        const d = this.#builtins[i]!;
        // The view holds every datum the text holds, but secret-assignment reads the text's own
        // structure too: a value the view cut at a decoded delimiter (`password=my%20long%20phrase`,
        // `"my\u0022pass"`) is masked whole here, and JSON nested in strings is read level by level.
        if (decoded && d.kind !== 'secret-assignment') continue;
        if (passes(this.#gates[i]!, p)) runDetector(d, r);
      }
    }
    return r;
  }

  /**
   * Runs the detectors on the decoded view of what `r` holds (percent-encoding, JSON escapes) and
   * masks what they find there over its encoded span; false when the text has no such view.
   */
  #decoded(r: RedactionResult): boolean {
    const view = decodeView(r.text);
    if (view === null) return false;
    let spans: Span[] = [];
    const found: string[] = [];
    const run = (d: Detector): void => {
      const before = spans.length;
      spans = collect(d, view.text, spans);
      if (spans.length > before && !found.includes(d.kind)) found.push(d.kind);
    };
    for (let i = 0; i < this.#custom.length; i++) run(this.#custom[i]!);
    const p = profile(view.text);
    for (let i = 0; i < this.#builtins.length; i++) if (passes(this.#gates[i]!, p)) run(this.#builtins[i]!);
    if (spans.length === 0) return true;
    r.text = unmap(r.text, view, spans);
    r.findings += spans.length;
    const kinds = r.kinds === NO_KINDS ? [] : [...r.kinds];
    for (const k of found) if (!kinds.includes(k)) kinds.push(k);
    r.kinds = kinds;
    return true;
  }

  /**
   * Redacts a structured value deeply: strings in arrays and objects, object keys, and the whole
   * value under a secret-named key (`{ password: 'x' }` → `{ password: '[secret]' }`).
   * Byte arrays and class instances pass through; the input is never mutated.
   */
  redactValue(v: unknown): ValueRedaction {
    const acc: Acc = { findings: 0, kinds: new Set() };
    const value = this.#walk(v, acc, 0, false);
    return { value, findings: acc.findings, kinds: [...acc.kinds] };
  }

  #string(s: string, acc: Acc): string {
    const r = this.redactString(s);
    if (r.findings === 0) return s;
    acc.findings += r.findings;
    for (const k of r.kinds) acc.kinds.add(k);
    return r.text;
  }

  #walk(v: unknown, acc: Acc, depth: number, secret: boolean): unknown {
    if (typeof v === 'string') {
      if (!secret) return this.#string(v, acc);
      if (v === '') return v;
      acc.findings++;
      acc.kinds.add('secret-assignment');
      return SECRET_MASK;
    }
    if (typeof v === 'number' || typeof v === 'bigint') {
      if (!secret) return v;
      acc.findings++;
      acc.kinds.add('secret-assignment');
      return SECRET_MASK;
    }
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_DEPTH) {
      acc.findings++;
      acc.kinds.add('depth-limit');
      return '[too-deep]';
    }
    if (Array.isArray(v)) {
      let copy: unknown[] | undefined;
      for (let i = 0; i < v.length; i++) {
        const r = this.#walk(v[i], acc, depth + 1, secret);
        if (r !== v[i]) {
          copy ??= v.slice();
          copy[i] = r;
        }
      }
      return copy ?? v;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return v; // Uint8Array, Date, ...: not text
    const keys = Object.keys(v);
    let out: Record<string, unknown> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const child = (v as Record<string, unknown>)[key];
      let childSecret = secret;
      if (!secret && this.#secretKeys) {
        const strength = secretKeyStrength(key);
        // A JSON Schema under `password` (a tool definition) describes the secret, it does not hold it.
        childSecret =
          (strength === 'strong' && !isJsonSchema(child)) ||
          (strength === 'weak' && typeof child === 'string' && looksLikeCredential(child));
      }
      const value = this.#walk(child, acc, depth + 1, childSecret);
      const newKey = this.#string(key, acc);
      if (out === undefined) {
        if (value === child && newKey === key) continue;
        out = {};
        for (let j = 0; j < i; j++) define(out, keys[j]!, (v as Record<string, unknown>)[keys[j]!]);
      }
      define(out, newKey, value);
    }
    return out ?? v;
  }
}

/** Adds an own property; `__proto__` stays data, and a key two masks share ("[email]") gets a suffix. */
function define(o: Record<string, unknown>, key: string, value: unknown): void {
  let k = key;
  for (let n = 2; Object.hasOwn(o, k); n++) k = `${key}#${n}`;
  if (k === '__proto__') Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
  else o[k] = value;
}

interface Acc {
  findings: number;
  kinds: Set<string>;
}
