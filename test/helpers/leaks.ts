/**
 * Leak detection for the privacy tests: has any 8-character window of a secret (or the whole
 * secret, when shorter) survived into some text? The rule of the redaction tests
 * (packages/bridge/src/redact/redactor.test.ts), applied to whole dumps at once.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface SecretItem {
  kind: string;
  value: string;
  /** The part that must vanish; the whole value when absent. */
  secret?: string;
}

const W = 8;

export class LeakFinder {
  private readonly windows = new Map<string, number>();
  private readonly short: Array<[string, number]> = [];
  readonly items: SecretItem[];

  constructor(items: SecretItem[]) {
    this.items = items;
    items.forEach((item, i) => {
      const secret = item.secret ?? item.value;
      // As sent, and as JSON escapes it inside a string.
      for (const s of new Set([secret, JSON.stringify(secret).slice(1, -1)])) {
        if (s.length < W) this.short.push([s, i]);
        for (let j = 0; j + W <= s.length; j++) this.windows.set(s.slice(j, j + W), i);
      }
    });
  }

  /**
   * Forgets the windows that occur in a control text: what the bridge stores for the same
   * telemetry with a harmless value instead of a secret (column names, attribute keys, masks,
   * the genesis hash...). A window of fewer than 4 distinct characters ("00000000") is never a
   * sign of a leak either.
   */
  ignore(control: string): this {
    for (const w of [...this.windows.keys()]) {
      if (new Set(w).size < 4 || control.includes(w)) this.windows.delete(w);
    }
    return this;
  }

  /** The items with some fragment in `text`, each described once. */
  find(text: string): string[] {
    const hit = new Map<number, string>();
    for (let j = 0; j + W <= text.length; j++) {
      const i = this.windows.get(text.slice(j, j + W));
      if (i !== undefined && !hit.has(i)) hit.set(i, text.slice(Math.max(0, j - 40), j + 48));
    }
    for (const [s, i] of this.short) {
      const at = text.indexOf(s);
      if (at >= 0 && !hit.has(i)) hit.set(i, text.slice(Math.max(0, at - 40), at + s.length + 40));
    }
    return [...hit].map(([i, around]) => `${this.items[i].kind} ${JSON.stringify((this.items[i].secret ?? this.items[i].value).slice(0, 40))} in …${JSON.stringify(around)}…`);
  }
}

/** Every regular file under a directory, as latin1 text (bytes as they are on disk). */
export function filesUnder(dir: string, maxBytes = 64 * 1024 * 1024): Array<[path: string, text: string]> {
  const out: Array<[string, string]> = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue; // removed meanwhile (a merge, a staging file)
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size <= maxBytes) {
        try {
          out.push([p, readFileSync(p).toString('latin1')]);
        } catch {
          /* removed meanwhile */
        }
      }
    }
  };
  walk(dir);
  return out;
}
