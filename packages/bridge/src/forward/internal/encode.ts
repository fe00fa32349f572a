/**
 * The forward copy of a request: its spans or log records after the privacy floor, written
 * back as an OTLP protobuf export request (ExportTraceServiceRequest / ExportLogsServiceRequest,
 * field numbers of opentelemetry-proto v1.x, as otlp/schema.ts declares them).
 *
 * Written with protobufjs's Writer and the field numbers by hand, not through `fromObject`:
 * times are fixed64 nanoseconds beyond 2^53, which a JS number cannot carry.
 */
import protobuf from 'protobufjs/light.js';
import type { AttrValue, Attributes, Scope, TelemetryLog, TelemetrySpan } from '../../model.ts';

const { Writer } = protobuf;
type W = protobuf.Writer;


/** What forwarding needs of the privacy floor: the masks intake applies (policy/privacy.ts). */
export interface ForwardPrivacy {
  value(v: unknown): { value: unknown; findings: number };
}
/** The attribute each forwarded audit span carries: the id of its row in the audit trail. */
export const EVENT_ID_ATTRIBUTE = 'audit.event_id';

/**
 * Resource attributes never forwarded, as the audit trail never stores them (intake/intake.ts
 * keeps the same list): a process's command line can carry credentials in any flag.
 */
const OMITTED_RESOURCE_KEYS = new Set(['process.command_args', 'process.command_line', 'process.command']);

// Wire types.
const VARINT = 0;
const I64 = 1;
const LEN = 2;

const tag = (w: W, field: number, wire: number): W => w.uint32((field << 3) | wire);

function str(w: W, field: number, v: string): void {
  if (v) tag(w, field, LEN).string(v);
}

function hexBytes(w: W, field: number, hex: string): void {
  if (hex) tag(w, field, LEN).bytes(Buffer.from(hex, 'hex'));
}

/** A decimal nanosecond string as fixed64 (two little-endian 32-bit halves). */
function nanos(w: W, field: number, decimal: string): void {
  if (!decimal || decimal === '0') return;
  const n = BigInt(decimal);
  tag(w, field, I64).fixed32(Number(n & 0xffffffffn)).fixed32(Number((n >> 32n) & 0xffffffffn));
}

function anyValue(w: W, v: AttrValue): void {
  if (v === null || v === undefined) return; // an empty AnyValue
  if (typeof v === 'string') tag(w, 1, LEN).string(v);
  else if (typeof v === 'boolean') tag(w, 2, VARINT).bool(v);
  else if (typeof v === 'number') {
    // The decoder gives int64 as a number when it is safe: an integer goes back as intValue.
    if (Number.isSafeInteger(v)) tag(w, 3, VARINT).int64(v);
    else tag(w, 4, I64).double(v);
  } else if (v instanceof Uint8Array) tag(w, 7, LEN).bytes(v);
  else if (Array.isArray(v)) {
    tag(w, 5, LEN).fork();
    for (const item of v) {
      tag(w, 1, LEN).fork();
      anyValue(w, item);
      w.ldelim();
    }
    w.ldelim();
  } else {
    tag(w, 6, LEN).fork();
    keyValues(w, 1, v);
    w.ldelim();
  }
}

function keyValues(w: W, field: number, attrs: Record<string, AttrValue>): void {
  for (const key in attrs) {
    tag(w, field, LEN).fork();
    str(w, 1, key);
    tag(w, 2, LEN).fork();
    anyValue(w, attrs[key]);
    w.ldelim();
    w.ldelim();
  }
}

function scope(w: W, s: Scope): void {
  if (!s.name && !s.version) return;
  tag(w, 1, LEN).fork();
  str(w, 1, s.name);
  str(w, 2, s.version);
  w.ldelim();
}

/** Groups items by resource, then scope, keeping their order (both objects are shared by the decoder). */
function group<T extends { resource: Attributes; scope: Scope }>(items: Iterable<T>): Map<Attributes, Map<Scope, T[]>> {
  const out = new Map<Attributes, Map<Scope, T[]>>();
  for (const item of items) {
    let scopes = out.get(item.resource);
    if (!scopes) out.set(item.resource, (scopes = new Map()));
    let list = scopes.get(item.scope);
    if (!list) scopes.set(item.scope, (list = []));
    list.push(item);
  }
  return out;
}

/** The floor over a record of attributes: the redactor's masks, keyed (secret-named keys masked whole). */
function redactAttrs(privacy: ForwardPrivacy, attrs: Attributes): Attributes {
  return privacy.value(attrs).value as Attributes;
}

function redactText(privacy: ForwardPrivacy, s: string): string {
  return s ? (privacy.value(s).value as string) : s;
}

function resource(w: W, privacy: ForwardPrivacy, res: Attributes): void {
  const kept: Attributes = {};
  for (const key in res) if (!OMITTED_RESOURCE_KEYS.has(key)) kept[key] = res[key];
  tag(w, 1, LEN).fork();
  keyValues(w, 1, redactAttrs(privacy, kept));
  w.ldelim();
}

export interface ForwardSpansInput {
  spans: TelemetrySpan[];
  /** Indexes into `spans` refused at intake (a tenant outside the token's): not forwarded either. */
  refused: ReadonlySet<number>;
  /** Event id of each span that became an audit event, by `traceId + spanId`. */
  eventIds: ReadonlyMap<string, string>;
}

/** ExportTraceServiceRequest of the accepted spans, redacted; audit spans carry audit.event_id. */
export function encodeForwardSpans(input: ForwardSpansInput, privacy: ForwardPrivacy): { body: Uint8Array; items: number } {
  const w = Writer.create();
  const kept = input.spans.filter((_, i) => !input.refused.has(i));
  for (const [res, scopes] of group(kept)) {
    tag(w, 1, LEN).fork(); // ResourceSpans
    resource(w, privacy, res);
    for (const [sc, spans] of scopes) {
      tag(w, 2, LEN).fork(); // ScopeSpans
      scope(w, sc);
      for (const s of spans) {
        tag(w, 2, LEN).fork(); // Span
        hexBytes(w, 1, s.traceId);
        hexBytes(w, 2, s.spanId);
        hexBytes(w, 4, s.parentSpanId);
        str(w, 5, redactText(privacy, s.name));
        if (s.kind) tag(w, 6, VARINT).int32(s.kind);
        nanos(w, 7, s.startTimeUnixNano);
        nanos(w, 8, s.endTimeUnixNano);
        const attrs = redactAttrs(privacy, s.attributes);
        const id = input.eventIds.get(s.traceId + s.spanId);
        // audit.event_id is the bridge's to set: a client's own is replaced, or removed from a
        // span that is not in the trail, so that the attribute always leads to a stored event.
        let out = attrs;
        if (id) out = { ...attrs, [EVENT_ID_ATTRIBUTE]: id };
        else if (EVENT_ID_ATTRIBUTE in attrs) {
          out = { ...attrs };
          delete out[EVENT_ID_ATTRIBUTE];
        }
        keyValues(w, 9, out);
        for (const l of s.links) {
          tag(w, 13, LEN).fork();
          hexBytes(w, 1, l.traceId);
          hexBytes(w, 2, l.spanId);
          keyValues(w, 4, redactAttrs(privacy, l.attributes));
          w.ldelim();
        }
        if (s.statusCode || s.statusMessage) {
          tag(w, 15, LEN).fork();
          str(w, 2, redactText(privacy, s.statusMessage));
          if (s.statusCode) tag(w, 3, VARINT).int32(s.statusCode);
          w.ldelim();
        }
        w.ldelim();
      }
      w.ldelim();
    }
    w.ldelim();
  }
  return { body: w.finish(), items: kept.length };
}

/** ExportLogsServiceRequest of every accepted log record, redacted (also those with no audit content). */
export function encodeForwardLogs(logs: TelemetryLog[], privacy: ForwardPrivacy): { body: Uint8Array; items: number } {
  const w = Writer.create();
  for (const [res, scopes] of group(logs)) {
    tag(w, 1, LEN).fork(); // ResourceLogs
    resource(w, privacy, res);
    for (const [sc, records] of scopes) {
      tag(w, 2, LEN).fork(); // ScopeLogs
      scope(w, sc);
      for (const l of records) {
        tag(w, 2, LEN).fork(); // LogRecord
        nanos(w, 1, l.timeUnixNano);
        if (l.severityNumber) tag(w, 2, VARINT).int32(l.severityNumber);
        str(w, 3, l.severityText);
        if (l.body !== null && l.body !== undefined) {
          tag(w, 5, LEN).fork();
          anyValue(w, privacy.value(l.body).value as AttrValue);
          w.ldelim();
        }
        keyValues(w, 6, redactAttrs(privacy, l.attributes));
        hexBytes(w, 9, l.traceId);
        hexBytes(w, 10, l.spanId);
        nanos(w, 11, l.observedTimeUnixNano);
        str(w, 12, redactText(privacy, l.eventName));
        w.ldelim();
      }
      w.ldelim();
    }
    w.ldelim();
  }
  return { body: w.finish(), items: logs.length };
}
