import { describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type HrTime, type SpanContext } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  JsonLogsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import {
  DEFAULT_DECODE_OPTIONS,
  OtlpDecodeError,
  TRUNCATED_ATTRIBUTE,
  decodeLogsJson,
  decodeLogsProtobuf,
  decodeTracesJson,
  decodeTracesProtobuf,
  u64ToDecimal,
  type DecodedBatch,
  type RejectCode,
} from './decode.ts';
import {
  encodeExportResponseJson,
  encodeExportResponseProtobuf,
  encodeStatusJson,
  encodeStatusProtobuf,
} from './encode.ts';
import {
  ExportLogsServiceRequest,
  ExportLogsServiceResponse,
  ExportTraceServiceRequest,
  ExportTraceServiceResponse,
  RpcStatus,
} from './schema.ts';
import type { TelemetryLog, TelemetrySpan } from '../model.ts';

const nanos = (t: HrTime): string => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

// ---------------------------------------------------------------------------------------------
// Telemetry made by the official SDK, serialized by the official OTLP encoders
// ---------------------------------------------------------------------------------------------

const LINKED: SpanContext = { traceId: 'abcdef0123456789abcdef0123456789', spanId: '0123456789abcdef', traceFlags: 1 };

async function sdkSpans(): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'checkout', 'host.cpu.count': 8 }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const agent = provider.getTracer('genai-app', '1.2.3');
  const tools = provider.getTracer('tools');
  const root = agent.startSpan('invoke_agent support', {
    kind: SpanKind.SERVER,
    startTime: [1_700_000_000, 1],
    attributes: {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.usage.input_tokens': 1234,
      neg: -7,
      'max.safe': Number.MAX_SAFE_INTEGER,
      'big.int': 2 ** 60,
      'big.neg': -(2 ** 60),
      'gen_ai.request.temperature': 0.7,
      stream: true,
      cached: false,
      tags: ['a', 'b'],
      sizes: [1, 2.5, 3],
      flags: [true, false],
      unicode: 'héllo → 世界 😀',
      empty: '',
    },
  });
  const child = tools.startSpan(
    'execute_tool refund',
    {
      kind: SpanKind.INTERNAL,
      startTime: [1_700_000_000, 500_000_000],
      links: [{ context: LINKED, attributes: { 'link.reason': 'caused_by', n: 3 } }],
      attributes: { 'gen_ai.tool.name': 'refund' },
    },
    trace.setSpan(ROOT_CONTEXT, root),
  );
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'refund failed' });
  child.end([1_700_000_001, 0]);
  root.setStatus({ code: SpanStatusCode.OK });
  root.end([1_700_000_002, 999_999_999]);
  await provider.forceFlush();
  return exporter.getFinishedSpans();
}

const SPAN_CONTEXT: SpanContext = { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', traceFlags: 1 };

async function sdkLogs(): Promise<ReadableLogRecord[]> {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'checkout' }),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger('genai-events', '0.9.0');
  logger.emit({
    eventName: 'gen_ai.client.inference.operation.details',
    timestamp: [1_700_000_003, 42],
    observedTimestamp: [1_700_000_004, 0],
    severityNumber: 9,
    severityText: 'INFO',
    body: { messages: [{ role: 'user', content: 'hi' }], tokens: 12, raw: new Uint8Array([1, 2, 255]) },
    attributes: { 'gen_ai.operation.name': 'chat', big: 2 ** 62 },
    context: trace.setSpanContext(ROOT_CONTEXT, SPAN_CONTEXT),
  });
  logger.emit({ body: 'plain text', severityNumber: 13, timestamp: [1_700_000_005, 0] });
  await provider.forceFlush();
  return exporter.getFinishedLogRecords();
}

function expectedSpan(s: ReadableSpan, attributes: Record<string, unknown>): Partial<TelemetrySpan> {
  return {
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId ?? '',
    name: s.name,
    kind: s.kind + 1, // API SpanKind is OTLP's minus one
    startTimeUnixNano: nanos(s.startTime),
    endTimeUnixNano: nanos(s.endTime),
    attributes: attributes as TelemetrySpan['attributes'],
    links: s.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      attributes: l.attributes as TelemetrySpan['attributes'],
    })),
    statusCode: s.status.code,
    statusMessage: s.status.message ?? '',
    resource: s.resource.attributes as TelemetrySpan['resource'],
    scope: { name: s.instrumentationScope.name, version: s.instrumentationScope.version ?? '' },
  };
}

function rootAttributes(big: string, bigNeg: string) {
  return {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.usage.input_tokens': 1234,
    neg: -7,
    'max.safe': Number.MAX_SAFE_INTEGER,
    'big.int': big,
    'big.neg': bigNeg,
    'gen_ai.request.temperature': 0.7,
    stream: true,
    cached: false,
    tags: ['a', 'b'],
    sizes: [1, 2.5, 3],
    flags: [true, false],
    unicode: 'héllo → 世界 😀',
    empty: '',
  };
}

function checkSdkSpans(batch: DecodedBatch<TelemetrySpan>, spans: ReadableSpan[], big: string, bigNeg: string): void {
  expect(batch.rejected).toEqual([]);
  expect(batch.items).toHaveLength(2);
  const child = spans.find((s) => s.name.startsWith('execute_tool'))!;
  const root = spans.find((s) => s.name.startsWith('invoke_agent'))!;
  const byName = (name: string) => batch.items.find((i) => i.name === name)!;
  expect(byName(root.name)).toEqual(expectedSpan(root, rootAttributes(big, bigNeg)));
  expect(byName(child.name)).toEqual(expectedSpan(child, { 'gen_ai.tool.name': 'refund' }));
  // The things worth stating outright, beyond "equals what the SDK recorded":
  const c = byName(child.name);
  const r = byName(root.name);
  expect(c.parentSpanId).toBe(r.spanId);
  expect(r.parentSpanId).toBe('');
  expect(c.traceId).toMatch(/^[0-9a-f]{32}$/);
  expect(r.startTimeUnixNano).toBe('1700000000000000001');
  expect(r.endTimeUnixNano).toBe('1700000002999999999');
  expect(c.links).toEqual([{ traceId: LINKED.traceId, spanId: LINKED.spanId, attributes: { 'link.reason': 'caused_by', n: 3 } }]);
  expect([c.statusCode, c.statusMessage, r.statusCode]).toEqual([2, 'refund failed', 1]);
  expect([r.kind, c.kind]).toEqual([2, 1]);
  expect(r.resource['service.name']).toBe('checkout');
  expect(r.resource['host.cpu.count']).toBe(8);
  expect(r.resource).toBe(c.resource); // one object per ResourceSpans
  expect(r.scope).toEqual({ name: 'genai-app', version: '1.2.3' });
  expect(c.scope).toEqual({ name: 'tools', version: '' });
}

describe('traces from the OpenTelemetry SDK', () => {
  it('decodes ProtobufTraceSerializer output exactly', async () => {
    const spans = await sdkSpans();
    const body = ProtobufTraceSerializer.serializeRequest(spans)!;
    checkSdkSpans(decodeTracesProtobuf(body), spans, '1152921504606846976', '-1152921504606846976');
  });

  it('decodes JsonTraceSerializer output exactly', async () => {
    const spans = await sdkSpans();
    const body = JsonTraceSerializer.serializeRequest(spans)!;
    // The JSON encoder writes 2^60 as the number literal 1152921504606847000 (shortest double
    // form); the decoder keeps the literal's exact digits rather than a rounded double.
    checkSdkSpans(decodeTracesJson(body), spans, '1152921504606847000', '-1152921504606847000');
    checkSdkSpans(decodeTracesJson(new TextDecoder().decode(body)), spans, '1152921504606847000', '-1152921504606847000');
  });

  it('agrees with protobufjs reflection on the same bytes', async () => {
    const body = ProtobufTraceSerializer.serializeRequest(await sdkSpans())!;
    const reference = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String, bytes: String });
    const refSpans = reference.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans));
    const decoded = decodeTracesProtobuf(body).items;
    expect(decoded.map((s) => s.spanId)).toEqual(refSpans.map((s: any) => Buffer.from(s.spanId, 'base64').toString('hex')));
    expect(decoded.map((s) => s.startTimeUnixNano)).toEqual(refSpans.map((s: any) => s.startTimeUnixNano));
  });
});

describe('logs from the OpenTelemetry SDK', () => {
  function check(batch: DecodedBatch<TelemetryLog>, records: ReadableLogRecord[], big: string): void {
    expect(batch.rejected).toEqual([]);
    expect(batch.items).toHaveLength(2);
    const [event, plain] = batch.items;
    expect(event).toEqual({
      traceId: SPAN_CONTEXT.traceId,
      spanId: SPAN_CONTEXT.spanId,
      timeUnixNano: '1700000003000000042',
      observedTimeUnixNano: '1700000004000000000',
      severityNumber: 9,
      severityText: 'INFO',
      eventName: 'gen_ai.client.inference.operation.details',
      body: { messages: [{ role: 'user', content: 'hi' }], tokens: 12, raw: new Uint8Array([1, 2, 255]) },
      attributes: { 'gen_ai.operation.name': 'chat', big },
      resource: records[0].resource.attributes,
      scope: { name: 'genai-events', version: '0.9.0' },
    });
    expect(event.body).toBeTypeOf('object');
    expect((event.body as Record<string, unknown>).raw).toBeInstanceOf(Uint8Array);
    expect(plain).toMatchObject({
      traceId: '',
      spanId: '',
      timeUnixNano: '1700000005000000000',
      observedTimeUnixNano: nanos(records[1].hrTimeObserved),
      severityNumber: 13,
      severityText: '',
      eventName: '',
      body: 'plain text',
      attributes: {},
    });
    expect(event.resource).toBe(plain.resource);
  }

  it('decodes ProtobufLogsSerializer output exactly', async () => {
    const records = await sdkLogs();
    check(decodeLogsProtobuf(ProtobufLogsSerializer.serializeRequest(records)!), records, '4611686018427387904');
  });

  it('decodes JsonLogsSerializer output exactly', async () => {
    const records = await sdkLogs();
    // 2^62 is written as the literal 4611686018427388000: its digits are kept.
    check(decodeLogsJson(JsonLogsSerializer.serializeRequest(records)!), records, '4611686018427388000');
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-written requests
// ---------------------------------------------------------------------------------------------

const TRACE_HEX = '0af7651916cd43dd8448eb211c80319c';
const SPAN_HEX = 'b7ad6b7169203331';
const PARENT_HEX = '00f067aa0ba902b7';
const hexBytes = (h: string) => Buffer.from(h, 'hex');

function pbSpan(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: hexBytes(TRACE_HEX),
    spanId: hexBytes(SPAN_HEX),
    name: 'op',
    kind: 1,
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000500000000',
    ...over,
  };
}

/** ExportTraceServiceRequest bytes, encoded by protobufjs from the schema. */
function pbTraces(scopes: Record<string, unknown>[][], resource: Record<string, unknown> = {}): Uint8Array {
  const request = {
    resourceSpans: [{ resource, scopeSpans: scopes.map((spans, i) => ({ scope: { name: `scope${i}` }, spans })) }],
  };
  return ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(request)).finish();
}

function pbLogs(records: Record<string, unknown>[]): Uint8Array {
  const request = { resourceLogs: [{ resource: {}, scopeLogs: [{ scope: { name: 'l' }, logRecords: records }] }] };
  return ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(request)).finish();
}

const kv = (key: string, value: Record<string, unknown>) => ({ key, value });

describe('protobuf details', () => {
  it('decodes every AnyValue kind, with the field order and duplicates of the wire', () => {
    const body = pbTraces([
      [
        pbSpan({
          parentSpanId: hexBytes(PARENT_HEX),
          attributes: [
            kv('s', { stringValue: 'x' }),
            kv('i', { intValue: '-9007199254740993' }),
            kv('safe', { intValue: '-9007199254740991' }),
            kv('min', { intValue: '-9223372036854775808' }),
            kv('d', { doubleValue: -0.25 }),
            kv('bytes', { bytesValue: Buffer.from([0, 1, 2]) }),
            kv('kv', { kvlistValue: { values: [kv('a', { intValue: 1 }), kv('b', { arrayValue: { values: [{ boolValue: true }, {}] } })] } }),
            kv('empty', {}),
            kv('dup', { stringValue: 'first' }),
            kv('dup', { stringValue: 'second' }),
            kv('__proto__', { stringValue: 'not a prototype' }),
          ],
        }),
      ],
    ]);
    const [span] = decodeTracesProtobuf(body).items;
    expect(span.parentSpanId).toBe(PARENT_HEX);
    expect(span.attributes).toEqual({
      s: 'x',
      i: '-9007199254740993',
      safe: -9007199254740991,
      min: '-9223372036854775808',
      d: -0.25,
      bytes: new Uint8Array([0, 1, 2]),
      kv: { a: 1, b: [true, null] },
      empty: null,
      dup: 'second',
      ['__proto__']: 'not a prototype',
    });
    expect(Object.getPrototypeOf(span.attributes)).toBe(Object.prototype);
    expect(Object.keys(span.attributes)).toContain('__proto__');
  });

  it('reads resource and scope even when they come after the spans, and skips events', () => {
    const w = (tag: number, payload: Uint8Array) => Buffer.concat([Buffer.from([tag, payload.length]), payload]);
    const spanBytes = Buffer.from(
      ExportTraceServiceRequest.lookupType('opentelemetry.proto.trace.v1.Span')
        .encode({
          ...pbSpan(),
          startTimeUnixNano: 1_700_000_000_000_000_000n.toString(),
          events: [{ timeUnixNano: '1', name: 'ev', attributes: [kv('e', { stringValue: 'v' })] }],
        })
        .finish(),
    );
    const scope = w(0x0a, Buffer.concat([w(0x0a, Buffer.from('late-scope')), w(0x12, Buffer.from('9'))]));
    const scopeSpans = Buffer.concat([w(0x12, spanBytes), scope]);
    const resource = w(0x0a, w(0x0a, Buffer.concat([w(0x0a, Buffer.from('k')), w(0x12, w(0x0a, Buffer.from('v')))])));
    const request = w(0x0a, Buffer.concat([w(0x12, scopeSpans), resource]));
    const { items, rejected } = decodeTracesProtobuf(request);
    expect(rejected).toEqual([]);
    expect(items[0].scope).toEqual({ name: 'late-scope', version: '9' });
    expect(items[0].resource).toEqual({ k: 'v' });
  });

  it('accepts an empty request and unknown fields', () => {
    expect(decodeTracesProtobuf(new Uint8Array())).toEqual({ items: [], rejected: [] });
    // field 99 (varint) and field 100 (fixed32) at top level
    expect(decodeTracesProtobuf(new Uint8Array([0x98, 0x06, 0x01, 0xa5, 0x06, 1, 2, 3, 4]))).toEqual({ items: [], rejected: [] });
  });

  it('rejects the spans that are invalid and keeps the others, indexed across scopes', () => {
    const zero16 = Buffer.alloc(16);
    const bad: [Record<string, unknown>, RejectCode, string][] = [
      [pbSpan({ traceId: Buffer.alloc(15, 1) }), 'ID_LENGTH', 'trace_id must be 16 bytes, got 15'],
      [pbSpan({ traceId: Buffer.alloc(0) }), 'MISSING', 'trace_id is missing'],
      [pbSpan({ traceId: zero16 }), 'ID_ALL_ZERO', 'trace_id is all zeros'],
      [pbSpan({ spanId: Buffer.alloc(7, 1) }), 'ID_LENGTH', 'span_id must be 8 bytes, got 7'],
      [pbSpan({ spanId: undefined }), 'MISSING', 'span_id is missing'],
      [pbSpan({ spanId: Buffer.alloc(8) }), 'ID_ALL_ZERO', 'span_id is all zeros'],
      [pbSpan({ parentSpanId: Buffer.alloc(5, 1) }), 'ID_LENGTH', 'parent_span_id must be 8 bytes or empty, got 5'],
      [pbSpan({ name: '' }), 'MISSING', 'name is missing'],
      [pbSpan({ startTimeUnixNano: '0' }), 'MISSING', 'start_time_unix_nano is missing'],
      [
        pbSpan({ startTimeUnixNano: '9223372036854775808', endTimeUnixNano: '9223372036854775809' }),
        'TIME_OUT_OF_RANGE',
        'start_time_unix_nano is out of range (must be < 2^63)',
      ],
      [pbSpan({ endTimeUnixNano: '18446744073709551615' }), 'TIME_OUT_OF_RANGE', 'end_time_unix_nano is out of range (must be < 2^63)'],
      [
        pbSpan({ endTimeUnixNano: '1699999999999999999' }),
        'END_BEFORE_START',
        'end_time_unix_nano (1699999999999999999) is before start_time_unix_nano (1700000000000000000)',
      ],
      [pbSpan({ endTimeUnixNano: undefined }), 'MISSING', 'end_time_unix_nano is missing'],
      [pbSpan({ links: [{ traceId: hexBytes(TRACE_HEX), spanId: Buffer.alloc(3, 1) }] }), 'ID_LENGTH', 'links[0].span_id must be 8 bytes, got 3'],
    ];
    const good = pbSpan();
    const body = pbTraces([[good, ...bad.slice(0, 7).map(([s]) => s)], [...bad.slice(7).map(([s]) => s), good]]);
    const { items, rejected } = decodeTracesProtobuf(body);
    expect(items).toHaveLength(2);
    expect(rejected).toEqual(bad.map(([, code, reason], i) => ({ index: i + 1, code, reason })));
  });

  it('rejects spans with attribute values nested deeper than maxDepth', () => {
    const nested = (levels: number): Record<string, unknown> =>
      levels === 1 ? { stringValue: 'leaf' } : { arrayValue: { values: [nested(levels - 1)] } };
    const body = pbTraces([[pbSpan({ attributes: [kv('ok', nested(16))] }), pbSpan({ attributes: [kv('deep', nested(17))] })]]);
    const { items, rejected } = decodeTracesProtobuf(body);
    expect(items).toHaveLength(1);
    expect(rejected).toEqual([
      { index: 1, code: 'TOO_DEEP', reason: `attributes["deep"]: ${'array_value.values[0]: '.repeat(16)}value nested deeper than 16 levels` },
    ]);
    expect(decodeTracesProtobuf(body, { maxDepth: 17 }).items).toHaveLength(2);
  });

  it('rejects every span of a resource whose attributes nest too deep', () => {
    let v: Record<string, unknown> = { stringValue: 'x' };
    for (let i = 0; i < 20; i++) v = { kvlistValue: { values: [kv('k', v)] } };
    const { items, rejected } = decodeTracesProtobuf(pbTraces([[pbSpan(), pbSpan()]], { attributes: [kv('r', v)] }));
    expect(items).toEqual([]);
    expect(rejected.map((r) => r.index)).toEqual([0, 1]);
    expect(rejected[0].reason).toMatch(/^resource attributes\["r"\]: .*nested deeper than 16 levels$/);
  });

  it('throws OtlpDecodeError for bytes that are not an OTLP request', () => {
    const valid = pbTraces([[pbSpan()]]);
    const cases: Uint8Array[] = [
      Buffer.from('{"resourceSpans":[]}'), // JSON sent as protobuf
      valid.subarray(0, valid.length - 3), // truncated
      new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // length far past the end
      new Uint8Array([0x0f]), // wire type 7
      new Uint8Array([0x0c]), // stray end-group
      new Uint8Array([0x00, 0x01]), // field number 0
      new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // 11-byte varint
    ];
    for (const body of cases) {
      expect(() => decodeTracesProtobuf(body)).toThrow(OtlpDecodeError);
      expect(() => decodeLogsProtobuf(body)).toThrow(OtlpDecodeError);
    }
    expect(() => decodeTracesProtobuf(valid.subarray(0, valid.length - 3))).toThrow(/^invalid protobuf: .* at byte \d+$/);
  });

  it('decodes log records: optional ids, observed time as fallback, rejections', () => {
    const body = pbLogs([
      { timeUnixNano: '5', observedTimeUnixNano: '6', body: { stringValue: 'a' } },
      { observedTimeUnixNano: '7' },
      {},
      { traceId: hexBytes(TRACE_HEX), spanId: hexBytes(SPAN_HEX), eventName: 'e', severityText: 'WARN', severityNumber: 13 },
      { traceId: Buffer.alloc(3, 1) },
      { spanId: Buffer.alloc(16, 1) },
      { timeUnixNano: '9223372036854775808' },
      { observedTimeUnixNano: '18446744073709551615' },
      { traceId: Buffer.alloc(16), spanId: Buffer.alloc(8) },
    ]);
    const { items, rejected } = decodeLogsProtobuf(body);
    expect(items.map((l) => [l.timeUnixNano, l.observedTimeUnixNano])).toEqual([
      ['5', '6'],
      ['7', '7'],
      ['', ''],
      ['', ''],
      ['', ''],
    ]);
    expect(items[0].body).toBe('a');
    expect(items[2].body).toBeNull();
    expect(items[3]).toMatchObject({ traceId: TRACE_HEX, spanId: SPAN_HEX, eventName: 'e', severityText: 'WARN', severityNumber: 13 });
    expect(items[4]).toMatchObject({ traceId: '', spanId: '' }); // all-zero ids mean "no span"
    expect(rejected).toEqual([
      { index: 4, code: 'ID_LENGTH', reason: 'trace_id must be 16 bytes or empty, got 3' },
      { index: 5, code: 'ID_LENGTH', reason: 'span_id must be 8 bytes or empty, got 16' },
      { index: 6, code: 'TIME_OUT_OF_RANGE', reason: 'time_unix_nano is out of range (must be < 2^63)' },
      { index: 7, code: 'TIME_OUT_OF_RANGE', reason: 'observed_time_unix_nano is out of range (must be < 2^63)' },
    ]);
  });

  it('converts unsigned 64-bit integers to decimal like BigInt', () => {
    let seed = 1;
    const rand32 = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed);
    for (let i = 0; i < 20_000; i++) {
      const lo = rand32();
      const hi = rand32() >>> (i % 33);
      expect(u64ToDecimal(lo, hi)).toBe(((BigInt(hi) << 32n) | BigInt(lo)).toString());
    }
    expect(u64ToDecimal(0xffffffff, 0xffffffff)).toBe('18446744073709551615');
    expect(u64ToDecimal(0, 0x200000)).toBe('9007199254740992');
  });
});

// ---------------------------------------------------------------------------------------------
// OTLP/JSON specifics
// ---------------------------------------------------------------------------------------------

function jsonTraces(spans: unknown[], resource: unknown = {}): string {
  return JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ scope: { name: 's' }, spans }] }] });
}

function jsonSpan(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: TRACE_HEX,
    spanId: SPAN_HEX,
    name: 'op',
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000500000000',
    ...over,
  };
}

describe('OTLP/JSON details', () => {
  it('accepts enum names, snake_case field names, upper-case hex, int64 as string or number', () => {
    const body = JSON.stringify({
      resource_spans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { string_value: 'svc' } }] },
          scope_spans: [
            {
              scope: { name: 'snake', version: '2' },
              spans: [
                {
                  trace_id: TRACE_HEX.toUpperCase(),
                  span_id: SPAN_HEX,
                  parent_span_id: PARENT_HEX,
                  name: 'snake span',
                  kind: 'SPAN_KIND_SERVER',
                  start_time_unix_nano: 1_700_000_000_000_000, // a number that still fits a double exactly
                  end_time_unix_nano: '001700000000000000001',
                  attributes: [
                    { key: 'i', value: { int_value: '9007199254740993' } },
                    { key: 'n', value: { intValue: 42 } },
                    { key: 'd', value: { double_value: 'Infinity' } },
                    { key: 'b', value: { bytes_value: Buffer.from('hello').toString('base64') } },
                    { key: 'kv', value: { kvlist_value: { values: [{ key: 'x', value: { bool_value: true } }] } } },
                    { key: 'arr', value: { array_value: { values: [{ stringValue: 'a' }, {}] } } },
                    { key: 'nul', value: null },
                  ],
                  links: [{ trace_id: TRACE_HEX, span_id: PARENT_HEX, attributes: [] }],
                  status: { code: 'STATUS_CODE_ERROR', message: 'bad' },
                  events: [{ name: 'ignored' }],
                  someFutureField: { anything: [1, 2, 3] },
                },
              ],
            },
          ],
        },
      ],
    });
    const { items, rejected } = decodeTracesJson(body);
    expect(rejected).toEqual([]);
    expect(items[0]).toEqual({
      traceId: TRACE_HEX,
      spanId: SPAN_HEX,
      parentSpanId: PARENT_HEX,
      name: 'snake span',
      kind: 2,
      startTimeUnixNano: '1700000000000000',
      endTimeUnixNano: '1700000000000000001',
      attributes: {
        i: '9007199254740993',
        n: 42,
        d: Infinity,
        b: new Uint8Array(Buffer.from('hello')),
        kv: { x: true },
        arr: ['a', null],
        nul: null,
      },
      links: [{ traceId: TRACE_HEX, spanId: PARENT_HEX, attributes: {} }],
      statusCode: 2,
      statusMessage: 'bad',
      resource: { 'service.name': 'svc' },
      scope: { name: 'snake', version: '2' },
    });
  });

  it('keeps the exact digits of int64 numbers beyond 2^53', () => {
    const body = jsonTraces([jsonSpan({ attributes: [{ key: 'big', value: { intValue: 0 } }] })]).replace(
      '"intValue":0',
      '"intValue":9007199254740993',
    );
    expect(decodeTracesJson(body).items[0].attributes.big).toBe('9007199254740993');
    const times = jsonTraces([jsonSpan()]).replace('"1700000000000000000"', '1700000000000000001').replace('"1700000000500000000"', '1700000000500000003');
    expect(decodeTracesJson(times).items[0]).toMatchObject({ startTimeUnixNano: '1700000000000000001', endTimeUnixNano: '1700000000500000003' });
  });

  it('accepts logs with severity names and snake_case', () => {
    const body = JSON.stringify({
      resource_logs: [
        {
          scope_logs: [
            {
              log_records: [
                {
                  time_unix_nano: '10',
                  severity_number: 'SEVERITY_NUMBER_INFO',
                  severity_text: 'INFO',
                  event_name: 'gen_ai.evaluation.result',
                  body: { kvlist_value: { values: [{ key: 'score', value: { double_value: 0.5 } }] } },
                  trace_id: TRACE_HEX,
                  span_id: SPAN_HEX,
                },
                { severityNumber: 'SEVERITY_NUMBER_FATAL4', observedTimeUnixNano: '11' },
                { severityNumber: 'SEVERITY_NUMBER_WARN2' },
              ],
            },
          ],
        },
      ],
    });
    const { items, rejected } = decodeLogsJson(body);
    expect(rejected).toEqual([]);
    expect(items[0]).toMatchObject({
      timeUnixNano: '10',
      observedTimeUnixNano: '',
      severityNumber: 9,
      severityText: 'INFO',
      eventName: 'gen_ai.evaluation.result',
      body: { score: 0.5 },
      traceId: TRACE_HEX,
      spanId: SPAN_HEX,
      scope: { name: '', version: '' },
      resource: {},
    });
    expect(items[1]).toMatchObject({ severityNumber: 24, timeUnixNano: '11', observedTimeUnixNano: '11', body: null });
    expect(items[2].severityNumber).toBe(14);
  });

  it('rejects invalid spans with a reason naming the field', () => {
    const bad: [unknown, RejectCode, string][] = [
      [jsonSpan({ traceId: TRACE_HEX.slice(2) }), 'ID_LENGTH', 'trace_id must be 16 bytes, got 15'],
      [jsonSpan({ traceId: TRACE_HEX.slice(1) }), 'ID_NOT_HEX', 'trace_id must be 32 hex digits, got 31'],
      [jsonSpan({ traceId: 'z' + TRACE_HEX.slice(1) }), 'ID_NOT_HEX', 'trace_id must be 32 hex digits, got non-hex characters'],
      [jsonSpan({ traceId: Buffer.from(TRACE_HEX, 'hex').toString('base64') }), 'ID_NOT_HEX', 'trace_id must be 32 hex digits, got non-hex characters'],
      [jsonSpan({ traceId: '' }), 'MISSING', 'trace_id is missing'],
      [jsonSpan({ traceId: '0'.repeat(32) }), 'ID_ALL_ZERO', 'trace_id is all zeros'],
      [jsonSpan({ spanId: 'abc' }), 'ID_NOT_HEX', 'span_id must be 16 hex digits, got 3'],
      [jsonSpan({ spanId: undefined }), 'MISSING', 'span_id is missing'],
      [jsonSpan({ spanId: 12 }), 'ID_NOT_HEX', 'span_id must be 16 hex digits, got a number'],
      [jsonSpan({ spanId: { hex: SPAN_HEX } }), 'ID_NOT_HEX', 'span_id must be 16 hex digits, got an object'],
      [jsonSpan({ parentSpanId: 'abcd' }), 'ID_LENGTH', 'parent_span_id must be 8 bytes or empty, got 2'],
      [jsonSpan({ name: '' }), 'MISSING', 'name is missing'],
      [jsonSpan({ name: 5 }), 'INVALID_VALUE', 'name must be a string'],
      [jsonSpan({ startTimeUnixNano: undefined }), 'MISSING', 'start_time_unix_nano is missing'],
      [jsonSpan({ startTimeUnixNano: '-5' }), 'INVALID_VALUE', 'start_time_unix_nano must be a decimal string'],
      [jsonSpan({ startTimeUnixNano: '1.5e18' }), 'INVALID_VALUE', 'start_time_unix_nano must be a decimal string'],
      [jsonSpan({ startTimeUnixNano: '9223372036854775808' }), 'TIME_OUT_OF_RANGE', 'start_time_unix_nano is out of range (must be < 2^63)'],
      [
        jsonSpan({ endTimeUnixNano: '1600000000000000000' }),
        'END_BEFORE_START',
        'end_time_unix_nano (1600000000000000000) is before start_time_unix_nano (1700000000000000000)',
      ],
      [jsonSpan({ kind: 'SPAN_KIND_BOGUS' }), 'INVALID_VALUE', 'kind has an unknown enum name'],
      [jsonSpan({ kind: 1.5 }), 'INVALID_VALUE', 'kind must be an int32 or an enum name'],
      [jsonSpan({ status: { code: 'ERROR' } }), 'INVALID_VALUE', 'status.code has an unknown enum name'],
      [jsonSpan({ status: 'bad' }), 'INVALID_VALUE', 'status must be an object'],
      [jsonSpan({ attributes: {} }), 'INVALID_VALUE', 'attributes must be an array'],
      [jsonSpan({ attributes: [5] }), 'INVALID_VALUE', 'attributes[0] must be an object'],
      [jsonSpan({ attributes: [{ key: 1 }] }), 'INVALID_VALUE', 'attributes[0].key must be a string'],
      [jsonSpan({ attributes: [{ key: 'k', value: 'v' }] }), 'INVALID_VALUE', 'attributes["k"]: value must be an AnyValue object'],
      [jsonSpan({ attributes: [{ key: 'k', value: { intValue: '12a' } }] }), 'INVALID_VALUE', 'attributes["k"]: int_value must be an integer or a decimal string'],
      [jsonSpan({ attributes: [{ key: 'k', value: { intValue: '9223372036854775808' } }] }), 'INVALID_VALUE', 'attributes["k"]: int_value is out of int64 range'],
      [jsonSpan({ attributes: [{ key: 'k', value: { intValue: 1.5 } }] }), 'INVALID_VALUE', 'attributes["k"]: int_value must be an integer'],
      [jsonSpan({ attributes: [{ key: 'k', value: { boolValue: 'true' } }] }), 'INVALID_VALUE', 'attributes["k"]: bool_value must be a boolean'],
      [jsonSpan({ attributes: [{ key: 'k', value: { bytesValue: 'not base64!' } }] }), 'INVALID_VALUE', 'attributes["k"]: bytes_value must be a base64 string'],
      [
        jsonSpan({ attributes: [{ key: 'k', value: { arrayValue: { values: [{ stringValue: 1 }] } } }] }),
        'INVALID_VALUE',
        'attributes["k"]: array_value.values[0]: string_value must be a string',
      ],
      [jsonSpan({ links: [{ traceId: TRACE_HEX }] }), 'MISSING', 'links[0].span_id is missing'],
      [jsonSpan({ links: {} }), 'INVALID_VALUE', 'links must be an array'],
      ['not a span', 'INVALID_VALUE', 'span must be an object'],
    ];
    const { items, rejected } = decodeTracesJson(jsonTraces([jsonSpan(), ...bad.map(([s]) => s), jsonSpan()]));
    expect(items).toHaveLength(2);
    expect(rejected).toEqual(bad.map(([, code, reason], i) => ({ index: i + 1, code, reason })));
  });

  it('rejects log records with bad ids or times', () => {
    const body = JSON.stringify({
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                { traceId: 'abc' },
                { spanId: TRACE_HEX },
                { timeUnixNano: '99999999999999999999' },
                { severityNumber: 'SEVERITY_NUMBER_LOUD' },
                { body: { kvlistValue: { values: [{ key: 'x', value: { intValue: 'x' } }] } } },
                { traceId: '', spanId: '' },
              ],
            },
          ],
        },
      ],
    });
    const { items, rejected } = decodeLogsJson(body);
    expect(items).toHaveLength(1);
    expect(rejected).toEqual([
      { index: 0, code: 'ID_NOT_HEX', reason: 'trace_id must be 32 hex digits or empty, got 3' },
      { index: 1, code: 'ID_LENGTH', reason: 'span_id must be 8 bytes or empty, got 16' },
      { index: 2, code: 'TIME_OUT_OF_RANGE', reason: 'time_unix_nano is out of range (must be < 2^63)' },
      { index: 3, code: 'INVALID_VALUE', reason: 'severity_number has an unknown enum name' },
      { index: 4, code: 'INVALID_VALUE', reason: 'body: kvlist_value.values[0]: int_value must be an integer or a decimal string' },
    ]);
  });

  it('throws OtlpDecodeError naming what is wrong with the request as a whole', () => {
    const cases: [string, RegExp | string][] = [
      ['{"resourceSpans": [', /^invalid JSON: .*position \d+/],
      ['', /^invalid JSON/],
      ['[]', 'request must be a JSON object'],
      ['"x"', 'request must be a JSON object'],
      ['{"resourceSpans": {}}', 'resourceSpans must be an array'],
      ['{"resourceSpans": [1]}', 'resourceSpans[0] must be an object'],
      ['{"resourceSpans": [{"resource": []}]}', 'resourceSpans[0].resource must be an object'],
      ['{"resourceSpans": [{"resource": {"attributes": {}}}]}', 'resourceSpans[0].resource.attributes must be an array'],
      ['{"resourceSpans": [{"scopeSpans": [{}, {"spans": {}}]}]}', 'resourceSpans[0].scopeSpans[1].spans must be an array'],
      ['{"resourceSpans": [{"scopeSpans": [{"scope": {"name": 3}}]}]}', 'resourceSpans[0].scopeSpans[0].scope.name must be a string'],
    ];
    for (const [body, message] of cases) {
      let error: unknown;
      try {
        decodeTracesJson(body);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OtlpDecodeError);
      if (typeof message === 'string') expect((error as Error).message).toBe(message);
      else expect((error as Error).message).toMatch(message);
    }
    expect(() => decodeLogsJson('{"resourceLogs":[{"scopeLogs":[{"logRecords":5}]}]}')).toThrow(
      new OtlpDecodeError('resourceLogs[0].scopeLogs[0].logRecords must be an array'),
    );
    expect(decodeTracesJson('{}')).toEqual({ items: [], rejected: [] });
  });
});

// ---------------------------------------------------------------------------------------------
// Limits and hostile input
// ---------------------------------------------------------------------------------------------

describe('limits', () => {
  const MiB10 = 'x'.repeat(10 * 1024 * 1024);

  it('truncates 10 MiB strings (protobuf and JSON) and notes which keys', () => {
    const pb = pbTraces([
      [
        pbSpan({
          name: MiB10,
          attributes: [
            kv('huge', { stringValue: MiB10 }),
            kv('small', { stringValue: 'ok' }),
            kv('nested', { arrayValue: { values: [{ stringValue: MiB10 }] } }),
            kv('blob', { bytesValue: Buffer.alloc(100_000, 7) }),
          ],
        }),
      ],
    ]);
    const json = jsonTraces([
      jsonSpan({
        name: MiB10,
        attributes: [
          { key: 'huge', value: { stringValue: MiB10 } },
          { key: 'small', value: { stringValue: 'ok' } },
          { key: 'nested', value: { arrayValue: { values: [{ stringValue: MiB10 }] } } },
          { key: 'blob', value: { bytesValue: Buffer.alloc(100_000, 7).toString('base64') } },
        ],
      }),
    ]);
    for (const decoded of [decodeTracesProtobuf(pb), decodeTracesJson(json)]) {
      const [span] = decoded.items;
      const max = DEFAULT_DECODE_OPTIONS.maxAttributeValueLength;
      expect(span.name).toHaveLength(max);
      expect(span.attributes.huge).toHaveLength(max);
      expect((span.attributes.nested as string[])[0]).toHaveLength(max);
      expect(span.attributes.blob).toEqual(new Uint8Array(max).fill(7));
      expect(span.attributes.small).toBe('ok');
      expect(span.attributes[TRUNCATED_ATTRIBUTE]).toBe('name,huge,nested,blob');
    }
  });

  it('never splits a UTF-8 sequence or a surrogate pair', () => {
    const s = 'é😀'.repeat(10);
    for (const decoded of [
      decodeTracesProtobuf(pbTraces([[pbSpan({ attributes: [kv('k', { stringValue: s })] })]]), { maxAttributeValueLength: 4 }),
      decodeTracesJson(jsonTraces([jsonSpan({ attributes: [{ key: 'k', value: { stringValue: s } }] })]), { maxAttributeValueLength: 4 }),
    ]) {
      expect(decoded.items[0].attributes.k).toBe('é😀é');
    }
    for (const decoded of [
      decodeTracesProtobuf(pbTraces([[pbSpan({ attributes: [kv('k', { stringValue: s })] })]]), { maxAttributeValueLength: 2 }),
      decodeTracesJson(jsonTraces([jsonSpan({ attributes: [{ key: 'k', value: { stringValue: s } }] })]), { maxAttributeValueLength: 2 }),
    ]) {
      expect(decoded.items[0].attributes.k).toBe('é'); // 'é' + half of the pair: the half is dropped
    }
    const fits = decodeTracesProtobuf(pbTraces([[pbSpan({ attributes: [kv('k', { stringValue: 'éé' })] })]]), { maxAttributeValueLength: 3 });
    expect(fits.items[0].attributes).toEqual({ k: 'éé' }); // 4 bytes but 2 units: not truncated
  });

  it('keeps maxAttributes distinct keys out of 100k, quickly, and notes the rest', () => {
    const n = 100_000;
    const attrs = Array.from({ length: n }, (_, i) => kv(`k${i}`, { intValue: i }));
    attrs.push(kv('k0', { stringValue: 'updated' })); // an existing key still takes the later value
    const pb = pbTraces([[pbSpan({ attributes: attrs })]]);
    const json = jsonTraces([jsonSpan({ attributes: attrs })]);
    for (const decode of [() => decodeTracesProtobuf(pb), () => decodeTracesJson(json)]) {
      const start = performance.now();
      const [span] = decode().items;
      expect(performance.now() - start).toBeLessThan(2000);
      expect(Object.keys(span.attributes)).toHaveLength(1024 + 1);
      expect(span.attributes.k0).toBe('updated');
      expect(span.attributes.k1023).toBe(1023);
      expect(span.attributes.k1024).toBeUndefined();
      expect(span.attributes[TRUNCATED_ATTRIBUTE]).toBe(`attributes(+${n - 1024} dropped)`);
    }
  });

  it('caps the truncation note itself', () => {
    const attrs = Array.from({ length: 100 }, (_, i) => kv(`k${i}`, { stringValue: 'long value' }));
    const [span] = decodeTracesProtobuf(pbTraces([[pbSpan({ attributes: attrs })]]), { maxAttributeValueLength: 4 }).items;
    const note = span.attributes[TRUNCATED_ATTRIBUTE] as string;
    expect(note.split(',')).toHaveLength(33);
    expect(note.endsWith('…(+68 more)')).toBe(true);
  });

  it('rejects 10k nested arrays cleanly (protobuf and JSON) without exhausting the stack', () => {
    // protobuf: built from the inside out (protobufjs itself would recurse)
    let value: Buffer = Buffer.from([0x0a, 0x01, 0x78]); // AnyValue{string_value: "x"}
    const lengthPrefix = (n: number) => {
      const out: number[] = [];
      while (n > 0x7f) {
        out.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      out.push(n);
      return Buffer.from(out);
    };
    const field = (tag: number, payload: Buffer) => Buffer.concat([Buffer.from([tag]), lengthPrefix(payload.length), payload]);
    for (let i = 0; i < 10_000; i++) value = field(0x2a, field(0x0a, value)); // AnyValue{array_value{values:[value]}}
    const keyValue = Buffer.concat([field(0x0a, Buffer.from('deep')), field(0x12, value)]);
    const spanBytes = Buffer.concat([
      Buffer.from(ExportTraceServiceRequest.lookupType('opentelemetry.proto.trace.v1.Span').encode(pbSpan()).finish()),
      field(0x4a, keyValue),
    ]);
    const pb = field(0x0a, field(0x12, field(0x12, spanBytes)));
    const deepReason = `attributes["deep"]: ${'array_value.values[0]: '.repeat(16)}value nested deeper than 16 levels`;
    expect(decodeTracesProtobuf(pb).rejected).toEqual([{ index: 0, code: 'TOO_DEEP', reason: deepReason }]);

    const deep = '{"arrayValue":{"values":['.repeat(10_000) + '{"stringValue":"x"}' + ']}}'.repeat(10_000);
    const json = jsonTraces([jsonSpan({ attributes: [{ key: 'deep', value: 'PLACEHOLDER' }] })]).replace('"PLACEHOLDER"', deep);
    const { rejected } = decodeTracesJson(json);
    expect(rejected).toEqual([{ index: 0, code: 'TOO_DEEP', reason: deepReason }]);

    // and the same in a log body, with an int64 beyond 2^53 forcing the exact-digits parse
    const logs = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":${deep}},{"body":{"intValue":9007199254740993}}]}]}]}`;
    const decodedLogs = decodeLogsJson(logs);
    expect(decodedLogs.rejected.map((r) => r.index)).toEqual([0]);
    expect(decodedLogs.items[0].body).toBe('9007199254740993');
  });

  it('does not let "__proto__" keys reach a prototype (JSON)', () => {
    const body = jsonTraces([
      jsonSpan({
        attributes: [
          { key: '__proto__', value: { kvlistValue: { values: [{ key: '__proto__', value: { stringValue: 'x' } }] } } },
        ],
      }),
    ]);
    const [span] = decodeTracesJson(body).items;
    expect(Object.getPrototypeOf(span.attributes)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(span.attributes['__proto__'])).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('well-formed strings (what is hashed is what UTF-8 storage keeps)', () => {
  const FFFD = '\ufffd';

  it('JSON: a lone surrogate anywhere becomes U+FFFD; pairs, NUL and combining marks stay', () => {
    const lone = (s: string) => `a${s}\ud800b\udc00c\udbff`;
    const body = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'r', value: { stringValue: lone('') } }] },
          scopeSpans: [
            {
              scope: { name: 'scope\udfff', version: '\ud83d' },
              spans: [
                jsonSpan({
                  name: lone(' 😀\u0000e\u0301 '),
                  attributes: [
                    { key: 'k\udc00', value: { stringValue: lone('') } },
                    { key: 'arr', value: { arrayValue: { values: [{ stringValue: '\udc00\ud800' }] } } },
                    { key: 'kv', value: { kvlistValue: { values: [{ key: '\ud800', value: { stringValue: '\udfff' } }] } } },
                  ],
                  links: [{ traceId: TRACE_HEX, spanId: PARENT_HEX, attributes: [{ key: 'l', value: { stringValue: '\ud800' } }] }],
                  status: { code: 2, message: '\udc00' },
                }),
              ],
            },
          ],
        },
      ],
    });
    expect(body).toContain('\\ud800'); // JSON.stringify escapes lone surrogates: the request carries them as \u escapes
    const [span] = decodeTracesJson(body).items;
    const fixed = (s: string) => `a${s}${FFFD}b${FFFD}c${FFFD}`;
    expect(span.name).toBe(fixed(' 😀\u0000e\u0301 '));
    expect(span.attributes).toEqual({ [`k${FFFD}`]: fixed(''), arr: [FFFD + FFFD], kv: { [FFFD]: FFFD } });
    expect(span.links[0].attributes).toEqual({ l: FFFD });
    expect(span.statusMessage).toBe(FFFD);
    expect(span.resource).toEqual({ r: fixed('') });
    expect(span.scope).toEqual({ name: `scope${FFFD}`, version: FFFD });

    const logs = decodeLogsJson(
      JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: '1', severityText: '\ud800', eventName: 'e\udc00', body: { stringValue: 'x\ud800' } }] }] }] }),
    );
    expect(logs.items[0]).toMatchObject({ severityText: FFFD, eventName: `e${FFFD}`, body: `x${FFFD}` });
  });

  it('JSON: a cut string stays well-formed and within the limit', () => {
    const body = jsonTraces([jsonSpan({ attributes: [{ key: 'k', value: { stringValue: 'ab\udc00\ud800xyz' } }, { key: 'p', value: { stringValue: 'ab😀😀' } }] })]);
    const [span] = decodeTracesJson(body, { maxAttributeValueLength: 4 }).items;
    expect(span.attributes.k).toBe(`ab${FFFD}`); // the high surrogate at the cut is dropped, the low one replaced
    expect(span.attributes.p).toBe('ab😀');
  });

  it('protobuf: bytes that are not UTF-8 become U+FFFD', () => {
    // Encoded with placeholders of the same length, then patched: the protobuf stays valid.
    const bad = [
      [0xed, 0xa0, 0x80], // U+D800 encoded (CESU-8 / WTF-8)
      [0xc0, 0xaf, 0xff], // overlong '/', a byte never valid
      [0xe2, 0x82, 0x00], // a cut sequence, then NUL
    ];
    const body = Buffer.from(pbTraces([[pbSpan({ name: 'n#0#', attributes: [kv('k#1#', { stringValue: 'v#2#' })] })]]));
    for (const [i, bytes] of bad.entries()) body.set(bytes, body.indexOf(`#${i}#`));
    const [span] = decodeTracesProtobuf(body).items;
    expect(span.name).toBe(`n${FFFD.repeat(3)}`);
    expect(span.attributes).toEqual({ [`k${FFFD.repeat(3)}`]: `v${FFFD}\u0000` });
    for (const s of [span.name, ...Object.keys(span.attributes)]) expect(s.isWellFormed()).toBe(true);
  });
});

describe('fuzz', () => {
  // Deterministic, so a failure reproduces.
  function prng(seed: number) {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function mutate(bytes: Uint8Array, rand: () => number): Uint8Array {
    const out = Buffer.from(bytes);
    const kind = Math.floor(rand() * 4);
    if (kind === 0) {
      for (let i = 0, n = 1 + Math.floor(rand() * 8); i < n; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
      return out;
    }
    if (kind === 1) return out.subarray(0, Math.floor(rand() * out.length));
    const at = Math.floor(rand() * out.length);
    if (kind === 2) {
      const noise = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 16) }, () => Math.floor(rand() * 256)));
      return Buffer.concat([out.subarray(0, at), noise, out.subarray(at)]);
    }
    const len = Math.floor(rand() * 64);
    return Buffer.concat([out.subarray(0, at + len), out.subarray(at)]); // duplicate a region
  }

  /** Replaces a random node of a JSON tree by a value of a random type. */
  function confuse(value: unknown, rand: () => number): unknown {
    const pick = (): unknown => [null, 0, -1, 1.5, 'x', '', true, [], {}, [{}], { values: 1 }, '1e400'][Math.floor(rand() * 12)];
    if (rand() < 0.15) return pick();
    if (Array.isArray(value)) return value.map((v) => confuse(v, rand));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, confuse(v, rand)]));
    }
    return value;
  }

  function checkItems(batch: DecodedBatch<TelemetrySpan | TelemetryLog>): void {
    for (const item of batch.items) {
      expect(item.traceId).toMatch(/^([0-9a-f]{32})?$/);
      expect(item.spanId).toMatch(/^([0-9a-f]{16})?$/);
    }
  }

  function run(decode: () => DecodedBatch<TelemetrySpan | TelemetryLog>): void {
    const start = performance.now();
    try {
      checkItems(decode());
    } catch (e) {
      if (!(e instanceof OtlpDecodeError)) throw e;
    }
    expect(performance.now() - start).toBeLessThan(500);
  }

  it('protobuf: random and mutated payloads only ever return or throw OtlpDecodeError', async () => {
    const rand = prng(42);
    const seeds = [
      ProtobufTraceSerializer.serializeRequest(await sdkSpans())!,
      ProtobufLogsSerializer.serializeRequest(await sdkLogs())!,
      pbTraces([[pbSpan({ attributes: [kv('kv', { kvlistValue: { values: [kv('a', { arrayValue: { values: [{ intValue: 1 }] } })] } })] })]]),
    ];
    for (let i = 0; i < 2000; i++) {
      const body =
        i % 4 === 0
          ? Buffer.from(Array.from({ length: Math.floor(rand() * 512) }, () => Math.floor(rand() * 256)))
          : mutate(seeds[i % seeds.length], rand);
      run(() => decodeTracesProtobuf(body));
      run(() => decodeLogsProtobuf(body));
    }
  });

  it('JSON: mutated text and type-confused trees only ever return or throw OtlpDecodeError', async () => {
    const rand = prng(7);
    const traces = JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(await sdkSpans())));
    const logs = JSON.parse(new TextDecoder().decode(JsonLogsSerializer.serializeRequest(await sdkLogs())));
    const texts = [JSON.stringify(traces), JSON.stringify(logs)];
    for (let i = 0; i < 2000; i++) {
      const text =
        i % 2 === 0
          ? JSON.stringify(confuse(i % 4 === 0 ? traces : logs, rand))
          : new TextDecoder().decode(mutate(Buffer.from(texts[i % texts.length]), rand));
      run(() => decodeTracesJson(text));
      run(() => decodeLogsJson(text));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

describe('export responses', () => {
  it('round-trip through the schema and the official response decoder', () => {
    const traces = encodeExportResponseProtobuf('traces', { rejected: 3, errorMessage: '3 spans rejected' });
    expect(ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(traces), { longs: String })).toEqual({
      partialSuccess: { rejectedSpans: '3', errorMessage: '3 spans rejected' },
    });
    expect(ProtobufTraceSerializer.deserializeResponse(traces)).toEqual({
      partialSuccess: { rejectedSpans: 3, errorMessage: '3 spans rejected' },
    });
    const logs = encodeExportResponseProtobuf('logs', { rejected: 1, errorMessage: 'bad' });
    expect(ExportLogsServiceResponse.toObject(ExportLogsServiceResponse.decode(logs), { longs: String })).toEqual({
      partialSuccess: { rejectedLogRecords: '1', errorMessage: 'bad' },
    });
    expect(ProtobufLogsSerializer.deserializeResponse(logs)).toEqual({ partialSuccess: { rejectedLogRecords: 1, errorMessage: 'bad' } });
    expect(encodeExportResponseProtobuf('traces')).toHaveLength(0);
  });

  it('encodes OTLP/JSON responses with the spec names and int64 as strings', () => {
    expect(JSON.parse(encodeExportResponseJson('traces', { rejected: 3, errorMessage: 'x' }))).toEqual({
      partialSuccess: { rejectedSpans: '3', errorMessage: 'x' },
    });
    expect(JSON.parse(encodeExportResponseJson('logs', { rejected: 2, errorMessage: 'y' }))).toEqual({
      partialSuccess: { rejectedLogRecords: '2', errorMessage: 'y' },
    });
    expect(encodeExportResponseJson('logs')).toBe('{}');
    // the JSON form decodes with the schema's own JSON mapping
    const roundTrip = ExportTraceServiceResponse.fromObject(JSON.parse(encodeExportResponseJson('traces', { rejected: 5, errorMessage: 'z' })));
    expect(ExportTraceServiceResponse.toObject(roundTrip, { longs: String })).toEqual({ partialSuccess: { rejectedSpans: '5', errorMessage: 'z' } });
  });

  it('encodes google.rpc.Status error bodies', () => {
    const status = RpcStatus.toObject(RpcStatus.decode(encodeStatusProtobuf(3, 'invalid JSON at position 12')));
    expect(status).toEqual({ code: 3, message: 'invalid JSON at position 12' });
    expect(JSON.parse(encodeStatusJson(8, 'slow down'))).toEqual({ code: 8, message: 'slow down' });
  });
});
