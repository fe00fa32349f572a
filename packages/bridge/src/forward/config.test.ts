import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSize } from '../config.ts';
import { ForwardConfigError, resolveForwardConfig, type ForwardOptions } from './config.ts';

const testdata = (kind: string) => join(import.meta.dirname, 'testdata', kind);

interface Case {
  options?: ForwardOptions;
  env?: Record<string, string>;
  expect?: { protocol?: string; url?: string; headers?: Array<[string, string]>; queueBytes?: number };
  error?: string;
}

const load = (kind: string, file: string) => JSON.parse(readFileSync(join(testdata(kind), file), 'utf8')) as Case;

describe('forward config', () => {
  it('is off without --forward', () => {
    expect(resolveForwardConfig({}, {}, parseSize)).toBeNull();
  });

  it.each(readdirSync(testdata('valid')))('accepts %s', (file) => {
    const c = load('valid', file);
    const cfg = resolveForwardConfig(c.options ?? {}, c.env ?? {}, parseSize)!;
    expect(cfg).not.toBeNull();
    if (c.expect?.protocol) expect(cfg.protocol).toBe(c.expect.protocol);
    if (c.expect?.url) expect(cfg.url).toBe(c.expect.url);
    if (c.expect?.headers) expect(cfg.headers).toEqual(c.expect.headers);
    if (c.expect?.queueBytes) expect(cfg.queueBytes).toBe(c.expect.queueBytes);
    // The budget holds several segments: it drops a fraction at a time.
    expect(cfg.segmentBytes).toBeLessThanOrEqual(cfg.queueBytes / 4);
  });

  it.each(readdirSync(testdata('invalid')))('refuses %s, saying why (and never echoing a header value)', (file) => {
    const c = load('invalid', file);
    let err: unknown;
    try {
      resolveForwardConfig(c.options ?? {}, c.env ?? {}, parseSize);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ForwardConfigError);
    expect((err as ForwardConfigError).code).toBe('FORWARD_CONFIG');
    expect((err as Error).message).toContain(c.error);
    for (const h of c.options?.forwardHeaders ?? []) {
      const value = h.split('=').slice(1).join('=');
      if (value.length > 3) expect((err as Error).message).not.toContain(value);
    }
  });

  it('takes the flags over the environment', () => {
    const cfg = resolveForwardConfig({ forward: 'grpc://a:4317', forwardHeaders: ['x=1'] }, { OTEL_AUDIT_FORWARD: 'http://b:4318', OTEL_AUDIT_FORWARD_HEADERS: 'y=2' }, parseSize)!;
    expect(new URL(cfg.url).host).toBe('a:4317');
    expect(cfg.headers).toEqual([['x', '1']]);
  });
});
