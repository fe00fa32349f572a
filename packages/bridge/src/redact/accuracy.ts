/**
 * Recall and precision of the redactor over the corpora in testdata/ (not a test; the tests use
 * it and assert on it). Run: node packages/bridge/src/redact/accuracy.ts
 *
 * An item counts as found only when every embedding of it is masked, names its kind, and leaves
 * no 8-character window of the secret; a benign item counts as a false positive when any
 * embedding of it has a finding.
 */
import { readFileSync } from 'node:fs';
import { Redactor } from './redactor.ts';

export interface SecretItem {
  kind: string;
  value: string;
  /** The part that must vanish; the whole value when absent. */
  secret?: string;
  /** The hiding shape the item was added for (percent, glued, json-escape, lowercase, keyed). */
  shape?: string;
  note?: string;
}

/** A value under an attribute key, as `redactValue` sees span attributes. */
export interface KeyedItem {
  key: string;
  value: unknown;
  /** What must vanish (secret items only). */
  secrets?: string[];
  note?: string;
}

const load = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8')) as T;

export const secrets = load<SecretItem[]>('secrets-corpus.json');
export const benign = load<string[]>('benign-corpus.json');
export const keyed = load<{ secret: KeyedItem[]; benign: KeyedItem[] }>('keyed-corpus.json');

/** The mask text each kind leaves behind. */
const LABEL: Record<string, string> = {
  'secret-assignment': '[secret]',
  'url-password': '[password]',
  card: '[card …',
};
export const labelOf = (kind: string): string => LABEL[kind] ?? `[${kind}]`;

/** Every 8-character window of the secret (the whole secret when shorter), also as JSON escapes it. */
export function fragments(secret: string): string[] {
  const out = new Set<string>();
  for (const s of [secret, JSON.stringify(secret).slice(1, -1)]) {
    if (s.length <= 8) out.add(s);
    for (let i = 0; i + 8 <= s.length; i++) out.add(s.slice(i, i + 8));
  }
  return [...out];
}

export const EMBEDDINGS: [string, (v: string) => string][] = [
  ['start', (v) => `${v} was in the customer's message`],
  ['middle', (v) => `Customer wrote: please use ${v} for the integration, thanks`],
  ['end', (v) => `The value I have is ${v}`],
  ['json', (v) => JSON.stringify({ role: 'user', content: `see ${v}` })],
  ['json-in-json', (v) => JSON.stringify({ arguments: JSON.stringify({ note: v }) })],
];

/** Where an attribute's value can sit: the attribute itself, nested maps and arrays, JSON text. */
export const KEYED_FORMS: [string, (key: string, value: unknown) => Record<string, unknown>][] = [
  ['attribute', (k, v) => ({ [k]: v })],
  ['nested map', (k, v) => ({ 'app.request': { headers: { [k]: v } } })],
  ['array of maps', (k, v) => ({ 'app.calls': [{ id: 1, [k]: v }] })],
  // A map or array attribute value reaches the redactor as JSON text (intake/intake.ts, stringAttr).
  ['map as JSON', (k, v) => ({ 'app.request': JSON.stringify({ headers: { [k]: v } }) })],
  ['JSON in JSON', (k, v) => ({ 'gen_ai.tool.call.result': JSON.stringify({ body: JSON.stringify({ [k]: v }) }) })],
];

/** Why a secret item is not cleanly masked in one embedding, or null when it is. */
export function textFailure(redactor: Redactor, item: SecretItem, embed: (v: string) => string): string | null {
  const input = embed(item.value);
  const { text, findings } = redactor.redactString(input);
  const leaked = fragments(item.secret ?? item.value).filter((f) => text.includes(f));
  if (findings > 0 && leaked.length === 0 && text.includes(labelOf(item.kind)) && stillJson(input, text)) return null;
  return `${item.kind} ${JSON.stringify(item.value.slice(0, 60))} -> ${JSON.stringify(text.slice(0, 200))}`;
}

/** Masks keep JSON valid: a JSON input (and JSON in its strings) stays parseable. */
function stillJson(input: string, output: string): boolean {
  const parse = (t: string): unknown => {
    try {
      return JSON.parse(t);
    } catch {
      return undefined;
    }
  };
  const before = parse(input);
  if (before === undefined) return true;
  const after = parse(output);
  if (after === undefined) return false;
  const inner = (v: unknown): string[] => (typeof v === 'string' ? [v] : v !== null && typeof v === 'object' ? Object.values(v).flatMap(inner) : []);
  const a = inner(before);
  const b = inner(after);
  return a.every((t, i) => typeof parse(t) !== 'object' || (b[i] !== undefined && stillJson(t, b[i]!)));
}

/** Why a keyed item is not cleanly masked in one form, or null when it is. */
export function keyedFailure(redactor: Redactor, item: KeyedItem, form: (k: string, v: unknown) => Record<string, unknown>): string | null {
  const { value, findings } = redactor.redactValue(form(item.key, item.value));
  const out = JSON.stringify(value);
  const leaked = (item.secrets ?? []).flatMap(fragments).filter((f) => out.includes(f));
  if (findings > 0 && leaked.length === 0 && stillJson(JSON.stringify(form(item.key, item.value)), out)) return null;
  return `${item.key} ${JSON.stringify(item.value).slice(0, 60)} -> ${out.slice(0, 200)}`;
}

export interface Score {
  found: number;
  total: number;
}

export interface Report {
  /** Secret items by shape ('original' for the items without one). */
  text: Record<string, Score>;
  keyed: Score;
  /** Benign sentences with a finding, and benign keyed values with one. */
  falsePositives: string[];
  benignTotal: number;
}

export function measure(redactor: Redactor): Report {
  const text: Record<string, Score> = {};
  for (const item of secrets) {
    const s = (text[item.shape ?? 'original'] ??= { found: 0, total: 0 });
    s.total++;
    if (EMBEDDINGS.every(([, embed]) => textFailure(redactor, item, embed) === null)) s.found++;
  }
  let keyedFound = 0;
  for (const item of keyed.secret) if (KEYED_FORMS.every(([, form]) => keyedFailure(redactor, item, form) === null)) keyedFound++;
  const falsePositives: string[] = [];
  for (const b of benign) if (EMBEDDINGS.some(([, embed]) => redactor.redactString(embed(b)).findings > 0)) falsePositives.push(b);
  for (const b of keyed.benign) {
    if (KEYED_FORMS.some(([, form]) => redactor.redactValue(form(b.key, b.value)).findings > 0)) falsePositives.push(`${b.key}: ${JSON.stringify(b.value)}`);
  }
  return {
    text,
    keyed: { found: keyedFound, total: keyed.secret.length },
    falsePositives,
    benignTotal: benign.length + keyed.benign.length,
  };
}

const pct = (n: number, d: number): string => `${((n / d) * 100).toFixed(1)}%`;

export function format(r: Report): string {
  const scores = [...Object.values(r.text), r.keyed];
  const found = scores.reduce((a, s) => a + s.found, 0);
  const total = scores.reduce((a, s) => a + s.total, 0);
  const fp = r.falsePositives.length;
  const shapes = Object.entries(r.text).map(([shape, s]) => `${shape} ${s.found}/${s.total}`);
  return [
    `recall ${pct(found, total)} (${found}/${total}: ${shapes.join(', ')}, keyed values ${r.keyed.found}/${r.keyed.total})`,
    `precision ${pct(found, found + fp)}, false-positive rate ${pct(fp, r.benignTotal)} (${fp}/${r.benignTotal})`,
    ...r.falsePositives.map((b) => `  FP: ${b}`),
  ].join('\n');
}

if (import.meta.main) console.log(format(measure(new Redactor())));
