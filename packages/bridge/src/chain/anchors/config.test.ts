import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../config.ts';
import { AnchorConfigError, parseAnchorUrl, resolveAnchors } from './config.ts';
import cases from './testdata/anchor-urls.json' with { type: 'json' };

const dataDir = '/var/lib/otel-audit';
const env = { AWS_REGION: 'eu-west-1' };

describe('--anchor URLs (testdata/anchor-urls.json)', () => {
  for (const c of cases.valid) {
    it(`accepts ${c.url}`, () => {
      expect(parseAnchorUrl(c.url, { dataDir, env })).toEqual(c.spec);
    });
  }
  for (const c of cases.invalid) {
    it(`refuses ${JSON.stringify(c.url)}`, () => {
      expect(() => parseAnchorUrl(c.url, { dataDir, env })).toThrow(AnchorConfigError);
      expect(() => parseAnchorUrl(c.url, { dataDir, env })).toThrow(c.error);
    });
  }

  it('a ca file must hold a certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anchor-config-'));
    writeFileSync(join(dir, 'empty.pem'), 'nothing here\n');
    expect(() => parseAnchorUrl(`rfc3161+https://tsa.example/?ca=${join(dir, 'empty.pem')}`, { dataDir, env })).toThrow(/holds no PEM certificate/);
  });

  it('OTEL_AUDIT_S3_ENDPOINT and AWS_DEFAULT_REGION are the S3 defaults; the URL wins', () => {
    const e = { OTEL_AUDIT_S3_ENDPOINT: 'https://minio.internal:9000/', AWS_DEFAULT_REGION: 'eu-central-1' };
    expect(parseAnchorUrl('s3://b-1/p', { dataDir, env: e })).toMatchObject({ endpoint: 'https://minio.internal:9000', region: 'eu-central-1' });
    expect(parseAnchorUrl('s3://b-1/p?endpoint=http://127.0.0.1:1&region=us-west-2', { dataDir, env: e })).toMatchObject({ endpoint: 'http://127.0.0.1:1', region: 'us-west-2' });
    expect(parseAnchorUrl('s3://b-1/p', { dataDir, env: {} })).toMatchObject({ region: 'us-east-1' });
  });
});

describe('the anchors of a bridge', () => {
  it('default: the in-data-dir directory only', () => {
    expect(resolveAnchors({}, dataDir, {})).toEqual([{ kind: 'file', url: 'file:///var/lib/otel-audit/anchors', dir: '/var/lib/otel-audit/anchors', external: false }]);
  });

  it('--anchor adds to the in-data-dir directory unless a file:// anchor is given; --anchor-dir is file://', () => {
    expect(resolveAnchors({ anchors: ['s3://b-1/p'] }, dataDir, env).map((s) => s.url)).toEqual(['file:///var/lib/otel-audit/anchors', 's3://b-1/p']);
    expect(resolveAnchors({ anchors: ['file:///mnt/a', 'rfc3161+https://t.example/'] }, dataDir, env).map((s) => s.url)).toEqual(['file:///mnt/a', 'rfc3161+https://t.example/']);
    expect(resolveAnchors({ anchorDir: '/mnt/a' }, dataDir, env)).toEqual([{ kind: 'file', url: 'file:///mnt/a', dir: '/mnt/a', external: true }]);
    expect(resolveAnchors({ anchorDir: '/mnt/a', anchors: ['s3://b-1'] }, dataDir, env).map((s) => s.url)).toEqual(['file:///mnt/a', 's3://b-1']);
  });

  it('OTEL_AUDIT_ANCHOR is comma-separated; flags win over it', () => {
    const e = { ...env, OTEL_AUDIT_ANCHOR: 's3://b-1/p, rfc3161+https://t.example/', OTEL_AUDIT_ANCHOR_DIR: '' };
    expect(resolveAnchors({}, dataDir, e).map((s) => s.kind)).toEqual(['file', 's3', 'rfc3161']);
    expect(resolveAnchors({ anchors: ['s3://b-2'] }, dataDir, e).map((s) => s.url)).toEqual(['file:///var/lib/otel-audit/anchors', 's3://b-2']);
  });

  it('the same anchor twice is refused; resolveConfig reports anchor errors as configuration errors', () => {
    expect(() => resolveAnchors({ anchors: ['s3://b-1/p', 's3://b-1/p/'] }, dataDir, env)).toThrow(/configured twice/);
    expect(() => resolveConfig({ dataDir, anchors: ['s4://x'] }, {})).toThrow(ConfigError);
    expect(() => resolveConfig({ dataDir, anchors: ['s4://x'] }, {})).toThrow(/invalid --anchor "s4:\/\/x": unknown scheme/);
    expect(resolveConfig({ dataDir, anchors: ['s3://b-1/p'] }, {}).checkpoint.anchors!.map((a) => a.url)).toEqual(['file:///var/lib/otel-audit/anchors', 's3://b-1/p']);
  });
});
