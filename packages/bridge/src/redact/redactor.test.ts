import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Redactor, RedactorConfigError } from './redactor.ts';
import { BUILTIN_KINDS } from './detectors.ts';
import { ibanValid, luhnValid } from './internal/checksums.ts';

interface SecretItem {
  kind: string;
  value: string;
  /** The part that must vanish; the whole value when absent. */
  secret?: string;
  note?: string;
}

const load = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8')) as T;
const secrets = load<SecretItem[]>('secrets-corpus.json');
const benign = load<string[]>('benign-corpus.json');

/** The mask text each kind leaves behind. */
const LABEL: Record<string, string> = {
  'secret-assignment': '[secret]',
  'url-password': '[password]',
  card: '[card …',
};
const labelOf = (kind: string): string => LABEL[kind] ?? `[${kind}]`;

/** Every 8-character window of the secret (the whole secret when shorter), also as JSON escapes it. */
function fragments(secret: string): string[] {
  const out = new Set<string>();
  for (const s of [secret, JSON.stringify(secret).slice(1, -1)]) {
    if (s.length <= 8) out.add(s);
    for (let i = 0; i + 8 <= s.length; i++) out.add(s.slice(i, i + 8));
  }
  return [...out];
}

const EMBEDDINGS: [string, (v: string) => string][] = [
  ['start', (v) => `${v} was in the customer's message`],
  ['middle', (v) => `Customer wrote: please use ${v} for the integration, thanks`],
  ['end', (v) => `The value I have is ${v}`],
  ['json', (v) => JSON.stringify({ role: 'user', content: `see ${v}` })],
  ['json-in-json', (v) => JSON.stringify({ arguments: JSON.stringify({ note: v }) })],
];

const redactor = new Redactor();

describe('secrets corpus', () => {
  it('has at least 120 items covering every built-in kind', () => {
    expect(secrets.length).toBeGreaterThanOrEqual(120);
    const kinds = new Set(secrets.map((s) => s.kind));
    for (const k of BUILTIN_KINDS) expect(kinds, k).toContain(k);
  });

  it('holds only valid cards and IBANs, so a miss is the detector fault', () => {
    for (const s of secrets.filter((i) => i.kind === 'card')) expect(luhnValid(s.value.replace(/\D/g, '')), s.value).toBe(true);
    for (const s of secrets.filter((i) => i.kind === 'iban')) expect(ibanValid(s.value.replace(/ /g, '')), s.value).toBe(true);
  });

  for (const [where, embed] of EMBEDDINGS) {
    it(`leaves no plaintext and names the kind (${where})`, () => {
      const failures: string[] = [];
      for (const item of secrets) {
        const input = embed(item.value);
        const { text, findings } = redactor.redactString(input);
        const leaked = fragments(item.secret ?? item.value).filter((f) => text.includes(f));
        if (findings === 0 || leaked.length > 0 || !text.includes(labelOf(item.kind))) {
          failures.push(`${item.kind} ${JSON.stringify(item.value.slice(0, 60))} -> ${JSON.stringify(text.slice(0, 200))}`);
        }
      }
      expect(failures).toEqual([]);
    });
  }
});

describe('precision and recall', () => {
  it('masks every secret and at most 3% of benign sentences', () => {
    const detected = secrets.filter((s) => redactor.redactString(EMBEDDINGS[1]![1](s.value)).findings > 0).length;
    const flagged = benign.filter((b) => redactor.redactString(b).findings > 0);
    const recall = detected / secrets.length;
    const precision = detected / (detected + flagged.length);
    const fpRate = flagged.length / benign.length;
    console.log(
      `redact: recall ${(recall * 100).toFixed(1)}% (${detected}/${secrets.length}), ` +
        `precision ${(precision * 100).toFixed(1)}%, false-positive rate ${(fpRate * 100).toFixed(1)}% ` +
        `(${flagged.length}/${benign.length})` +
        flagged.map((b) => `\n  FP: ${b} -> ${redactor.redactString(b).text}`).join(''),
    );
    expect(benign.length).toBeGreaterThanOrEqual(150);
    expect(recall).toBe(1);
    expect(fpRate).toBeLessThanOrEqual(0.03);
  });
});

describe('detectors', () => {
  const r = (s: string) => redactor.redactString(s).text;

  it('keeps scheme, user and host of a URL', () => {
    expect(r('postgres://app:S3cr3t!@db.internal:5432/x')).toBe('postgres://app:[password]@db.internal:5432/x');
    expect(r('see ftp://u:p@ss-w0rd@files.example/in')).toBe('see ftp://u:[password]@files.example/in');
  });

  it('keeps the key of a key=value secret, in text and in JSON', () => {
    expect(r('password=hunter2')).toBe('password=[secret]');
    expect(r('{"password":"hunter2","user":"bob"}')).toBe('{"password":"[secret]","user":"bob"}');
    expect(r('{"api_key": "abc123def456"}')).toBe('{"api_key": "[secret]"}');
    expect(r(String.raw`{\"password\":\"hunter2\"}`)).toBe(String.raw`{\"password\":\"[secret]\"}`);
    expect(r('login?password=x9y8&next=/home')).toBe('login?password=[secret]&next=/home');
    expect(r('my API key: 3f9a8b7c6d5e4f3a2b1c')).toBe('my API key: [secret]');
    expect(r('The password is incorrect')).toBe('The password is incorrect');
    expect(r('const apiKey = process.env.OPENAI_API_KEY;')).toBe('const apiKey = process.env.OPENAI_API_KEY;');
  });

  it('keeps the last four digits of a card, and what follows it', () => {
    expect(r('card 4111 1111 1111 1111 exp 12/26')).toBe('card [card …1111] exp 12/26');
    expect(r('4111 1111 1111 1111 12/26')).toBe('[card …1111] 12/26');
    expect(r('4111 1111 1111 1112')).toBe('4111 1111 1111 1112'); // fails Luhn
  });

  it('masks an IBAN but not the word after it, and checks mod 97', () => {
    expect(r('IBAN DE89 3704 0044 0532 0130 00 EUR')).toBe('IBAN [iban] EUR');
    expect(r('IBAN DE88 3704 0044 0532 0130 00')).toBe('IBAN DE88 3704 0044 0532 0130 00');
  });

  it('tells phones from dates, versions and ids', () => {
    expect(r('call 415-555-0134 twice')).toBe('call [phone] twice');
    expect(r('+44 20 7946 0958')).toBe('[phone]');
    for (const s of ['2024-11-05-0042', '2024-11-05', '05.12.2024', 'v1.2.3.4567', 'ORD-2024-118842', '1730802600123']) {
      expect(r(`ref ${s} ok`)).toBe(`ref ${s} ok`);
    }
  });

  it('masks SSNs only in context', () => {
    expect(r('SSN: 123-45-6789')).toBe('SSN: [ssn]');
    expect(r('part 123-45-6789')).toBe('part 123-45-6789');
  });

  it('masks a truncated PEM block', () => {
    expect(r('key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC')).toBe('key: [private-key]');
  });

  it('reports findings and kinds', () => {
    const res = redactor.redactString('mail a.b@example.com or call +1 415 555 0134, key AKIAIOSFODNN7EXAMPLE');
    expect(res.findings).toBe(3);
    expect(res.kinds.sort()).toEqual(['aws-access-key-id', 'email', 'phone']);
    const none = redactor.redactString('nothing to see here');
    expect(none).toEqual({ text: 'nothing to see here', findings: 0, kinds: [] });
  });
});

describe('adversarial input stays linear', () => {
  const MB = 1 << 20;
  const cases: [string, string][] = [
    ['digits', '7'.repeat(MB)],
    ['@', '@'.repeat(MB)],
    ['=', '='.repeat(MB)],
    ['key==', 'password' + '='.repeat(MB)],
    ['a@', 'a@'.repeat(MB / 2)],
    ['word chars then @', 'a'.repeat(MB) + '@example.com'],
    ['digit groups', '12 '.repeat(MB / 3)],
    ['dashes', '1-'.repeat(MB / 2)],
    ['PEM headers', '-----BEGIN PRIVATE KEY-----'.repeat(MB / 27)],
    ['JWT-ish', 'eyJ' + 'a'.repeat(MB)],
    ['sk-', 'sk-'.repeat(MB / 3)],
    ['secret words', 'password: token= '.repeat(MB / 17)],
    ['scheme', 'a://b:'.repeat(MB / 6)],
    ['plus digits', '+1 '.repeat(MB / 3)],
    ['IBAN-ish', 'DE89'.repeat(MB / 4)],
  ];
  for (const [name, input] of cases) {
    it(`1 MB of ${name} in well under 1 s`, () => {
      const t0 = performance.now();
      redactor.redactString(input);
      const ms = performance.now() - t0;
      expect(ms).toBeLessThan(1000);
    });
  }
});

describe('redactValue', () => {
  it('is deep, masks secret-named keys, and does not mutate its input', () => {
    const input = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'I am jane.doe@example.com' }],
      tool: { name: 'login', arguments: '{"username":"jane","password":"hunter2"}' },
      credentials: { user: 'jane', pin: 4321, active: true },
      api_key: 'abc',
      auth: 'required',
      max_tokens: 256,
      'jane.doe@example.com': 'a key that is personal',
      bytes: new Uint8Array([1, 2, 3]),
    };
    const before = structuredClone(input);
    const { value, findings } = redactor.redactValue(input);
    expect(input).toEqual(before);
    expect(value).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'I am [email]' }],
      tool: { name: 'login', arguments: '{"username":"jane","password":"[secret]"}' },
      credentials: { user: '[secret]', pin: '[secret]', active: true },
      api_key: '[secret]',
      auth: 'required',
      max_tokens: 256,
      '[email]': 'a key that is personal',
      bytes: input.bytes,
    });
    expect(findings).toBe(6);
  });

  it('can leave secret-named keys to the text detectors', () => {
    const r = new Redactor({ secretKeys: false });
    expect(r.redactValue({ password: 'x1', token: 'abc123' }).value).toEqual({ password: 'x1', token: 'abc123' });
  });

  it('returns the input itself when there is nothing to mask', () => {
    const input = { a: ['x', 1, null], b: { c: 'plain text' } };
    expect(redactor.redactValue(input).value).toBe(input);
  });

  it('keeps both keys when two mask to the same text', () => {
    const { value } = redactor.redactValue({ 'a@example.com': 1, 'b@example.com': 2 });
    expect(value).toEqual({ '[email]': 1, '[email]#2': 2 });
  });
});

describe('config', () => {
  it('enables and disables kinds', () => {
    const onlyEmail = new Redactor({ kinds: ['email'] });
    expect(onlyEmail.redactString('a@example.com +1 415 555 0134').text).toBe('[email] +1 415 555 0134');
    const noEmail = new Redactor({ disable: ['email'] });
    expect(noEmail.redactString('a@example.com').text).toBe('a@example.com');
  });

  it('runs custom patterns first', () => {
    const r = new Redactor({ custom: [{ kind: 'acme-token', pattern: 'acme_[a-z0-9]{16}' }] });
    expect(r.redactString('t=acme_0123456789abcdef').text).toBe('t=[acme-token]');
    const m = new Redactor({ custom: [{ kind: 'ticket', pattern: 'TCK-\\d{6}', mask: '[ticket-id]', flags: 'i' }] });
    expect(m.redactString('see tck-123456').text).toBe('see [ticket-id]');
  });

  it('rejects bad config with clear errors', () => {
    const bad: [unknown, RegExp][] = [
      [{ kinds: ['emails'] }, /unknown kind 'emails'.*known: /],
      [{ disable: 'email' }, /'disable' must be an array/],
      [{ custom: [{ kind: 'x', pattern: '(' }] }, /custom\[0\] 'x': invalid regular expression/],
      [{ custom: [{ kind: 'x', pattern: 'a*' }] }, /matches the empty string/],
      [{ custom: [{ kind: 'x', pattern: '(a+)+b' }] }, /nests unbounded quantifiers/],
      [{ custom: [{ kind: 'Bad Kind', pattern: 'a' }] }, /kind must match/],
      [{ custom: [{ kind: 'email', pattern: 'a' }] }, /kind is already used/],
      [{ custom: [{ kind: 'x', pattern: 'a', flags: 'g' }] }, /flags must be/],
      [{ colour: 'red' }, /unknown option 'colour'/],
    ];
    for (const [config, message] of bad) {
      expect(() => new Redactor(config as never), JSON.stringify(config)).toThrow(RedactorConfigError);
      expect(() => new Redactor(config as never)).toThrow(message);
    }
  });
});

describe('short-string cache', () => {
  it('answers a repeated short string as the first time, and keeps answering after the cache is cleared', () => {
    const r = new Redactor();
    const secret = 'jane.doe@example.com';
    const first = r.redactString(secret);
    expect(first.findings).toBe(1);
    expect(r.redactString(secret)).toEqual(first);
    // Fill past the cache's bound: it is cleared, and results stay the same.
    for (let i = 0; i < 25_000; i++) r.redactString(`value-${i}`);
    expect(r.redactString(secret)).toEqual(first);
    expect(r.redactString('plain text').findings).toBe(0);
    // Long strings are not cached and are redacted all the same.
    const long = `${'lorem ipsum '.repeat(10)}${secret}`;
    expect(r.redactString(long).text).not.toContain(secret);
  });
});
