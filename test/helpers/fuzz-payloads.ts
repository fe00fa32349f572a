/**
 * Hostile OTLP/HTTP requests for the fuzz test (test/fuzz.test.ts) and the longer fuzz run
 * (bench/fuzz.ts): mutated valid protobuf and JSON (made by the official encoders), truncated
 * bodies, random bytes, wrong content types and encodings, huge declared lengths, deep nesting,
 * 100k attributes, 10 MiB strings, ids that are not hex, enums as strings, timestamps out of
 * range. Deterministic for a seed.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { RpcStatus } from '../../packages/bridge/src/otlp/index.ts';
import { encodeLogs, encodeTraces, spanId, traceId, type SpanSpec } from './otlp.ts';

export interface FuzzCase {
  kind: string;
  path: '/v1/traces' | '/v1/logs';
  headers: Record<string, string>;
  body: Buffer;
}

/** xorshift32: small, fast, seeded. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

// ---- a tiny protobuf writer -------------------------------------------------------------------

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const tag = (field: number, wire: number) => varint((field << 3) | wire);
/** A length-delimited field. */
export const ld = (field: number, bytes: Buffer | string): Buffer => {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  return Buffer.concat([Buffer.from([...tag(field, 2), ...varint(b.length)]), b]);
};
const vi = (field: number, n: number | bigint) => Buffer.from([...tag(field, 0), ...varint(n)]);
const f64 = (field: number, n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, n));
  return Buffer.concat([Buffer.from(tag(field, 1)), b]);
};
const kv = (key: string, anyValue: Buffer) => Buffer.concat([ld(1, key), ld(2, anyValue)]);
const str = (s: string) => ld(1, s);

/** A protobuf span (opentelemetry.proto.trace.v1.Span) with raw pieces. */
function pbSpan(o: { traceId?: Buffer; spanId?: Buffer; name?: string; start?: bigint; end?: bigint; attrs?: Buffer[]; kind?: number }): Buffer {
  return Buffer.concat([
    ld(1, o.traceId ?? Buffer.from(traceId(), 'hex')),
    ld(2, o.spanId ?? Buffer.from(spanId(), 'hex')),
    ld(5, o.name ?? 'execute_tool fuzz'),
    vi(6, o.kind ?? 1),
    f64(7, o.start ?? BigInt(Date.now()) * 1_000_000n),
    f64(8, o.end ?? BigInt(Date.now() + 5) * 1_000_000n),
    ...(o.attrs ?? []).map((a) => ld(9, a)),
  ]);
}
/** ExportTraceServiceRequest { resource_spans { scope_spans { spans } } }. */
export function pbTraces(spans: Buffer[]): Buffer {
  return ld(1, ld(2, Buffer.concat(spans.map((s) => ld(2, s)))));
}

/**
 * AnyValue nested `depth` levels deep (array in array ...), built outside-in in one buffer so
 * that 100k levels cost O(n): AnyValue{5: ArrayValue{1: AnyValue{...}}}.
 */
export function deepAnyValue(depth: number): Buffer {
  const leaf = str('x');
  // lengths[k] = byte length of the AnyValue at nesting level k (0 = leaf).
  const anyLen: number[] = [leaf.length];
  const arrLen: number[] = [0];
  for (let k = 1; k <= depth; k++) {
    arrLen[k] = 1 + varint(anyLen[k - 1]).length + anyLen[k - 1];
    anyLen[k] = 1 + varint(arrLen[k]).length + arrLen[k];
  }
  const out = Buffer.alloc(anyLen[depth]);
  let off = 0;
  for (let k = depth; k >= 1; k--) {
    for (const b of [0x2a, ...varint(arrLen[k]), 0x0a, ...varint(anyLen[k - 1])]) out[off++] = b;
  }
  leaf.copy(out, off);
  return out;
}

// ---- cases ------------------------------------------------------------------------------------

const PB = { 'content-type': 'application/x-protobuf' };
const JS = { 'content-type': 'application/json' };

function baseSpans(n: number): SpanSpec[] {
  const t = traceId();
  const root = spanId();
  return Array.from({ length: n }, (_, i) => ({
    traceId: t,
    spanId: i === 0 ? root : spanId(),
    parentSpanId: i === 0 ? undefined : root,
    name: i === 0 ? 'POST /support' : `execute_tool step_${i}`,
    kind: i === 0 ? 1 : 0,
    attributes: {
      'gen_ai.operation.name': i === 0 ? 'chat' : 'execute_tool',
      'gen_ai.tool.name': `step_${i}`,
      'audit.correlation_id': `FUZZ-MUT-${t.slice(0, 8)}`,
      'gen_ai.usage.input_tokens': 42,
      'score': 0.5,
      'flag': true,
      'list': ['a', 'b', 'c'],
    },
  }));
}

function mutateBytes(buf: Buffer, r: () => number): Buffer {
  const b = Buffer.from(buf);
  const ops = 1 + Math.floor(r() * 6);
  let out = b;
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(r() * out.length);
    const op = Math.floor(r() * 6);
    if (op === 0) out[at] ^= 1 << Math.floor(r() * 8);
    else if (op === 1) out[at] = Math.floor(r() * 256);
    else if (op === 2) out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + Math.floor(r() * 8))]);
    else if (op === 3) out = Buffer.concat([out.subarray(0, at), Buffer.from([Math.floor(r() * 256), 0xff, 0xff, 0xff, 0xff, 0x0f].slice(0, 1 + Math.floor(r() * 6))), out.subarray(at)]);
    else if (op === 4) out = Buffer.concat([out, out.subarray(at, at + Math.floor(r() * 64))]);
    else out[at] = [0x00, 0xff, 0x7f, 0x80][Math.floor(r() * 4)];
  }
  return out;
}

/** Replaces a random value of the parsed OTLP/JSON with one of another type, string or shape. */
function mutateJson(obj: unknown, r: () => number): unknown {
  const paths: Array<[Record<string, unknown> | unknown[], string | number]> = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach((x, i) => (paths.push([v, i]), walk(x)));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (paths.push([v as Record<string, unknown>, k]), walk(x));
  };
  walk(obj);
  const replacements: unknown[] = [
    null, 0, -1, 1e308, -1e308, 'zz', '', 'SPAN_KIND_SERVER', 'STATUS_CODE_ERROR', 'SEVERITY_NUMBER_INFO',
    '99999999999999999999999', '-5', '1.5e20', 'NaN', true, [], {}, [[[]]], { stringValue: 5 },
    { arrayValue: { values: 'x' } }, { kvlistValue: { values: [{ key: 5 }] } }, 'x'.repeat(300), '\u0000\ud800',
    '0123456789abcdef0123456789abcdeg', 'ABCDEF0123456789ABCDEF0123456789', '00000000000000000000000000000000',
  ];
  for (let k = 0; k < 1 + Math.floor(r() * 3) && paths.length; k++) {
    const [parent, key] = paths[Math.floor(r() * paths.length)];
    (parent as Record<string, unknown>)[key as string] = replacements[Math.floor(r() * replacements.length)];
  }
  return obj;
}

/** A request that must be stored: one root span under a case id. */
export function goodCase(caseId: string): { body: Buffer; headers: Record<string, string>; spanId: string } {
  const s: SpanSpec = { traceId: traceId(), spanId: spanId(), name: 'execute_tool good', attributes: { 'gen_ai.tool.name': 'good', 'audit.correlation_id': caseId } };
  return { body: Buffer.from(encodeTraces([s], 'protobuf')), headers: PB, spanId: s.spanId };
}

/**
 * The i-th fuzz case of a run. `big` allows the heavy ones (10 MiB strings, 100k attributes,
 * 100k-deep nesting), which come every `bigEvery` cases.
 */
export function fuzzCase(i: number, r: () => number, opts: { bigEvery?: number } = {}): FuzzCase {
  const bigEvery = opts.bigEvery ?? 150;
  if (i % bigEvery === bigEvery - 1) return bigCase(Math.floor(i / bigEvery), r);
  const pick = Math.floor(r() * 16);
  const spans = baseSpans(1 + Math.floor(r() * 6));
  switch (pick) {
    case 0:
    case 1:
    case 2: {
      const pb = Buffer.from(encodeTraces(spans, 'protobuf'));
      return { kind: 'mutated-protobuf', path: '/v1/traces', headers: PB, body: mutateBytes(pb, r) };
    }
    case 3:
    case 4: {
      const json = JSON.parse(Buffer.from(encodeTraces(spans, 'json')).toString());
      return { kind: 'mutated-json', path: '/v1/traces', headers: JS, body: Buffer.from(JSON.stringify(mutateJson(json, r))) };
    }
    case 5: {
      const text = Buffer.from(encodeTraces(spans, 'json'));
      return { kind: 'mutated-json-bytes', path: '/v1/traces', headers: JS, body: mutateBytes(text, r) };
    }
    case 6: {
      const logs = Buffer.from(
        encodeLogs([{ traceId: spans[0].traceId, spanId: spans[0].spanId, eventName: 'gen_ai.user.message', body: { content: 'hi' } }], r() < 0.5 ? 'json' : 'protobuf'),
      );
      const json = logs[0] === 0x7b;
      const body = json ? Buffer.from(JSON.stringify(mutateJson(JSON.parse(logs.toString()), r))) : mutateBytes(logs, r);
      return { kind: 'mutated-logs', path: '/v1/logs', headers: json ? JS : PB, body };
    }
    case 7: {
      const json = r() < 0.5;
      const full = Buffer.from(encodeTraces(spans, json ? 'json' : 'protobuf'));
      return { kind: 'truncated', path: '/v1/traces', headers: json ? JS : PB, body: full.subarray(0, Math.floor(r() * full.length)) };
    }
    case 8: {
      const n = Math.floor(r() * 2048);
      const body = Buffer.alloc(n);
      for (let k = 0; k < n; k++) body[k] = Math.floor(r() * 256);
      return { kind: 'random-bytes', path: r() < 0.5 ? '/v1/traces' : '/v1/logs', headers: r() < 0.5 ? PB : JS, body };
    }
    case 9: {
      const ctype = ['text/plain', 'application/xml', 'application/grpc', 'multipart/form-data', '', 'application/x-protobuf; proto=x', 'APPLICATION/JSON'][Math.floor(r() * 7)];
      const headers: Record<string, string> = ctype ? { 'content-type': ctype } : {};
      return { kind: 'content-type', path: '/v1/traces', headers, body: Buffer.from(encodeTraces(spans, 'json')) };
    }
    case 10: {
      // Huge declared lengths: at the top, inside a span, inside an attribute value.
      const huge = [0xffffffffn, 0x7fffffffn, 1n << 62n, (1n << 64n) - 1n][Math.floor(r() * 4)];
      const where = Math.floor(r() * 3);
      const body =
        where === 0
          ? Buffer.from([0x0a, ...varint(huge), 1, 2, 3])
          : where === 1
            ? pbTraces([Buffer.concat([pbSpan({}), Buffer.from([0x2a, ...varint(huge)]), Buffer.from('abc')])])
            : pbTraces([pbSpan({ attrs: [Buffer.concat([ld(1, 'k'), Buffer.from([0x12, ...varint(huge)]), Buffer.from('xyz')])] })]);
      return { kind: 'huge-length', path: '/v1/traces', headers: PB, body };
    }
    case 11: {
      // Ids that are not hex / wrong length, enums as strings, timestamps out of range (JSON).
      const span: Record<string, unknown> = {
        traceId: [traceId(), 'not-hex-at-all-not-hex-at-all-xx', traceId().slice(0, 31), traceId().toUpperCase(), '', 5][Math.floor(r() * 6)],
        spanId: [spanId(), 'zzzzzzzzzzzzzzzz', spanId() + '00', null][Math.floor(r() * 4)],
        name: 'execute_tool enum',
        kind: ['SPAN_KIND_SERVER', 'SPAN_KIND_BOGUS', 2, -1, 99, '1'][Math.floor(r() * 6)],
        startTimeUnixNano: ['99999999999999999999999', '-1', '1.5', 1e30, '18446744073709551615', '1700000000000000000', 'x'][Math.floor(r() * 7)],
        endTimeUnixNano: ['18446744073709551616', '0', '1700000000000000001', 1.7e18][Math.floor(r() * 4)],
        status: { code: ['STATUS_CODE_ERROR', 'STATUS_CODE_NOPE', 2, 7][Math.floor(r() * 4)] },
        attributes: [{ key: 'gen_ai.tool.name', value: { stringValue: 'enum' } }],
      };
      return { kind: 'ids-enums-times', path: '/v1/traces', headers: JS, body: Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] })) };
    }
    case 12: {
      // Timestamps out of range in protobuf (fixed64 max, end before start, zero).
      const max = (1n << 64n) - 1n;
      const [start, end] = [[max, max], [0n, 0n], [max, 0n], [1n << 63n, (1n << 63n) + 1n]][Math.floor(r() * 4)];
      return { kind: 'pb-times', path: '/v1/traces', headers: PB, body: pbTraces([pbSpan({ start, end })]) };
    }
    case 13: {
      // Bad compression.
      const enc = ['gzip', 'deflate', 'br', 'zstd', 'gzip, gzip'][Math.floor(r() * 5)];
      const body = r() < 0.5 ? mutateBytes(gzipSync(Buffer.from(encodeTraces(spans, 'protobuf'))), r) : Buffer.from('not compressed');
      return { kind: 'bad-encoding', path: '/v1/traces', headers: { ...PB, 'content-encoding': enc }, body };
    }
    case 14: {
      // Moderately deep nesting (protobuf AnyValue and JSON).
      const depth = 17 + Math.floor(r() * 2000);
      if (r() < 0.5) return { kind: 'deep-pb', path: '/v1/traces', headers: PB, body: pbTraces([pbSpan({ attrs: [kv('deep', deepAnyValue(depth))] })]) };
      const open = '{"arrayValue":{"values":['.repeat(depth);
      const close = ']}}'.repeat(depth);
      const body = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${traceId()}","spanId":"${spanId()}","name":"deep","startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"deep","value":${open}{"stringValue":"x"}${close}}]}]}]}]}`;
      return { kind: 'deep-json', path: '/v1/traces', headers: JS, body: Buffer.from(body) };
    }
    default: {
      // Valid protobuf with odd but legal content: unknown fields, empty containers, duplicates.
      const body = Buffer.concat([pbTraces([pbSpan({ attrs: [kv('a', str('1')), kv('a', str('2')), kv('', str(''))] })]), ld(99, 'unknown'), ld(1, Buffer.alloc(0))]);
      return { kind: 'odd-valid', path: '/v1/traces', headers: PB, body };
    }
  }
}

function bigCase(n: number, r: () => number): FuzzCase {
  switch (n % 8) {
    case 5:
      return { kind: 'deep-100k-pb', path: '/v1/traces', headers: PB, body: pbTraces([pbSpan({ attrs: [kv('deep', deepAnyValue(100_000))] })]) };
    case 6:
      // Over the body limit once inflated (a gzip bomb): 413 without inflating it all.
      return { kind: 'gzip-bomb', path: '/v1/traces', headers: { ...PB, 'content-encoding': 'gzip' }, body: gzipSync(Buffer.alloc(64 * 1024 * 1024)) };
    case 7:
      return { kind: 'oversized', path: '/v1/logs', headers: JS, body: Buffer.alloc(20 * 1024 * 1024 + Math.floor(r() * 1024), 0x20) };
    case 0: {
      // A 10 MiB string attribute (protobuf): kept truncated.
      const big = 'y'.repeat(10 * 1024 * 1024);
      return { kind: 'big-string-pb', path: '/v1/traces', headers: PB, body: pbTraces([pbSpan({ attrs: [kv('gen_ai.tool.name', str('big')), kv('huge', str(big))] })]) };
    }
    case 1: {
      const big = 'z'.repeat(10 * 1024 * 1024);
      const span = { traceId: traceId(), spanId: spanId(), name: 'execute_tool big', startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000000000001', attributes: [{ key: 'huge', value: { stringValue: big } }] };
      return { kind: 'big-string-json', path: '/v1/traces', headers: JS, body: Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] })) };
    }
    case 2: {
      // 100k attributes on one span.
      const attrs = Array.from({ length: 100_000 }, (_, k) => kv(`attr.${k}`, str(`v${k}`)));
      return { kind: '100k-attributes-pb', path: '/v1/traces', headers: PB, body: pbTraces([pbSpan({ attrs })]) };
    }
    case 3: {
      const attributes = Array.from({ length: 100_000 }, (_, k) => ({ key: `attr.${k}`, value: { intValue: String(k) } }));
      const span = { traceId: traceId(), spanId: spanId(), name: 'many', startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000000000001', attributes };
      return { kind: '100k-attributes-json', path: '/v1/traces', headers: JS, body: Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] })) };
    }
    default: {
      // 100k empty resource/scope wrappers.
      const wrappers = Buffer.concat(Array.from({ length: 100_000 }, () => ld(1, ld(2, Buffer.alloc(0)))));
      return { kind: '100k-empty-resources', path: '/v1/traces', headers: PB, body: wrappers };
    }
  }
}

// ---- the runner -------------------------------------------------------------------------------

export interface FuzzStats {
  sent: number;
  byStatus: Record<string, number>;
  byKind: Record<string, Record<string, number>>;
  /** Answers outside 200/400/413/415, or 4xx without a google.rpc.Status body. */
  violations: string[];
  goodSent: string[];
  goodFailed: string[];
  peakRssBytes: number;
  ms: number;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function post(agent: Agent, url: URL, path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; ctype: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'POST', agent, headers: { ...headers, 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, ctype: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    // A server that answers 413 to a declared size closes the connection without reading the
    // upload: the write fails, but the answer arrives. Wait for it a moment.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') setTimeout(() => reject(err), 2000);
      else reject(err);
    });
    req.end(body);
  });
}

/** A google.rpc.Status in the answer's encoding, with a numeric code and a message. */
function isRpcStatus(ctype: string, body: Buffer): boolean {
  try {
    if (ctype.startsWith('application/json')) {
      const o = JSON.parse(body.toString()) as { code?: unknown; message?: unknown };
      return typeof o.code === 'number' && typeof o.message === 'string' && o.message.length > 0;
    }
    const o = RpcStatus.toObject(RpcStatus.decode(body)) as { code?: number; message?: string };
    return typeof o.code === 'number' && typeof o.message === 'string' && o.message.length > 0;
  } catch {
    return false;
  }
}

/**
 * Sends `count` fuzz cases over keep-alive connections, `concurrency` at a time, with a good
 * request every `goodEvery`; samples the bridge's RSS every 100 ms.
 */
export async function runFuzz(o: { otlpUrl: string; pid: number; count: number; concurrency: number; seed: number; goodEvery: number; bigEvery?: number; maxBody?: number; onProgress?: (done: number) => void }): Promise<FuzzStats> {
  const url = new URL(o.otlpUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const r = rng(o.seed);
  const stats: FuzzStats = { sent: 0, byStatus: {}, byKind: {}, violations: [], goodSent: [], goodFailed: [], peakRssBytes: 0, ms: 0 };
  const sampler = setInterval(() => {
    try {
      stats.peakRssBytes = Math.max(stats.peakRssBytes, rssBytes(o.pid));
    } catch {
      /* exited: the caller checks */
    }
  }, 100);
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= o.count) return;
      if (i % o.goodEvery === 0) {
        const g = goodCase(`FUZZ-GOOD-${o.seed}-${i}`);
        stats.goodSent.push(g.spanId);
        const res = await post(agent, url, '/v1/traces', g.headers, g.body).catch((e: Error) => ({ status: 0, ctype: '', body: Buffer.from(e.message) }));
        if (res.status !== 200) stats.goodFailed.push(`${g.spanId}: ${res.status} ${res.body.toString().slice(0, 200)}`);
      }
      const c = fuzzCase(i, r, { bigEvery: o.bigEvery });
      const res = await post(agent, url, c.path, c.headers, c.body).catch((e: NodeJS.ErrnoException) =>
        // An upload far over the limit may be cut off before the 413 can be read: the bridge
        // closes rather than read it. That is a refusal too, but only for oversized bodies.
        (e.code === 'EPIPE' || e.code === 'ECONNRESET') && c.body.length > (o.maxBody ?? 16 * 1024 * 1024)
          ? { status: 413, ctype: 'closed', body: Buffer.alloc(0) }
          : { status: 0, ctype: '', body: Buffer.from(e.message) },
      );
      stats.sent++;
      stats.byStatus[res.status] = (stats.byStatus[res.status] ?? 0) + 1;
      (stats.byKind[c.kind] ??= {})[res.status] = ((stats.byKind[c.kind] ??= {})[res.status] ?? 0) + 1;
      const allowed = [200, 400, 413, 415].includes(res.status);
      const statusOk = res.status === 200 || res.ctype === 'closed' || isRpcStatus(res.ctype, res.body);
      if (!allowed || !statusOk) {
        stats.violations.push(`#${i} ${c.kind}: ${res.status} ${res.ctype} ${res.body.toString('latin1').slice(0, 200)}`);
      }
      if (i % 100 === 0) o.onProgress?.(i);
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    clearInterval(sampler);
    agent.destroy();
  }
  stats.ms = Date.now() - t0;
  return stats;
}
