// The detections section of the policy file: the valid files of testdata/valid/ load (and a
// file without the section gets the defaults); each invalid one is refused naming exactly the
// problems of its .expected.txt; `serve --policy` refuses a bad one at start (exit 2).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../config.ts';
import { loadPolicy } from '../policy/index.ts';
import { DEFAULT_DETECT_CONFIG, DetectConfigError, resolveDetectConfig } from './config.ts';

const dir = join(import.meta.dirname, 'testdata');

describe('detections in the policy file', () => {
  it('loads the valid files (the policy stage accepts them too)', () => {
    const all = resolveDetectConfig({ policy: join(dir, 'valid', 'all-rules.json') }, {});
    expect(all.intervalMs).toBe(30_000);
    expect(all.rules['approval-bypass'].requireApproval).toEqual([{ risk: ['high'], action: ['write', 'delete'] }, { tool: ['refund'] }]);
    expect(all.rules.blocked.enabled).toBe(false);
    expect(all.rules['repeated-corrections']).toMatchObject({ minCount: 5, minRate: 0.1, windowMs: 7 * 86_400_000 });
    expect(all.rules.coverage).toMatchObject({ severity: 'medium', checks: ['high-risk-without-review'], reviewTimeoutMs: 4 * 3_600_000 });
    for (const f of readdirSync(join(dir, 'valid'))) expect(() => loadPolicy(join(dir, 'valid', f))).not.toThrow();
  });

  it('gives the defaults without a file, or with a file that has no detections', () => {
    const { source: _a, ...defaults } = DEFAULT_DETECT_CONFIG;
    const { source: _b, ...none } = resolveDetectConfig({ policy: join(dir, 'valid', 'none.json') }, {});
    expect(none).toEqual(defaults);
    expect(resolveDetectConfig({}, {}).source).toBe('defaults');
    expect(defaults.rules['approval-bypass']).toMatchObject({ enabled: true, severity: 'high' });
  });

  it('refuses each invalid file, naming every problem with its path', () => {
    const files = readdirSync(join(dir, 'invalid')).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      const expected = readFileSync(join(dir, 'invalid', f.replace(/\.json$/, '.expected.txt')), 'utf8').trim().split('\n');
      let err: unknown;
      try {
        resolveDetectConfig({ policy: join(dir, 'invalid', f) }, {});
      } catch (e) {
        err = e;
      }
      expect(err, f).toBeInstanceOf(DetectConfigError);
      expect((err as DetectConfigError).code).toBe('DETECT_CONFIG_INVALID');
      expect((err as DetectConfigError).problems.sort(), f).toEqual(expected.sort());
    }
  });

  it('webhooks need http(s) URLs and a shared secret of 16 characters or more', () => {
    const secret = 'x'.repeat(16);
    expect(resolveDetectConfig({ alertWebhook: ['https://hooks.example/a'] }, { OTEL_AUDIT_ALERT_WEBHOOK_SECRET: secret }).webhooks).toEqual({ urls: ['https://hooks.example/a'], secret });
    expect(resolveDetectConfig({}, { OTEL_AUDIT_ALERT_WEBHOOK: 'http://a/1, http://b/2', OTEL_AUDIT_ALERT_WEBHOOK_SECRET: secret }).webhooks?.urls).toEqual(['http://a/1', 'http://b/2']);
    expect(resolveDetectConfig({}, {}).webhooks).toBeUndefined();
    expect(() => resolveConfig({ alertWebhook: ['https://hooks.example/a'] }, { OTEL_AUDIT_ALERT_WEBHOOK_SECRET: 'short' })).toThrow(/--alert-webhook needs a shared secret of at least 16 characters/);
    expect(() => resolveConfig({ alertWebhook: ['ftp://hooks.example/a'] }, {})).toThrow('--alert-webhook "ftp://hooks.example/a": expected an http(s) URL');
    expect(() => resolveConfig({ alertWebhook: ['http://a/'], alertWebhookSecretFile: join(dir, 'missing') }, {})).toThrow(/--alert-webhook-secret-file .*missing: cannot read it \(ENOENT\)/);
  });

  it('serve refuses a bad section at start, as bad input', () => {
    expect(() => resolveConfig({ policy: join(dir, 'invalid', 'bad-fields.json') }, {})).toThrow(ConfigError);
    expect(() => resolveConfig({}, { OTEL_AUDIT_POLICY: join(dir, 'invalid', 'not-an-object.json') })).toThrow(/detections: expected an object/);
  });
});
