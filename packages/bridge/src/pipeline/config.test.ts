import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config.ts';
import { ConfigError } from '../internal/index.ts';
import { checkPipelineConfig, DEFAULT_PIPELINE_CONFIG, PipelineConfigError, type PipelineConfig } from './index.ts';

const testdata = (kind: string) => join(import.meta.dirname, 'testdata', 'config', kind);
const load = (kind: string, file: string) => JSON.parse(readFileSync(join(testdata(kind), file), 'utf8')) as { config: Partial<PipelineConfig>; error?: string };
const withDefaults = (c: Partial<PipelineConfig>): PipelineConfig => ({ ...DEFAULT_PIPELINE_CONFIG, dataDir: '/var/lib/otel-audit', ...c });

function errorOf(f: () => unknown): Error | undefined {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

describe('pipeline config', () => {
  it.each(readdirSync(testdata('valid')))('accepts %s', (file) => {
    const c = withDefaults(load('valid', file).config);
    expect(checkPipelineConfig(c)).toBe(c);
  });

  it.each(readdirSync(testdata('invalid')))('refuses %s, naming the setting', (file) => {
    const { config, error } = load('invalid', file);
    expect(error).toBeTruthy();
    const err = errorOf(() => checkPipelineConfig(withDefaults(config)));
    expect(err).toBeInstanceOf(PipelineConfigError);
    expect((err as PipelineConfigError).code).toBe('PIPELINE_CONFIG');
    expect(err!.message).toContain(error);
  });

  it('refuses a write-ahead log key that is not 32 bytes', () => {
    expect(errorOf(() => checkPipelineConfig(withDefaults({ walKey: Buffer.alloc(16) })))?.message).toBe('walKey must be 32 bytes (AES-256), got 16');
    expect(checkPipelineConfig(withDefaults({ walKey: Buffer.alloc(32) })).walKey).toHaveLength(32);
  });

  it('serve flags that set it get the same check, as a usage error', () => {
    for (const [flag, value, message] of [
      ['chainId', 'a b', 'invalid --chain-id "a b"'],
      ['chainId', 'east-low', 'reserved for single-risk chains'],
      ['defaultRisk', 'critical', 'invalid --default-risk "critical"'],
      ['intakeWorkers', '65', 'invalid --intake-workers "65": at most 64'],
      ['decisionWait', '25h', '--decision-wait (decisionWaitMs) must be a whole number of milliseconds from 1 to 86400000'],
    ] as const) {
      const err = errorOf(() => resolveConfig({ dataDir: '/tmp/otel-audit-config-test', [flag]: value }, {}));
      expect(err, `${flag} ${value}`).toBeInstanceOf(ConfigError);
      expect(err!.message).toContain(message);
    }
  });
});
