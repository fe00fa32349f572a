import { resolveConfig, type RedactorConfig } from './config.ts';
import { looksLikeCredential, secretKeyStrength, type Detector } from './detectors.ts';
import { gate, passes, profile, type Gate } from './internal/profile.ts';

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
    out += text.slice(last, start) + d.mask(m);
    last = m.index + m[0].length;
    count++;
  }
  return count === 0 ? [text, 0] : [out + text.slice(last), count];
}

/** Applies one detector to what `r` holds so far, adding its findings to `r`. */
function runDetector(d: Detector, r: RedactionResult): void {
  const [out, n] = apply(d, r.text);
  if (n === 0) return;
  r.text = out;
  r.findings += n;
  r.kinds = r.kinds === NO_KINDS ? [d.kind] : [...r.kinds, d.kind];
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
      for (let i = 0; i < this.#builtins.length; i++) if (passes(this.#gates[i]!, p)) runDetector(this.#builtins[i]!, r);
    }
    return r;
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
        childSecret = strength === 'strong' || (strength === 'weak' && typeof child === 'string' && looksLikeCredential(child));
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
