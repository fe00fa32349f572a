// Retention regimes in the policy file: the valid files of testdata/retention/valid load with
// the regime's preset; each invalid one is refused naming exactly the problems of its
// .expected.txt, with its code; `serve` refuses a retention under the regime's minimum at start
// (ConfigError, exit 2) unless acknowledged, and the acknowledgement is logged.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../config.ts';
import { createLogger } from '../internal/index.ts';
import { DEFAULT_POLICY, loadPolicy, parsePolicy, PolicyError } from './policy.ts';
import { logRetentionRegime, RETENTION_REGIME_SPECS, retentionShortfalls } from './retention-regimes.ts';

const dir = join(import.meta.dirname, 'testdata', 'retention');
const valid = (f: string) => loadPolicy(join(dir, 'valid', f));

function refusal(f: () => unknown): PolicyError {
  try {
    f();
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('retention regimes', () => {
  it('set the least days from what each regime says: six months (at most 184 days), six years (at most 2192)', () => {
    expect(RETENTION_REGIME_SPECS['eu-ai-act'].minDays).toBe(184);
    expect(RETENTION_REGIME_SPECS.hipaa.minDays).toBe(2192);
    // The longest six calendar months and six years there are.
    expect((Date.UTC(2026, 11, 31) - Date.UTC(2026, 5, 30)) / 86_400_000).toBe(184);
    expect((Date.UTC(2033, 0, 1) - Date.UTC(2027, 0, 1)) / 86_400_000).toBe(2192);
  });

  it('a regime is a preset: levels the file does not state are kept at least the regime\'s minimum', () => {
    expect(valid('eu-ai-act-preset.json')).toMatchObject({
      retention: { low: 184, medium: 365, high: 2190 },
      regime: { regimes: ['eu-ai-act'], shortfalls: [] },
    });
    expect(valid('hipaa-preset.json')).toMatchObject({ retention: { low: 2192, medium: 2192, high: 3650 }, regime: { regimes: ['hipaa'], shortfalls: [] } });
    expect(valid('both-regimes.json').retention).toEqual({ low: 2192, medium: 2192, high: 2192 });
    expect(valid('at-the-minimum.json')).toMatchObject({ retention: { low: 184, medium: 184, high: 184 }, regime: { shortfalls: [] } });
  });

  it('without a regime nothing changes: defaults, and any retention is accepted', () => {
    expect(parsePolicy({}).regime).toBeUndefined();
    expect(parsePolicy({}).retention).toEqual(DEFAULT_POLICY.retention);
    expect(parsePolicy({ retention_days: { low: 1 } }).retention.low).toBe(1);
  });

  it('an acknowledged shortfall loads, with the reason and what falls short', () => {
    expect(valid('acknowledged.json')).toMatchObject({
      retention: { low: 30, medium: 365, high: 2190 },
      regime: {
        regimes: ['eu-ai-act'],
        acknowledged: 'Low-risk FAQ answers hold no personal data; DPO decision 2026-11-02',
        shortfalls: [{ regime: 'eu-ai-act', risk: 'low', days: 30, minDays: 184 }],
      },
    });
  });

  it('refuses each invalid file, naming every problem with its path, with its code', () => {
    const files = readdirSync(join(dir, 'invalid')).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const f of files) {
      const [codeLine, ...expected] = readFileSync(join(dir, 'invalid', f.replace(/\.json$/, '.expected.txt')), 'utf8').trim().split('\n');
      const err = refusal(() => loadPolicy(join(dir, 'invalid', f)));
      expect(`code: ${err.code}`, f).toBe(codeLine);
      expect(err.problems, f).toEqual(expected);
    }
  });

  it('the shortfalls of a retention: every level under every regime, the strictest first', () => {
    expect(retentionShortfalls({ low: 90, medium: 400, high: 3000 }, ['eu-ai-act', 'hipaa'])).toEqual([
      { regime: 'hipaa', risk: 'low', days: 90, minDays: 2192 },
      { regime: 'eu-ai-act', risk: 'low', days: 90, minDays: 184 },
      { regime: 'hipaa', risk: 'medium', days: 400, minDays: 2192 },
    ]);
    expect(retentionShortfalls({ low: 184, medium: 184, high: 184 }, ['eu-ai-act'])).toEqual([]);
  });

  it('serve refuses at start, as bad configuration with the code, naming the regime, the level, the days and the minimum', () => {
    let err: unknown;
    try {
      resolveConfig({ policy: join(dir, 'invalid', 'short-eu-ai-act.json') }, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('RETENTION_BELOW_REGIME');
    expect((err as ConfigError).message).toMatch(/^refusing retention shorter than the retention regime requires, in policy .*short-eu-ai-act\.json:\n {2}- retention_days\.low: 90 days is shorter than the 184 days the EU AI Act requires \(retention_regime "eu-ai-act"/);
    // Other mistakes are the usual invalid policy.
    expect(() => resolveConfig({}, { OTEL_AUDIT_POLICY: join(dir, 'invalid', 'bad-fields.json') })).toThrow(expect.objectContaining({ code: 'POLICY_INVALID' }));
    // Acknowledged, it starts.
    expect(resolveConfig({ policy: join(dir, 'valid', 'acknowledged.json') }, {}).privacy?.policy?.regime?.acknowledged).toMatch(/^Low-risk FAQ/);
  });

  it('logs the acknowledgement with the reason at every start, and a met regime as such', () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    const ack = valid('acknowledged.json');
    logRetentionRegime(ack.regime, ack.retention, log);
    const met = valid('hipaa-preset.json');
    logRetentionRegime(met.regime, met.retention, log);
    logRetentionRegime(undefined, DEFAULT_POLICY.retention, log);
    const [warn, info, ...rest] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rest).toEqual([]);
    expect(warn).toMatchObject({
      level: 'warn',
      msg: 'retention shorter than the retention regime requires, acknowledged',
      retention_regime: ['eu-ai-act'],
      shortfalls: ['low: 30 days, eu-ai-act requires 184'],
      acknowledge_short_retention: 'Low-risk FAQ answers hold no personal data; DPO decision 2026-11-02',
    });
    expect(info).toMatchObject({ level: 'info', msg: 'retention meets the retention regime', retention_regime: ['hipaa'], retention_days: { low: 2192, medium: 2192, high: 3650 } });
  });
});
