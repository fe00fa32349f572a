import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CompiledPolicy, DEFAULT_POLICY, globToRegExp, loadPolicy, parsePolicy, PolicyError } from './policy.ts';

const problemsOf = (doc: unknown): string[] => {
  try {
    parsePolicy(doc, 'test.json');
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  return [];
};

describe('policy file', () => {
  it('defaults are safe with no file: digests only for low, redacted for medium, sealed for high; 90/365/2190 days', () => {
    expect(DEFAULT_POLICY.content).toEqual({ low: 'digests', medium: 'redacted', high: 'sealed' });
    expect(DEFAULT_POLICY.retention).toEqual({ low: 90, medium: 365, high: 2190 });
    expect(parsePolicy({})).toMatchObject({ attributes: [], content: DEFAULT_POLICY.content, retention: DEFAULT_POLICY.retention });
  });

  it('reads a complete example', () => {
    const p = parsePolicy({
      version: 1,
      attributes: [
        { key: 'http.request.header.*', action: 'drop' },
        { key: 'user.email', action: 'pseudonymize' },
        { key: 'customer.tier', action: 'mask', mask: '[tier]', risk: 'high' },
        { key: 'order.id', action: 'hash', risk: ['medium', 'high'], tenant: ['acme'] },
      ],
      content: { medium: 'sealed' },
      retention_days: { low: 30 },
      tenants: { globex: { attributes: [{ key: 'user.email', action: 'drop' }], content: { high: 'redacted' } } },
      redaction: { custom: [{ kind: 'acme-ticket', pattern: 'ACME-[0-9]{6}' }] },
    });
    expect(p.attributes).toHaveLength(4);
    expect(p.attributes[2]).toEqual({ key: 'customer.tier', action: 'mask', mask: '[tier]', risk: ['high'] });
    expect(p.content).toEqual({ low: 'digests', medium: 'sealed', high: 'sealed' });
    expect(p.retention).toEqual({ low: 30, medium: 365, high: 2190 });
    expect(p.tenants.globex.content).toEqual({ high: 'redacted' });
  });

  it('reports every bad field with its path and what is expected', () => {
    const problems = problemsOf({
      attributes: [{ key: 'a.*', action: 'encrypt' }, { action: 'drop' }, 'x', { key: 'b', action: 'hash', risk: ['severe'] }, { key: 'c', action: 'drop', mask: 'm' }],
      content: { high: 'raw', extreme: 'digests' },
      retention_days: { low: 0, medium: 1.5 },
      tenants: { acme: { attributes: [{ key: 'd', action: 'drop', tenant: 'acme' }], color: 'blue' }, bad: 3 },
      redaction: { custom: [{ kind: 'x', pattern: '(a+)+' }] },
      extra: true,
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'attributes[0].action: expected one of allow, drop, mask, hash, pseudonymize, got "encrypt"',
        expect.stringMatching(/^attributes\[1\]\.key: expected a non-empty glob/),
        expect.stringMatching(/^attributes\[2\]: expected an object/),
        'attributes[3].risk: expected one of low, medium, high or an array of them, got ["severe"]',
        expect.stringMatching(/^attributes\[4\]\.mask: only meaningful with "action": "mask"/),
        'content.high: expected one of digests, redacted, sealed, got "raw"',
        expect.stringMatching(/^content\.extreme: unknown field/),
        'retention_days.low: expected a whole number of days from 1 to 36500, got 0',
        'retention_days.medium: expected a whole number of days from 1 to 36500, got 1.5',
        expect.stringMatching(/^tenants\."acme"\.attributes\[0\]\.tenant: unknown field/),
        expect.stringMatching(/^tenants\."acme"\.color: unknown field/),
        'tenants."bad": expected an object with "attributes" and/or "content", got 3',
        expect.stringMatching(/^redaction: custom\[0\] 'x': pattern nests unbounded quantifiers/),
        expect.stringMatching(/^extra: unknown field/),
      ]),
    );
    expect(problems).toHaveLength(14);
    expect(() => parsePolicy([], 'p.json')).toThrow(/invalid policy p\.json:\n {2}- \(top level\): expected an object, got \[\]/);
  });

  it('loadPolicy names the file, and reports unreadable files and bad JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ content: { low: 'redacted' } }));
    expect(loadPolicy(good)).toMatchObject({ source: good, content: { low: 'redacted' } });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"content": ');
    expect(() => loadPolicy(bad)).toThrow(/invalid policy .*bad\.json:\n {2}- not valid JSON/);
    expect(() => loadPolicy(join(dir, 'missing.json'))).toThrow(/cannot read the file: ENOENT/);
  });
});

describe('globs and rule resolution', () => {
  it('* matches any run (dots included), ? one character, everything else literally', () => {
    expect(globToRegExp('http.request.header.*').test('http.request.header.authorization')).toBe(true);
    expect(globToRegExp('http.request.header.*').test('http.request.headers')).toBe(false);
    expect(globToRegExp('user.?d').test('user.id')).toBe(true);
    expect(globToRegExp('a+b(c)').test('a+b(c)')).toBe(true);
    expect(globToRegExp('*.email').test('customer.contact.email')).toBe(true);
  });

  it('tenant rules first, then global; risk and tenant conditions; the first match decides', () => {
    const c = new CompiledPolicy(
      parsePolicy({
        attributes: [
          { key: 'order.id', action: 'hash', risk: 'high' },
          { key: 'order.*', action: 'mask' },
          { key: 'user.email', action: 'pseudonymize', tenant: ['acme', 'initech'] },
        ],
        tenants: { globex: { attributes: [{ key: 'order.id', action: 'drop' }], content: { low: 'redacted' } } },
      }),
    );
    expect(c.rule('order.id', 'acme', 'high')?.action).toBe('hash');
    expect(c.rule('order.id', 'acme', 'medium')?.action).toBe('mask');
    expect(c.rule('order.id', 'globex', 'high')?.action).toBe('drop');
    expect(c.rule('user.email', 'acme', 'low')?.action).toBe('pseudonymize');
    expect(c.rule('user.email', 'globex', 'low')).toBeNull();
    expect(c.rule('other', 'acme', 'low')).toBeNull();
    expect(c.mayMatch('order.total')).toBe(true);
    expect(c.mayMatch('service.name')).toBe(false);
    expect(c.contentMode('globex', 'low')).toBe('redacted');
    expect(c.contentMode('acme', 'low')).toBe('digests');
    expect(c.contentMode('acme', 'high')).toBe('sealed');
    expect(c.seals).toBe(true);
    expect(new CompiledPolicy(parsePolicy({ content: { high: 'redacted' } })).seals).toBe(false);
  });
});
