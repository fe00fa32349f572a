import { describe, expect, it } from 'vitest';
import { Redactor, RedactorConfigError } from './redactor.ts';
import { BUILTIN_KINDS } from './detectors.ts';
import { ibanValid, luhnValid } from './internal/checksums.ts';
import { EMBEDDINGS, KEYED_FORMS, benign, format, keyed, keyedFailure, measure, secrets, textFailure } from './accuracy.ts';

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
      const failures = secrets.map((item) => textFailure(redactor, item, embed)).filter((f) => f !== null);
      expect(failures).toEqual([]);
    });
  }
});

describe('data hidden by encodings, glue, case and keys', () => {
  // Each shape's items are masked in every embedding (start, middle, end, JSON, JSON in JSON).
  for (const shape of ['percent', 'glued', 'json-escape', 'lowercase', 'keyed']) {
    it(`masks the ${shape} items of the corpus`, () => {
      const items = secrets.filter((s) => s.shape === shape);
      expect(items.length).toBeGreaterThanOrEqual(5);
      const failures = items.flatMap((item) =>
        EMBEDDINGS.map(([where, embed]) => textFailure(redactor, item, embed)?.replace(/^/, `${where}: `) ?? null),
      );
      expect(failures.filter((f) => f !== null)).toEqual([]);
    });
  }

  for (const [where, form] of KEYED_FORMS) {
    it(`masks every value under a credential-bearing key (${where})`, () => {
      const failures = keyed.secret.map((item) => keyedFailure(redactor, item, form)).filter((f) => f !== null);
      expect(failures).toEqual([]);
      for (const item of keyed.benign) expect(redactor.redactValue(form(item.key, item.value)).findings, item.key).toBe(0);
    });
  }

  const r = (s: string) => redactor.redactString(s).text;
  const gh = 'ghp_8Th6vr8yjTFKDp5ho6CAkizOW6DeDUyFCZZS';

  it('masks percent-encoded data and keeps the rest of the URL as it was', () => {
    expect(r(`https://x.example/search?q=my%20token%20${gh}&email=jane.doe%40example.com`)).toBe(
      'https://x.example/search?q=my%20token%20[github-token]&email=[email]',
    );
    expect(r('https://app.example/sso?next=%2Flogin%3Fuser%3Dbob%26password%3DTr0ub4dor%26lang%3Den')).toBe(
      'https://app.example/sso?next=%2Flogin%3Fuser%3Dbob%26password%3D[secret]%26lang%3Den',
    );
    expect(r('q=o.brien%2540example.ie&page=2')).toBe('q=[email]&page=2');
    // The view ends the value at the decoded space; the text itself goes on to the next parameter.
    expect(r('grant_type=password&password=correct%20horse%20battery&next=%2Fhome')).toBe('grant_type=password&password=[secret]&next=%2Fhome');
    const form = 'a=1%2C2&'.repeat(1000); // long text is decoded another way (internal/decode.ts)
    expect(r(`${form}email=jane.doe%40example.com&password=correct%20horse`)).toBe(`${form}email=[email]&password=[secret]`);
    expect(r('https://help.example/search?q=password%20reset%20not%20working')).toBe(
      'https://help.example/search?q=password%20reset%20not%20working',
    );
  });

  it('masks data behind JSON string escapes', () => {
    expect(r(String.raw`{"dsn":"https:\/\/deploy:Kx8-vQ2mZt@git.example.com\/ops"}`)).toBe(
      String.raw`{"dsn":"https:\/\/deploy:[password]@git.example.com\/ops"}`,
    );
    expect(r(String.raw`{"msg":"my token:\n${gh}"}`)).toBe(String.raw`{"msg":"my token:\n[github-token]"}`);
    expect(r(String.raw`mail jane\u0040example.com`)).toBe('mail [email]');
    expect(r(String.raw`{"password":"my\u0022quoted\u0022 pass"}`)).toBe('{"password":"[secret]"}');
    expect(redactor.redactString(String.raw`{"password":"my\u0022pass"}`).kinds).toEqual(['secret-assignment']);
    const plain = String.raw`{"city":"M\u00fcnchen","note":"line one\nline two"}`;
    expect(r(plain)).toBe(plain);
  });

  it('treats identifier glue as a boundary for prefixed tokens, not snake_case words', () => {
    expect(r(`user_42_${gh}`)).toBe('user_42_[github-token]');
    expect(r(`k_${gh}`)).toBe('k_[github-token]');
    expect(r('cfg_sk-proj-7wCTwl4QqfkPJ7iHDzM9qENcWcxitIoKi6fVy3DKOw72')).toBe('cfg_[openai-key]');
    for (const s of ['configure_github_pat_rotation_for_all_repositories', 'task_sk_live_mode_toggle', 'btn-sk-primary-large-button-2024']) {
      expect(r(s)).toBe(s);
    }
  });

  it('masks all-lower-case provider keys', () => {
    expect(r('sk-proj-abcdefghijklmnopqrstuvwxyz0123456789')).toBe('[openai-key]');
    expect(r('key hf_yxii5i582q8rnkf79ev99hfqxo3ov74re6 here')).toBe('key [huggingface-token] here');
    expect(r('the slug sk-learn-0-24-2-release-notes-and-migration')).toBe('the slug sk-learn-0-24-2-release-notes-and-migration');
  });

  it('masks a whole object or array under a credential-bearing key in JSON text', () => {
    expect(r('{"headers":{"x-api-key":["abc","def"]},"n":1}')).toBe('{"headers":{"x-api-key":"[secret]"},"n":1}');
    expect(r(String.raw`{"a":"{\"api_key\":{\"p\":\"x}\"}}","b":2}`)).toBe(String.raw`{"a":"{\"api_key\":\"[secret]\"}","b":2}`);
    expect(r("{'password': ['plain', 'words']}")).toBe("{'password': '[secret]'}");
    // Decoded (an escaped newline in it), masked, and written back escaped as the key is.
    expect(r(String.raw`{"body":"{\"token\":[\"a\\nb\"],\"x\":1}"}`)).toBe(String.raw`{"body":"{\"token\":\"[secret]\",\"x\":1}"}`);
    // Empty containers, weak keys (auth) and JSON Schema (tool definitions) hold no secret.
    for (const s of ['{"token":[],"x":1}', '{"auth":{"type":"oauth2"}}', '{"password":{"type":"string","minLength":12}}']) expect(r(s)).toBe(s);
  });

  it('masks a cookie header to its end', () => {
    expect(r('Cookie: theme=dark; sid=opensesame\nHost: x')).toBe('Cookie: [secret]\nHost: x');
    expect(r('Clear your browser cookies: Settings > Privacy')).toBe('Clear your browser cookies: Settings > Privacy');
    expect(redactor.redactValue({ 'http.request.header.cookie': ['sid=opensesame'] }).value).toEqual({ 'http.request.header.cookie': ['[secret]'] });
  });
});

describe('precision and recall', () => {
  it('masks every secret and at most 3% of benign items', () => {
    const report = measure(redactor);
    console.log(`redact: ${format(report)}`);
    expect(benign.length).toBeGreaterThanOrEqual(150);
    for (const [shape, s] of Object.entries(report.text)) expect(s.found, shape).toBe(s.total);
    expect(report.keyed.found).toBe(report.keyed.total);
    expect(report.falsePositives.length / report.benignTotal).toBeLessThanOrEqual(0.03);
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
    ['percent escapes', '%41'.repeat(MB / 3)],
    ['double percent escapes', '%2541'.repeat(MB / 5)],
    ['unicode escapes', '\\u0041'.repeat(MB / 6)],
    ['backslashes', '\\'.repeat(MB)],
    ['glued prefixes', '_ghp_'.repeat(MB / 5)],
    ['unclosed containers', '"password":['.repeat(MB / 12)],
    ['schema containers', '"password":{"type":"string"},'.repeat(MB / 30)],
    ['escaped containers', '{\\"token\\":[\\"'.repeat(MB / 15)],
    ['cookie headers', 'Cookie: a=b; '.repeat(MB / 13)],
    ['data in an encoded text', 'x@y.io %2B1 415 555 0134 '.repeat(MB / 26)],
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
