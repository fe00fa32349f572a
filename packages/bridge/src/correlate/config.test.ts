import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCorrelatorConfig, CorrelatorConfigError, Correlator, DEFAULT_CORRELATOR_CONFIG, type CorrelatorConfig } from './index.ts';

const testdata = (kind: string) => join(import.meta.dirname, 'testdata', 'config', kind);
const load = (kind: string, file: string) => JSON.parse(readFileSync(join(testdata(kind), file), 'utf8')) as { config: Partial<CorrelatorConfig>; error?: string };

describe('correlator config', () => {
  it.each(readdirSync(testdata('valid')))('accepts %s, defaults filled in', (file) => {
    const { config } = load('valid', file);
    expect(checkCorrelatorConfig(config)).toEqual({ ...DEFAULT_CORRELATOR_CONFIG, ...config });
    expect(new Correlator(config).config).toEqual({ ...DEFAULT_CORRELATOR_CONFIG, ...config });
  });

  it.each(readdirSync(testdata('invalid')))('refuses %s, naming the setting (the constructor too)', (file) => {
    const { config, error } = load('invalid', file);
    expect(error).toBeTruthy();
    for (const attempt of [() => checkCorrelatorConfig(config), () => new Correlator(config)]) {
      let err: unknown;
      try {
        attempt();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorrelatorConfigError);
      expect((err as CorrelatorConfigError).code).toBe('CORRELATOR_CONFIG');
      expect((err as Error).message).toContain(error);
    }
  });
});
