import { describe, expect, it } from 'vitest';
import { decodeView, hasEncoding } from './decode.ts';

/** One level of decoding, by other means than decode.ts. */
const decodeOnce = (t: string): string =>
  t.replace(/%([0-7][0-9A-Fa-f])|\\(u[0-9A-Fa-f]{4}|["\\/bfnrt])/g, (_, hex: string | undefined, esc: string | undefined) =>
    hex !== undefined ? String.fromCharCode(parseInt(hex, 16)) : (JSON.parse(`"\\${esc}"`) as string),
  );

describe('decodeView', () => {
  const cases: [string, string][] = [
    ['q=my%20token%20x&email=jane%40example.com', 'q=my token x&email=jane@example.com'],
    [String.raw`https:\/\/u:p@h\/x \u0041 tab\tend`, 'https://u:p@h/x A tab\tend'],
    ['a%2540b', 'a@b'], // two levels
    [String.raw`{"a":"{\"b\":\"line\\nnext\"}"}`, '{"a":"{"b":"line\nnext"}"}'], // JSON in JSON: three levels
    ['100%25 and %zz and %e9', '100% and %zz and %e9'], // bad and non-ASCII escapes stay
  ];

  for (const pad of [0, 5000]) {
    // Short text is decoded escape by escape, long text in one pass over typed arrays.
    it(`decodes and maps every character back to its source (${pad === 0 ? 'short' : 'long'} text)`, () => {
      for (const [input, expected] of cases) {
        const source = 'x'.repeat(pad) + input;
        const view = decodeView(source)!;
        expect(view.text).toBe('x'.repeat(pad) + expected);
        expect(view.toSource(0)).toBe(0);
        expect(view.toSource(view.text.length)).toBe(source.length);
        // Each view character comes from a contiguous source span that decodes to it.
        for (let i = pad; i < view.text.length; i++) {
          const span = source.slice(view.toSource(i), view.toSource(i + 1));
          let t = span;
          for (let level = 0; level < 4 && t.length > 1; level++) t = decodeOnce(t);
          expect(t, `${JSON.stringify(input)} at ${i - pad}`).toBe(view.text[i]);
        }
      }
    });
  }

  it('leaves text alone that only has \\" and \\\\ (the detectors read through those)', () => {
    expect(hasEncoding(String.raw`{"a":"{\"b\":\"c\\\\d\"}"}`)).toBe(false);
    expect(decodeView('plain text, 19% VAT')).toBeNull();
    expect(decodeView(String.raw`C:\ProgramData\Acme`)).toBeNull();
  });
});
