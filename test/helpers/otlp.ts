/**
 * OTLP request bodies for the end-to-end tests, made by the official encoders
 * (`@opentelemetry/otlp-transformer`) from span / log-record descriptions with chosen ids and
 * times, so that a test can also send what an SDK never would (a short trace id, a zero span
 * id, an end before the start).
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Attributes, HrTime } from '@opentelemetry/api';
import {
  JsonLogsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';

export type WireFormat = 'protobuf' | 'json';

export const traceId = (): string => randomBytes(16).toString('hex');
export const spanId = (): string => randomBytes(8).toString('hex');

/** SDK SpanKind (0 internal, 1 server, 2 client, 3 producer, 4 consumer). */
export interface SpanSpec {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  /** Start in ms since the epoch (default: now). */
  startMs?: number;
  /** Duration in ms; negative makes an end before the start. Default 5. */
  durationMs?: number;
  attributes?: Attributes;
  links?: Array<{ traceId: string; spanId: string }>;
}

export interface LogSpec {
  traceId?: string;
  spanId?: string;
  eventName?: string;
  body: unknown;
  attributes?: Attributes;
  timeMs?: number;
}

const hr = (ms: number): HrTime => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

const resources = new Map<string, Resource>();
function resourceFor(attrs: Attributes): Resource {
  const key = JSON.stringify(attrs);
  let r = resources.get(key);
  if (!r) resources.set(key, (r = resourceFromAttributes(attrs)));
  return r;
}

export const DEFAULT_RESOURCE: Attributes = { 'service.name': 'e2e-app', 'audit.tenant': 'acme' };
const SCOPE = { name: 'e2e-tests', version: '1.0.0' };

export function readableSpan(s: SpanSpec, resource: Attributes = DEFAULT_RESOURCE): ReadableSpan {
  const start = s.startMs ?? Date.now();
  const end = start + (s.durationMs ?? 5);
  return {
    name: s.name,
    kind: s.kind ?? 0,
    spanContext: () => ({ traceId: s.traceId, spanId: s.spanId, traceFlags: 1 }),
    parentSpanContext: s.parentSpanId ? { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: 1 } : undefined,
    startTime: hr(start),
    endTime: hr(end),
    status: { code: 0 },
    attributes: s.attributes ?? {},
    links: (s.links ?? []).map((l) => ({ context: { traceId: l.traceId, spanId: l.spanId, traceFlags: 1 } })),
    events: [],
    duration: hr(Math.max(0, end - start)),
    ended: true,
    resource: resourceFor(resource),
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  } as unknown as ReadableSpan;
}

export function readableLog(l: LogSpec, resource: Attributes = DEFAULT_RESOURCE): ReadableLogRecord {
  const t = hr(l.timeMs ?? Date.now());
  return {
    hrTime: t,
    hrTimeObserved: t,
    spanContext: l.traceId && l.spanId ? { traceId: l.traceId, spanId: l.spanId, traceFlags: 1 } : undefined,
    severityNumber: 9,
    severityText: 'INFO',
    body: l.body,
    eventName: l.eventName,
    attributes: l.attributes ?? {},
    droppedAttributesCount: 0,
    resource: resourceFor(resource),
    instrumentationScope: SCOPE,
  } as unknown as ReadableLogRecord;
}

/** An ExportTraceServiceRequest in the given wire format, from the official serializers. */
export function encodeTraces(spans: SpanSpec[], format: WireFormat, resource?: Attributes): Uint8Array {
  const readable = spans.map((s) => readableSpan(s, resource));
  const out = format === 'json' ? JsonTraceSerializer.serializeRequest(readable) : ProtobufTraceSerializer.serializeRequest(readable);
  if (!out) throw new Error('the OTLP serializer produced nothing');
  return out;
}

export function encodeLogs(logs: LogSpec[], format: WireFormat, resource?: Attributes): Uint8Array {
  const readable = logs.map((l) => readableLog(l, resource));
  const out = format === 'json' ? JsonLogsSerializer.serializeRequest(readable) : ProtobufLogsSerializer.serializeRequest(readable);
  if (!out) throw new Error('the OTLP serializer produced nothing');
  return out;
}

/** The Authorization header of a bridge with an auth file ({} without a token). */
export const bearer = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

export const CONTENT_TYPE: Record<WireFormat, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

export interface PostResult {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** POSTs an OTLP body to `${otlpUrl}/v1/${signal}`. */
export async function postOtlp(
  otlpUrl: string,
  signal: 'traces' | 'logs',
  body: Uint8Array | string,
  opts: { format?: WireFormat; gzip?: boolean; headers?: Record<string, string> } = {},
): Promise<PostResult> {
  const format = opts.format ?? 'json';
  let payload: Uint8Array = typeof body === 'string' ? Buffer.from(body) : body;
  const headers: Record<string, string> = { 'content-type': CONTENT_TYPE[format], ...opts.headers };
  if (opts.gzip) {
    payload = gzipSync(payload);
    headers['content-encoding'] = 'gzip';
  }
  const res = await fetch(`${otlpUrl}/v1/${signal}`, { method: 'POST', headers, body: payload as Uint8Array<ArrayBuffer> });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** Sends spans as OTLP/JSON and fails unless the bridge answers 200 with no partial success. */
export async function sendSpans(otlpUrl: string, spans: SpanSpec[], resource?: Attributes, token?: string): Promise<void> {
  const r = await postOtlp(otlpUrl, 'traces', encodeTraces(spans, 'json', resource), { headers: bearer(token) });
  const text = r.body.toString();
  if (r.status !== 200 || (text !== '{}' && text !== '')) throw new Error(`export failed: ${r.status} ${text}`);
}
