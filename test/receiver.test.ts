/**
 * The OTLP/HTTP contract of the real bridge process, over loopback: content types and
 * encodings, status codes and their google.rpc.Status bodies, partial success, body limits
 * measured after decompression, idempotency, and late roots.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { RpcStatus } from '../packages/bridge/src/otlp/index.ts';
import { eventually, flush, sql, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';
import {
  CONTENT_TYPE,
  encodeLogs,
  encodeTraces,
  postOtlp,
  spanId,
  traceId,
  type PostResult,
  type SpanSpec,
  type WireFormat,
} from './helpers/otlp.ts';

let bridge: BridgeProcess;

beforeAll(async () => {
  bridge = await startBridge({ args: ['--max-body', '1MiB'] });
});
afterAll(async () => {
  const code = await bridge?.stop();
  expect(code).toBe(0);
});

interface Row {
  event_id: string;
  event_type: string;
  correlation_id: string;
  correlation_source: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string;
  tool_name: string;
  content: string;
  tenant: string;
  [k: string]: unknown;
}

const rowsOf = (where: string) =>
  sql<Row>(bridge.apiUrl, `SELECT * FROM otel_audit.events WHERE ${where} ORDER BY event_time, span_id`);

/** A root request span and a tool call under it, all in one case. */
function activity(caseId: string): SpanSpec[] {
  const t = traceId();
  const root = spanId();
  return [
    {
      traceId: t,
      spanId: spanId(),
      parentSpanId: root,
      name: 'execute_tool refund',
      attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'refund', 'audit.tool.action': 'update' },
    },
    {
      traceId: t,
      spanId: root,
      name: 'POST /support',
      kind: 1,
      attributes: { 'audit.correlation_id': caseId, 'audit.actor.id': 'agent-1', 'audit.actor.type': 'human' },
    },
  ];
}

function statusOf(r: PostResult, format: WireFormat): { code: number; message: string } {
  if (format === 'json') return JSON.parse(r.body.toString()) as { code: number; message: string };
  return RpcStatus.toObject(RpcStatus.decode(r.body)) as { code: number; message: string };
}

/**
 * Sends raw bytes with full control over the headers (fetch would add its own encoding). An
 * array body goes out chunked, without a Content-Length.
 */
function rawPost(path: string, headers: Record<string, string | number>, body: Buffer | Buffer[]): Promise<PostResult & { ms: number }> {
  const url = new URL(bridge.otlpUrl);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          headers: new Headers(res.headers as Record<string, string>),
          body: Buffer.concat(chunks),
          ms: Date.now() - t0,
        }),
      );
    });
    // The server may answer and close before the whole upload is written.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    if (Array.isArray(body)) {
      for (const chunk of body) req.write(chunk);
      req.end();
    } else req.end(body);
  });
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('accepted requests', () => {
  describe.each([
    ['protobuf', false],
    ['protobuf', true],
    ['json', false],
    ['json', true],
  ] as const)('traces as %s (gzip: %s)', (format, gzip) => {
    it('answers 200 with an empty success body and stores the events', async () => {
      const caseId = `RCV-${format}-${gzip ? 'gz' : 'plain'}`;
      const spans = activity(caseId);
      const r = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(spans, format), { format, gzip });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe(CONTENT_TYPE[format]);
      if (format === 'json') expect(JSON.parse(r.body.toString())).toEqual({});
      else {
        expect(r.body.length).toBe(0);
        expect(ProtobufTraceSerializer.deserializeResponse(r.body).partialSuccess).toBeUndefined();
      }
      await flush(bridge.apiUrl);
      const rows = await rowsOf(`correlation_id = '${caseId}'`);
      expect(rows.map((x) => [x.event_type, x.span_id]).sort()).toEqual(
        [
          ['request', spans[1].spanId],
          ['tool_call', spans[0].spanId],
        ].sort(),
      );
      expect(rows.every((x) => x.trace_id === spans[0].traceId && x.tenant === 'acme')).toBe(true);
      expect(rows.find((x) => x.event_type === 'tool_call')!.tool_name).toBe('refund');
    });
  });

  it.each([
    ['protobuf', true],
    ['json', false],
  ] as const)('/v1/logs as %s (gzip: %s): content log records join their model call', async (format, gzip) => {
    const caseId = `RCV-LOGS-${format}`;
    const t = traceId();
    const model = spanId();
    const secret = `refund for order ${format}-${gzip}`;
    // The content first, in its own request, as the official OpenAI instrumentation does.
    const logs = encodeLogs(
      [
        { traceId: t, spanId: model, eventName: 'gen_ai.user.message', attributes: { 'gen_ai.system': 'openai' }, body: { content: `please ${secret}` } },
        {
          traceId: t,
          spanId: model,
          eventName: 'gen_ai.choice',
          attributes: { 'gen_ai.system': 'openai' },
          body: { index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'done' } },
        },
      ],
      format,
    );
    const lr = await postOtlp(bridge.otlpUrl, 'logs', logs, { format, gzip });
    expect(lr.status).toBe(200);
    expect(lr.headers.get('content-type')).toBe(CONTENT_TYPE[format]);
    if (format === 'json') expect(JSON.parse(lr.body.toString())).toEqual({});
    else expect(ProtobufLogsSerializer.deserializeResponse(lr.body).partialSuccess).toBeUndefined();

    const spans: SpanSpec[] = [
      {
        traceId: t,
        spanId: model,
        name: 'chat gpt-4o-mini',
        kind: 2,
        attributes: {
          'audit.correlation_id': caseId,
          'gen_ai.operation.name': 'chat',
          'gen_ai.system': 'openai',
          'gen_ai.request.model': 'gpt-4o-mini',
        },
      },
    ];
    const sr = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(spans, format), { format, gzip });
    expect(sr.status).toBe(200);
    await flush(bridge.apiUrl);
    const rows = await rowsOf(`correlation_id = '${caseId}'`);
    expect(rows).toHaveLength(1);
    expect(rows[0].event_type).toBe('model_call');
    expect(rows[0].content).toContain(secret);
    expect(rows[0].content).toContain('done');
  });
});

describe('rejected requests', () => {
  it.each(['protobuf', 'json'] as const)('400 with a %s google.rpc.Status naming what is wrong', async (format) => {
    const cases: Array<[string | Buffer, RegExp]> =
      format === 'protobuf'
        ? [
            // Field 1 (resource_spans), length 127, with only 2 bytes after it.
            [Buffer.from([0x0a, 0x7f, 0x01, 0x02]), /invalid protobuf.*length 127/],
            [Buffer.from([0xff, 0xff, 0xff]), /invalid protobuf/],
          ]
        : [
            ['{"resourceSpans": [', /invalid JSON/],
            ['[1, 2, 3]', /request must be a JSON object/],
            ['{"resourceSpans": {"spans": []}}', /resourceSpans must be an array/],
            ['{"resourceSpans": [{"scopeSpans": "x"}]}', /resourceSpans\[0\]\.scopeSpans must be an array/],
          ];
    for (const [body, message] of cases) {
      const r = await postOtlp(bridge.otlpUrl, 'traces', body, { format });
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type')).toBe(CONTENT_TYPE[format]);
      const status = statusOf(r, format);
      expect(status.code).toBe(3); // INVALID_ARGUMENT
      expect(status.message).toMatch(message);
    }
  });

  it('accepts media type parameters and any letter case', async () => {
    for (const ctype of ['application/json; charset=utf-8', 'Application/JSON']) {
      const r = await rawPost('/v1/traces', { 'content-type': ctype }, Buffer.from('{"resourceSpans": []}'));
      expect(r.status, ctype).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/json');
    }
    const pb = await rawPost('/v1/traces', { 'content-type': 'application/protobuf' }, Buffer.alloc(0));
    expect(pb.status).toBe(200);
    expect(pb.headers.get('content-type')).toBe('application/x-protobuf');
  });

  it('400 for a gzip body that is not gzip', async () => {
    const r = await rawPost('/v1/traces', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, Buffer.from('{"resourceSpans": []}'));
    expect(r.status).toBe(400);
    expect(statusOf(r, 'json').message).toMatch(/cannot read the request body/);
  });

  it('415 for other content types and for an unknown Content-Encoding', async () => {
    const body = Buffer.from(encodeTraces(activity('RCV-415'), 'json'));
    for (const ctype of ['text/plain', 'application/xml', 'application/grpc']) {
      const r = await rawPost('/v1/traces', { 'content-type': ctype }, body);
      expect(r.status).toBe(415);
      expect(statusOf(r, 'protobuf').message).toContain(ctype);
    }
    const none = await rawPost('/v1/traces', {}, body);
    expect(none.status).toBe(415);
    const br = await rawPost('/v1/traces', { 'content-type': 'application/json', 'content-encoding': 'br' }, body);
    expect(br.status).toBe(415);
    expect(br.headers.get('content-type')).toBe('application/json');
    expect(statusOf(br, 'json').message).toMatch(/unsupported Content-Encoding "br"/);
  });

  it('a client that gives up mid-upload does not hurt the bridge', async () => {
    const url = new URL(bridge.otlpUrl);
    for (let i = 0; i < 5; i++) {
      const socket = connect(Number(url.port), url.hostname);
      await new Promise((r) => socket.once('connect', r));
      socket.write(`POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 100000\r\n\r\n`);
      socket.write(gzipSync(Buffer.from('{"resourceSpans": [')).subarray(0, 10));
      await new Promise((r) => setTimeout(r, 20));
      socket.destroy();
    }
    const r = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(activity('RCV-AFTER-ABORT'), 'json'));
    expect(r.status).toBe(200);
    expect(bridge.child.exitCode).toBeNull();
  });

  it('404 for other paths, 405 for GET', async () => {
    const body = Buffer.from('{}');
    for (const path of ['/v1/metrics', '/', '/v1/traces/x', '/v1/trace']) {
      const r = await rawPost(path, { 'content-type': 'application/json' }, body);
      expect(r.status, path).toBe(404);
      expect(statusOf(r, 'json').message).toContain('/v1/traces');
    }
    for (const signal of ['traces', 'logs']) {
      const r = await fetch(`${bridge.otlpUrl}/v1/${signal}`);
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toBe('POST');
    }
    // A query string does not change the endpoint.
    const q = await rawPost('/v1/traces?tenant=x', { 'content-type': 'application/json' }, body);
    expect(q.status).toBe(200);
    expect(q.body.toString()).toBe('{}');
  });

  it('413 over the body limit, measured after decompression; a gzip bomb is cut short', async () => {
    // Plainly too large (declared by Content-Length).
    const big = Buffer.alloc(2 * 1024 * 1024, 0x20);
    const plain = await rawPost('/v1/traces', { 'content-type': 'application/json', 'content-length': big.length }, big);
    expect(plain.status).toBe(413);
    expect(statusOf(plain, 'json').message).toMatch(/exceeds the limit of 1048576 bytes/);

    // Small on the wire (under 100 KB), 50 MiB once inflated.
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(100 * 1024);
    const rssBefore = rssBytes(bridge.child.pid!);
    const r = await rawPost('/v1/traces', { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, bomb);
    expect(r.status).toBe(413);
    expect(r.ms).toBeLessThan(2000);
    expect(statusOf(r, 'protobuf').message).toMatch(/after decompression/);
    const rssAfter = rssBytes(bridge.child.pid!);
    expect(rssAfter - rssBefore).toBeLessThan(40 * 1024 * 1024);

    // Chunked, with no Content-Length to judge by: counted as it arrives.
    const chunked = await rawPost('/v1/traces', { 'content-type': 'application/json' }, Array.from({ length: 20 }, () => Buffer.alloc(100 * 1024, 0x20)));
    expect(chunked.status).toBe(413);

    // Deflate is measured the same way.
    const deflated = await rawPost('/v1/logs', { 'content-type': 'application/json', 'content-encoding': 'deflate' }, deflateSync(Buffer.alloc(8 * 1024 * 1024, 0x20)));
    expect(deflated.status).toBe(413);
    expect(statusOf(deflated, 'json').message).toMatch(/after decompression/);

    // A body just under the limit after decompression still goes through.
    const ok = activity('RCV-413-OK');
    const padded = JSON.parse(Buffer.from(encodeTraces(ok, 'json')).toString());
    padded.padding = 'x'.repeat(900 * 1024);
    const under = await postOtlp(bridge.otlpUrl, 'traces', JSON.stringify(padded), { format: 'json', gzip: true });
    expect(under.status).toBe(200);

    // The bridge is still up and serving.
    expect((await fetch(`${bridge.apiUrl}/healthz`)).status).toBe(200);
    expect(bridge.child.exitCode).toBeNull();
  });
});

describe('partial success', () => {
  it.each(['protobuf', 'json'] as const)('%s: invalid spans are rejected with their reasons, the rest are stored', async (format) => {
    const caseId = `RCV-PARTIAL-${format}`;
    const t = traceId();
    const good = (name: string): SpanSpec => ({
      traceId: t,
      spanId: spanId(),
      name,
      attributes: { 'audit.correlation_id': caseId, 'audit.event.type': 'tool_call', 'gen_ai.tool.name': name },
    });
    const spans: SpanSpec[] = [
      good('first'),
      { ...good('short-trace'), traceId: t.slice(0, 30) },
      { ...good('zero-span'), spanId: '0000000000000000' },
      { ...good('backwards'), durationMs: -1000 },
      good('last'),
    ];
    const r = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(spans, format), { format });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe(CONTENT_TYPE[format]);
    let rejected: number;
    let errorMessage: string;
    if (format === 'json') {
      const body = JSON.parse(r.body.toString()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
      // int64 is a decimal string in OTLP/JSON.
      expect(body.partialSuccess.rejectedSpans).toBe('3');
      rejected = Number(body.partialSuccess.rejectedSpans);
      errorMessage = body.partialSuccess.errorMessage;
    } else {
      const body = ProtobufTraceSerializer.deserializeResponse(r.body);
      rejected = Number(body.partialSuccess?.rejectedSpans);
      errorMessage = String(body.partialSuccess?.errorMessage);
    }
    expect(rejected).toBe(3);
    // The same reasons in either encoding (otlp/rules.ts).
    expect(errorMessage).toContain('#1: trace_id must be 16 bytes, got 15');
    expect(errorMessage).toContain('#2: span_id is all zeros');
    expect(errorMessage).toContain('#3: end_time_unix_nano (');
    expect(errorMessage).not.toContain('#0');
    expect(errorMessage).not.toContain('#4');

    await flush(bridge.apiUrl);
    const rows = await rowsOf(`correlation_id = '${caseId}'`);
    expect(rows.map((x) => x.tool_name).sort()).toEqual(['first', 'last']);
    expect(rows.map((x) => x.span_id).sort()).toEqual([spans[0].spanId, spans[4].spanId].sort());
  });

  it('a span whose fields have the wrong JSON types is rejected by name', async () => {
    const t = traceId();
    const span = (over: Record<string, unknown>) => ({ traceId: t, spanId: spanId(), name: 'x', startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000000000001', ...over });
    const body = JSON.stringify({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                span({ traceId: 5 }),
                span({ startTimeUnixNano: true }),
                span({ attributes: [{ key: 'a', value: { boolValue: 'yes' } }] }),
                span({ kind: 'SPAN_KIND_BOGUS' }),
                span({ attributes: 'x' }),
              ],
            },
          ],
        },
      ],
    });
    const r = await postOtlp(bridge.otlpUrl, 'traces', body, { format: 'json' });
    expect(r.status).toBe(200);
    const { partialSuccess } = JSON.parse(r.body.toString()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(partialSuccess.rejectedSpans).toBe('5');
    expect(partialSuccess.errorMessage).toContain('#0: trace_id must be 32 hex digits, got a number');
    expect(partialSuccess.errorMessage).toContain('#1: start_time_unix_nano');
    expect(partialSuccess.errorMessage).toContain('#2: attributes');
    expect(partialSuccess.errorMessage).toContain('bool_value must be a boolean');
    expect(partialSuccess.errorMessage).toContain('#3: kind');
    expect(partialSuccess.errorMessage).toContain('#4: attributes must be an array');
  });

  it('a log record with a bad span id is rejected, the others accepted', async () => {
    const t = traceId();
    const body = JSON.stringify({
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                { traceId: t, spanId: spanId(), body: { stringValue: 'fine' } },
                { traceId: t, spanId: 'xyz', body: { stringValue: 'bad id' } },
              ],
            },
          ],
        },
      ],
    });
    const r = await postOtlp(bridge.otlpUrl, 'logs', body, { format: 'json' });
    expect(r.status).toBe(200);
    const res = JSON.parse(r.body.toString()) as { partialSuccess: { rejectedLogRecords: string; errorMessage: string } };
    expect(res.partialSuccess.rejectedLogRecords).toBe('1');
    expect(res.partialSuccess.errorMessage).toMatch(/^#1: span_id/);
  });
});

describe('delivery semantics', () => {
  it('a span re-sent in a second request is stored once', async () => {
    const caseId = 'RCV-IDEMPOTENT';
    const spans = activity(caseId);
    for (const format of ['json', 'protobuf'] as const) {
      const r = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(spans, format), { format });
      expect(r.status).toBe(200);
      await flush(bridge.apiUrl);
    }
    // And once more both in one request.
    const twice = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces([...spans, ...spans], 'json'));
    expect(twice.status).toBe(200);
    await flush(bridge.apiUrl);
    const rows = await rowsOf(`correlation_id = '${caseId}'`);
    expect(rows).toHaveLength(2);
    expect(new Set(rows.map((x) => x.event_id)).size).toBe(2);
  });

  it('children that arrive before their roots get the root correlation id when the roots arrive', async () => {
    const traces = [1, 2, 3].map((i) => ({ caseId: `RCV-LATE-ROOT-${i}`, spans: activity(`RCV-LATE-ROOT-${i}`) }));
    // Children (tool calls) of all three traces in one request...
    const children = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(traces.map((x) => x.spans[0]), 'protobuf'), { format: 'protobuf' });
    expect(children.status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    // ...their roots in a later one. No flush: the roots complete the ancestry, which decides
    // the children at once (the decision window is 10 s).
    const roots = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(traces.map((x) => x.spans[1]), 'json'));
    expect(roots.status).toBe(200);
    const rows = await eventually(
      async () => {
        const r = await rowsOf(`correlation_id LIKE 'RCV-LATE-ROOT-%' OR trace_id IN (${traces.map((x) => `'${x.spans[0].traceId}'`).join(',')})`);
        return r.length >= 6 ? r : undefined;
      },
      5000,
      'six events of the late-root traces',
    );
    expect(rows).toHaveLength(6);
    for (const { caseId, spans } of traces) {
      const child = rows.find((x) => x.span_id === spans[0].spanId)!;
      expect(child.event_type).toBe('tool_call');
      expect(child.correlation_id).toBe(caseId);
      expect(child.correlation_source).toBe('ancestor');
      expect(child.parent_span_id).toBe(spans[1].spanId);
      expect(rows.find((x) => x.span_id === spans[1].spanId)!.correlation_id).toBe(caseId);
    }
  });
});
