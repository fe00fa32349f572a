/**
 * One set of rules, two encodings: every span and log record below is written once, encoded as
 * OTLP/protobuf (protobufjs, from schema.ts) and as OTLP/JSON, and both decoders must reject it
 * the same way (index, code, reason) or accept it as the same item. A decoder whose checks drift
 * from rules.ts (another message, another order, a rule skipped) fails here.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeLogsJson,
  decodeLogsProtobuf,
  decodeTracesJson,
  decodeTracesProtobuf,
  type DecodeOptions,
  type RejectCode,
} from './decode.ts';
import { ExportLogsServiceRequest, ExportTraceServiceRequest } from './schema.ts';

type Obj = Record<string, unknown>;

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';
const OTHER_SPAN = '00f067aa0ba902b7';

/** A span in OTLP/JSON form (hex ids, decimal-string times): protobufjs reads the same object once ids are bytes. */
const span = (over: Obj = {}): Obj => ({
  traceId: TRACE,
  spanId: SPAN,
  name: 'op',
  kind: 2,
  startTimeUnixNano: '1700000000000000000',
  endTimeUnixNano: '1700000000500000000',
  ...over,
});

const log = (over: Obj = {}): Obj => ({ timeUnixNano: '1700000000000000000', body: { stringValue: 'b' }, ...over });

const kv = (key: string, value: Obj): Obj => ({ key, value });
const str = (s: string): Obj => ({ stringValue: s });
/** An AnyValue `levels` deep (a plain value is 1), as arrays or key-value lists. */
const nested = (levels: number, as: 'array' | 'kvlist' = 'array'): Obj =>
  levels === 1 ? str('leaf') : as === 'array' ? { arrayValue: { values: [nested(levels - 1, as)] } } : { kvlistValue: { values: [kv('k', nested(levels - 1, as))] } };
const hex = (bytes: number, fill = 'ab'): string => fill.repeat(bytes);
const zeros = (bytes: number): string => '00'.repeat(bytes);

const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** The protobufjs form of a JSON-form object: hex ids become bytes, the rest is the same. */
function toProto(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toProto);
  if (v === null || typeof v !== 'object') return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) out[k] = ID_FIELDS.has(k) && typeof x === 'string' ? Buffer.from(x, 'hex') : toProto(x);
  return out;
}

function traces(spans: Obj[], resourceAttributes: Obj[] = []): { protobuf: Uint8Array; json: string } {
  const request = { resourceSpans: [{ resource: { attributes: resourceAttributes }, scopeSpans: [{ scope: { name: 's', version: '1' }, spans }] }] };
  const protobuf = ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(toProto(request) as Obj)).finish();
  return { protobuf, json: JSON.stringify(request) };
}

function logs(records: Obj[]): { protobuf: Uint8Array; json: string } {
  const request = { resourceLogs: [{ resource: {}, scopeLogs: [{ scope: { name: 's' }, logRecords: records }] }] };
  const protobuf = ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(toProto(request) as Obj)).finish();
  return { protobuf, json: JSON.stringify(request) };
}

type Rejected = [RejectCode, string];

/** [what, the faulty span, its rejection]: each is sent between two good spans, so it is item 1. */
const SPAN_CASES: [string, Obj, Rejected][] = [
  // ids
  ['trace_id of 15 bytes', span({ traceId: hex(15) }), ['ID_LENGTH', 'trace_id must be 16 bytes, got 15']],
  ['trace_id of 17 bytes', span({ traceId: hex(17) }), ['ID_LENGTH', 'trace_id must be 16 bytes, got 17']],
  ['trace_id absent', span({ traceId: undefined }), ['MISSING', 'trace_id is missing']],
  ['trace_id empty', span({ traceId: '' }), ['MISSING', 'trace_id is missing']],
  ['trace_id all zeros', span({ traceId: zeros(16) }), ['ID_ALL_ZERO', 'trace_id is all zeros']],
  ['span_id of 7 bytes', span({ spanId: hex(7) }), ['ID_LENGTH', 'span_id must be 8 bytes, got 7']],
  ['span_id absent', span({ spanId: undefined }), ['MISSING', 'span_id is missing']],
  ['span_id all zeros', span({ spanId: zeros(8) }), ['ID_ALL_ZERO', 'span_id is all zeros']],
  ['parent_span_id of 5 bytes', span({ parentSpanId: hex(5) }), ['ID_LENGTH', 'parent_span_id must be 8 bytes or empty, got 5']],
  ['parent_span_id of 16 bytes', span({ parentSpanId: TRACE }), ['ID_LENGTH', 'parent_span_id must be 8 bytes or empty, got 16']],
  // name and times
  ['name absent', span({ name: undefined }), ['MISSING', 'name is missing']],
  ['start time absent', span({ startTimeUnixNano: undefined }), ['MISSING', 'start_time_unix_nano is missing']],
  ['start time zero', span({ startTimeUnixNano: '0' }), ['MISSING', 'start_time_unix_nano is missing']],
  ['end time absent', span({ endTimeUnixNano: undefined }), ['MISSING', 'end_time_unix_nano is missing']],
  [
    'start time at 2^63',
    span({ startTimeUnixNano: '9223372036854775808', endTimeUnixNano: '9223372036854775809' }),
    ['TIME_OUT_OF_RANGE', 'start_time_unix_nano is out of range (must be < 2^63)'],
  ],
  ['end time at 2^64 - 1', span({ endTimeUnixNano: '18446744073709551615' }), ['TIME_OUT_OF_RANGE', 'end_time_unix_nano is out of range (must be < 2^63)']],
  [
    'end before start',
    span({ endTimeUnixNano: '1699999999999999999' }),
    ['END_BEFORE_START', 'end_time_unix_nano (1699999999999999999) is before start_time_unix_nano (1700000000000000000)'],
  ],
  // nesting
  [
    'attribute 17 arrays deep',
    span({ attributes: [kv('ok', str('x')), kv('deep', nested(17))] }),
    ['TOO_DEEP', `attributes["deep"]: ${'array_value.values[0]: '.repeat(16)}value nested deeper than 16 levels`],
  ],
  [
    'attribute 17 key-value lists deep',
    span({ attributes: [kv('deep', nested(17, 'kvlist'))] }),
    ['TOO_DEEP', `attributes["deep"]: ${'kvlist_value.values[0]: '.repeat(16)}value nested deeper than 16 levels`],
  ],
  [
    'the second of two deep values in a list',
    span({ attributes: [kv('a', { arrayValue: { values: [str('x'), nested(16)] } })] }),
    ['TOO_DEEP', `attributes["a"]: array_value.values[1]: ${'array_value.values[0]: '.repeat(15)}value nested deeper than 16 levels`],
  ],
  // links
  ['link span_id of 3 bytes', span({ links: [{ traceId: TRACE, spanId: hex(3) }] }), ['ID_LENGTH', 'links[0].span_id must be 8 bytes, got 3']],
  ['link trace_id absent', span({ links: [{ spanId: SPAN }] }), ['MISSING', 'links[0].trace_id is missing']],
  ['second link all zeros', span({ links: [{ traceId: TRACE, spanId: SPAN }, { traceId: TRACE, spanId: zeros(8) }] }), ['ID_ALL_ZERO', 'links[1].span_id is all zeros']],
  [
    'link attribute too deep',
    span({ links: [{ traceId: TRACE, spanId: SPAN, attributes: [kv('d', nested(17))] }] }),
    ['TOO_DEEP', `links[0].attributes["d"]: ${'array_value.values[0]: '.repeat(16)}value nested deeper than 16 levels`],
  ],
  // two faults: the same one is reported first (the order of rules.ts, not of the wire)
  ['bad trace_id and a deep attribute', span({ traceId: hex(3), attributes: [kv('deep', nested(20))] }), ['ID_LENGTH', 'trace_id must be 16 bytes, got 3']],
  ['bad span_id and a bad link', span({ spanId: zeros(8), links: [{ traceId: TRACE }] }), ['ID_ALL_ZERO', 'span_id is all zeros']],
  ['no name and a bad link', span({ name: undefined, links: [{ traceId: hex(2), spanId: SPAN }] }), ['MISSING', 'name is missing']],
  [
    'end before start and a deep attribute',
    span({ endTimeUnixNano: '1', attributes: [kv('deep', nested(20))] }),
    ['END_BEFORE_START', 'end_time_unix_nano (1) is before start_time_unix_nano (1700000000000000000)'],
  ],
  ['no start and an end out of range', span({ startTimeUnixNano: undefined, endTimeUnixNano: '18446744073709551615' }), ['MISSING', 'start_time_unix_nano is missing']],
  [
    'a deep attribute and a bad link',
    span({ attributes: [kv('deep', nested(17))], links: [{ traceId: TRACE, spanId: hex(1) }] }),
    ['TOO_DEEP', `attributes["deep"]: ${'array_value.values[0]: '.repeat(16)}value nested deeper than 16 levels`],
  ],
  [
    'a link with a bad id and a deep attribute',
    span({ links: [{ traceId: TRACE, spanId: hex(9), attributes: [kv('d', nested(17))] }] }),
    ['ID_LENGTH', 'links[0].span_id must be 8 bytes, got 9'],
  ],
  ['two bad links', span({ links: [{ traceId: zeros(16), spanId: SPAN }, { traceId: TRACE }] }), ['ID_ALL_ZERO', 'links[0].trace_id is all zeros']],
];

const LOG_CASES: [string, Obj, Rejected][] = [
  ['trace_id of 3 bytes', log({ traceId: hex(3) }), ['ID_LENGTH', 'trace_id must be 16 bytes or empty, got 3']],
  ['span_id of 16 bytes', log({ spanId: TRACE }), ['ID_LENGTH', 'span_id must be 8 bytes or empty, got 16']],
  ['time at 2^63', log({ timeUnixNano: '9223372036854775808' }), ['TIME_OUT_OF_RANGE', 'time_unix_nano is out of range (must be < 2^63)']],
  ['observed time at 2^64 - 1', log({ observedTimeUnixNano: '18446744073709551615' }), ['TIME_OUT_OF_RANGE', 'observed_time_unix_nano is out of range (must be < 2^63)']],
  ['body too deep', log({ body: nested(17) }), ['TOO_DEEP', `body: ${'array_value.values[0]: '.repeat(16)}value nested deeper than 16 levels`]],
  ['attribute too deep', log({ attributes: [kv('a', nested(17, 'kvlist'))] }), ['TOO_DEEP', `attributes["a"]: ${'kvlist_value.values[0]: '.repeat(16)}value nested deeper than 16 levels`]],
  ['bad span_id and a deep body', log({ spanId: hex(2), body: nested(30) }), ['ID_LENGTH', 'span_id must be 8 bytes or empty, got 2']],
  ['time out of range and a deep body', log({ timeUnixNano: '18446744073709551615', body: nested(30) }), ['TIME_OUT_OF_RANGE', 'time_unix_nano is out of range (must be < 2^63)']],
  [
    'a deep attribute and a deep body',
    log({ attributes: [kv('a', nested(17))], body: nested(18, 'kvlist') }),
    ['TOO_DEEP', `body: ${'kvlist_value.values[0]: '.repeat(16)}value nested deeper than 16 levels`],
  ],
];

describe('the rejection rules are the same for OTLP/protobuf and OTLP/JSON', () => {
  it.each(SPAN_CASES)('span: %s', (_what, bad, [code, reason]) => {
    const body = traces([span({ spanId: OTHER_SPAN }), bad, span()]);
    const pb = decodeTracesProtobuf(body.protobuf);
    const json = decodeTracesJson(body.json);
    expect(pb.rejected).toEqual([{ index: 1, code, reason }]);
    expect(json.rejected).toEqual([{ index: 1, code, reason }]);
    expect(pb.items).toHaveLength(2);
    expect(json.items).toEqual(pb.items);
  });

  it.each(LOG_CASES)('log record: %s', (_what, bad, [code, reason]) => {
    const body = logs([log(), bad, log()]);
    const pb = decodeLogsProtobuf(body.protobuf);
    const json = decodeLogsJson(body.json);
    expect(pb.rejected).toEqual([{ index: 1, code, reason }]);
    expect(json.rejected).toEqual([{ index: 1, code, reason }]);
    expect(json.items).toEqual(pb.items);
  });

  it('a resource whose attributes nest too deep rejects each of its spans, with its fault', () => {
    const body = traces([span(), span({ traceId: hex(1) }), span()], [kv('r', nested(17))]);
    const reason = `resource attributes["r"]: ${'array_value.values[0]: '.repeat(16)}value nested deeper than 16 levels`;
    const expected = [
      { index: 0, code: 'TOO_DEEP', reason },
      { index: 1, code: 'ID_LENGTH', reason: 'trace_id must be 16 bytes, got 1' }, // the span's own fault comes first
      { index: 2, code: 'TOO_DEEP', reason },
    ];
    expect(decodeTracesProtobuf(body.protobuf)).toEqual({ items: [], rejected: expected });
    expect(decodeTracesJson(body.json)).toEqual({ items: [], rejected: expected });
  });

  it('accepts the same items: optional ids empty or all zeros, and what the limits cut', () => {
    const spans = [
      span({ parentSpanId: zeros(8) }),
      span({ parentSpanId: '' }),
      span({
        name: 'a name longer than the limit',
        attributes: [kv('k1', str('long value')), kv('k2', { bytesValue: Buffer.from('0123456789').toString('base64') }), kv('k3', str('dropped'))],
        links: [
          { traceId: TRACE, spanId: SPAN, attributes: [kv('l1', str('x')), kv('l2', str('y')), kv('l3', str('z'))] },
          { traceId: TRACE, spanId: OTHER_SPAN },
        ],
        status: { code: 2, message: 'failed badly' },
      }),
      span({ attributes: [kv('d', nested(3))] }),
    ];
    const options: DecodeOptions = { maxAttributeValueLength: 6, maxAttributes: 2, maxLinks: 1, maxDepth: 3 };
    const body = traces(spans, [kv('service.name', str('checkout-service')), kv('a', str('1')), kv('b', str('2'))]);
    const pb = decodeTracesProtobuf(body.protobuf, options);
    expect(pb.rejected).toEqual([]);
    expect(decodeTracesJson(body.json, options)).toEqual(pb);
    expect(pb.items[0].parentSpanId).toBe('');
    expect(pb.items[2].attributes['otel_audit.truncated']).toBe('name,k1,k2,links[0].attributes(+1 dropped),status.message,links(+1 dropped),attributes(+1 dropped)');
    expect(pb.items[2].resource['otel_audit.truncated']).toBe('servic,attributes(+1 dropped)') // the key is cut too;

    const records = [log({ traceId: zeros(16), spanId: zeros(8) }), log({ traceId: '', spanId: '' }), log({ severityText: 'WARNING', body: str('a long body'), eventName: 'an event', attributes: [kv('key', str('a long value'))] })];
    const l = logs(records);
    const pbLogs = decodeLogsProtobuf(l.protobuf, options);
    expect(pbLogs.rejected).toEqual([]);
    expect(decodeLogsJson(l.json, options)).toEqual(pbLogs);
    expect(pbLogs.items[0]).toMatchObject({ traceId: '', spanId: '' });
    expect(pbLogs.items[2].attributes['otel_audit.truncated']).toBe('severity_text,body,key,event_name');
  });
});
