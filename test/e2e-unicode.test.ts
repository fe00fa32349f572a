/**
 * Arbitrary strings end to end: span names and attribute values made of lone surrogates (high
 * and low), NUL and other control characters, non-BMP characters, combining marks, and, in
 * OTLP/protobuf string fields, byte sequences that are not UTF-8. They go through one real
 * bridge over OTLP/JSON and OTLP/protobuf, and `otel-audit verify` must then find the chain
 * intact: what is hashed is what is stored (issue 11: a single lone surrogate used to make its
 * event `modified` for ever).
 *
 * Random but reproducible: the seed is printed when a test fails; rerun with
 * OTEL_AUDIT_TEST_SEED=<seed>.
 */
import { randomInt } from 'node:crypto';
import type { AttributeValue, Attributes } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { flush, runCli, sql, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';
import { rng } from './helpers/fuzz-payloads.ts';
import { DEFAULT_RESOURCE, encodeTraces, postOtlp, spanId, traceId, type SpanSpec, type WireFormat } from './helpers/otlp.ts';

const SEED = Number(process.env.OTEL_AUDIT_TEST_SEED ?? randomInt(2 ** 31));
const random = rng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
const between = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));

/** Stands for bytes that are not UTF-8 in a protobuf string field: replaced after encoding. */
const BAD = '\u0007\u0007\u0007\u0007';
const BAD_MARKER = Buffer.from(`[${BAD}]`);
/** Ill-formed UTF-8, 4 bytes each: encoded surrogates, overlong forms, above U+10FFFF, cut sequences, stray bytes. */
const NOT_UTF8 = [
  [0xed, 0xa0, 0x80, 0x41], // U+D800 encoded (CESU-8 / WTF-8)
  [0xed, 0xbf, 0xbf, 0xed], // U+DFFF encoded, then a cut lead byte
  [0xc0, 0xaf, 0xe0, 0x80], // overlong '/', overlong start
  [0xf4, 0x90, 0x80, 0x80], // U+110000
  [0xf0, 0x9f, 0x98, 0x20], // 4-byte sequence cut short
  [0xff, 0xfe, 0x80, 0xbf], // never valid / stray continuation bytes
  [0xe2, 0x82, 0x00, 0xc3], // cut 3-byte sequence, NUL, cut 2-byte sequence
];

const PIECES: ReadonlyArray<() => string> = [
  () => String.fromCharCode(between(0xd800, 0xdbff)), // lone high surrogate
  () => String.fromCharCode(between(0xdc00, 0xdfff)), // lone low surrogate
  () => String.fromCharCode(between(0xdc00, 0xdfff), between(0xd800, 0xdbff)), // a pair in the wrong order
  () => '\u0000',
  () => String.fromCharCode(between(1, 0x1f)).replace('\u0007', '\u0008'),
  () => pick(['\u007f', '\u0085', '\u00a0', '\u2028', '\u2029', '\ufeff', '\ufffd', '\uffff', '\ufffe']),
  () => String.fromCodePoint(between(0x10000, 0x10ffff)), // any non-BMP code point, surrogate pair
  () => pick(['😀', '𝄞', '👩‍👩‍👧', '🇩🇪', '𠜎']),
  () => pick(['e\u0301', 'a\u0308\u0323', '\u0301', '\u0915\u094d\u0937', 'Z\u0351\u0364\u036b']), // combining marks
  () => pick(['Grüße', 'Ελληνικά', '日本語', 'עברית', 'العربية', 'ß', 'İ']),
  () => pick(['"', '\\', '/', "'", '{', '}', '\\u0000', '\\ud800', '%00', ',']),
  () => pick(['tool', 'refund', 'lookup', 'order', 'case', ' ']),
  // Personal data and secrets: redaction rewrites the string around them.
  () => pick(['jane.doe@example.com', '4111 1111 1111 1111', '+49 170 1234567', 'api_key=abc123def456ghi789', 'DE89370400440532013000']),
];

function text(maxPieces: number, bad: boolean): string {
  let s = '';
  const n = between(1, maxPieces);
  for (let i = 0; i < n; i++) s += bad && random() < 0.2 ? `[${BAD}]` : pick(PIECES)();
  return s;
}

const CASE = `CASE-UNICODE-${SEED}`;
const LONE = 'execute_tool lone \ud800 surrogate';
const NUL = 'execute_tool nul \u0000 😀 e\u0301';

function span(format: WireFormat): SpanSpec {
  const bad = format === 'protobuf';
  const attributes: Attributes = {
    'audit.correlation_id': CASE,
    'audit.actor.id': text(4, bad),
    'audit.actor.type': 'agent',
    'audit.tool.action': 'read',
    'audit.target.system': text(3, bad),
    'audit.target.id': text(6, bad),
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': text(3, bad),
    // Cut by --max-attribute-length: the cut lands on random characters.
    long: text(120, bad),
    list: Array.from({ length: between(0, 3) }, () => text(4, bad)) as AttributeValue,
  };
  for (let i = between(0, 3); i > 0; i--) attributes[`k.${text(3, bad)}`] = text(8, bad);
  return { traceId: traceId(), spanId: spanId(), name: `execute_tool ${text(8, bad)}`, kind: 1, attributes };
}

/** Puts ill-formed UTF-8 where the markers are, length for length, so the protobuf stays valid. */
function corrupt(body: Uint8Array): Buffer {
  const out = Buffer.from(body);
  for (let at = out.indexOf(BAD_MARKER); at >= 0; at = out.indexOf(BAD_MARKER, at + BAD_MARKER.length)) {
    out.set(pick(NOT_UTF8), at + 1);
  }
  return out;
}

let bridge: BridgeProcess;
let sent = 0;

beforeAll(async () => {
  bridge = await startBridge({ args: ['--max-attribute-length', '100'] });
});
afterAll(async () => {
  expect(await bridge?.stop()).toBe(0);
});

describe(`arbitrary strings through the real bridge (seed ${SEED})`, () => {
  it('every span over OTLP/JSON and OTLP/protobuf is stored, and verify finds the chain intact', async () => {
    onTestFailed(() => console.error(`e2e-unicode failed with seed ${SEED}: rerun with OTEL_AUDIT_TEST_SEED=${SEED}`));
    for (let request = 0; request < 6; request++) {
      const format: WireFormat = request % 2 === 0 ? 'json' : 'protobuf';
      const spans = Array.from({ length: 10 }, () => span(format));
      // Fixed cases beside the random ones: the request of the issue, NUL, and bytes that are not UTF-8.
      spans[0].name = format === 'json' ? LONE : `execute_tool bad [${BAD}] utf-8`;
      spans[1].name = NUL;
      const resource = { ...DEFAULT_RESOURCE, 'deployment.environment.name': text(3, format === 'protobuf') };
      let body = encodeTraces(spans, format, resource);
      if (format === 'protobuf') {
        expect(Buffer.from(body).includes(BAD_MARKER), `seed ${SEED}`).toBe(true);
        body = corrupt(body);
        expect(Buffer.from(body).includes(BAD_MARKER)).toBe(false);
      } else {
        // The official serializer keeps a lone surrogate as a \u escape: the bridge sees it as such.
        expect(Buffer.from(body).toString()).toContain('"name":"execute_tool lone \\ud800 surrogate"');
      }
      const r = await postOtlp(bridge.otlpUrl, 'traces', body, { format });
      expect(`${r.status} ${r.body.toString()}`, `seed ${SEED}, request ${request} (${format})`).toMatch(/^200 (\{\}|)$/);
      sent += spans.length;
    }
    await flush(bridge.apiUrl);
    const [{ n }] = await sql<{ n: string }>(bridge.apiUrl, `SELECT count() AS n FROM otel_audit.events WHERE correlation_id = '${CASE}'`);
    expect(Number(n), `seed ${SEED}`).toBe(sent);

    const rows = await sql<{ name: string; target_id: string }>(bridge.apiUrl, `SELECT name, target_id FROM otel_audit.events WHERE correlation_id = '${CASE}'`);
    for (const row of rows) expect(row.name.isWellFormed() && row.target_id.isWellFormed(), `seed ${SEED}`).toBe(true);
    const names = rows.map((r) => r.name);
    expect(names.filter((n) => n === 'execute_tool lone \ufffd surrogate')).toHaveLength(3);
    expect(names.filter((n) => n === NUL)).toHaveLength(6);
    expect(names.filter((n) => n.startsWith('execute_tool bad [') && n.endsWith('] utf-8') && n.includes('\ufffd'))).toHaveLength(3);

    const v = await runCli(['verify', '--format', 'json', '--api-url', bridge.apiUrl]);
    const report = JSON.parse(v.stdout || '{}') as { ok?: boolean; events_checked?: number; findings?: unknown[] };
    expect({ code: v.code, findings: report.findings?.slice(0, 5), stderr: v.stderr }, `seed ${SEED}`).toEqual({ code: 0, findings: [], stderr: '' });
    expect(report).toMatchObject({ ok: true, events_checked: sent });
  });
});
