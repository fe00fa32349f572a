/**
 * The two data shapes every stage agrees on:
 *  - the decoded OTLP telemetry (`TelemetrySpan`, `TelemetryLog`), the same whether it came in
 *    as protobuf or JSON, over HTTP or gRPC;
 *  - the audit event (`AuditEvent`), one row of the `events` table (DESIGN 3.2).
 * And `AccessRecord`, a read to record in the trail, which api/ and evidence/ both speak of.
 */

/** An OTLP AnyValue, decoded. int64 values become `number` when safe, else a decimal string. */
export type AttrValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | AttrValue[]
  | { [key: string]: AttrValue };

export type Attributes = Record<string, AttrValue>;

export interface Scope {
  name: string;
  version: string;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: Attributes;
}

export interface TelemetrySpan {
  /** 32 lowercase hex characters. */
  traceId: string;
  /** 16 lowercase hex characters. */
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind number (0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer). */
  kind: number;
  /** Unix time in nanoseconds, as a decimal string (int64 does not fit a JS number). */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attributes;
  links: SpanLink[];
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
  /** Shared by every span of the same ResourceSpans; never mutate. */
  resource: Attributes;
  scope: Scope;
}

export interface TelemetryLog {
  /** '' when the record is not tied to a span. */
  traceId: string;
  spanId: string;
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  /** The LogRecord `event_name` field (OTLP ≥ 1.5); '' when absent. */
  eventName: string;
  body: AttrValue;
  attributes: Attributes;
  resource: Attributes;
  scope: Scope;
}

export const EVENT_TYPES = [
  'request',
  'model_call',
  'retrieval',
  'tool_call',
  'approval',
  'system_effect',
  'outcome',
  'access',
  // gen_ai.evaluation.result, OpenInference EVALUATOR spans, audit.event.type=evaluation.
  'evaluation',
  // A model version promoted to an environment (audit.model.*, audit.deployment.*).
  'deployment',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface SourceRef {
  id: string;
  uri: string;
  version: string;
  sensitivity: string;
  /** null when the source gave no score. */
  score: number | null;
}

export interface EventLink {
  trace_id: string;
  span_id: string;
}

/**
 * A message of a model call's content, in the shape of the OTel GenAI `gen_ai.input.messages`
 * convention: a role and its parts.
 */
export interface ContentMessage {
  role: string;
  parts: ContentPart[];
  /** For choices: the finish reason. */
  finish_reason?: string;
}

export type ContentPart =
  | { type: 'text'; content: string }
  | { type: 'tool_call'; id?: string; name: string; arguments?: unknown }
  | { type: 'tool_call_response'; id?: string; response?: unknown }
  | { type: string; [key: string]: unknown };

/** Content as the event stores it, before and after redaction. */
export interface EventContent {
  system?: ContentMessage[];
  input?: ContentMessage[];
  output?: ContentMessage[];
  /** Tool arguments / result, retrieval query, or other free content the mapper found. */
  arguments?: unknown;
  result?: unknown;
  query?: string;
}

/** One row of `otel_audit.events`. Column names are the contract (DESIGN 3.2). */
export interface AuditEvent {
  event_id: string;
  tenant: string;
  /** DateTime64(9) as 'YYYY-MM-DD hh:mm:ss.nnnnnnnnn' (UTC). */
  event_time: string;
  /** DateTime64(9) as 'YYYY-MM-DD hh:mm:ss.nnnnnnnnn' (UTC). */
  ingest_time: string;
  duration_ns: number;
  event_type: EventType;
  /** The span name. */
  name: string;
  /** gen_ai.operation.name or the equivalent of the source convention. */
  operation: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string;
  correlation_id: string;
  /** Where correlation_id came from: attribute, conversation, session, ancestor, trace. */
  correlation_source: string;
  links: EventLink[];
  actor_id: string;
  actor_type: string;
  actor_role: string;
  on_behalf_of: string;
  initiation: string;
  service_name: string;
  environment: string;
  purpose: string;
  risk: string;
  provider: string;
  request_model: string;
  response_model: string;
  input_tokens: number | null;
  output_tokens: number | null;
  prompt_version: string;
  tool_name: string;
  tool_call_id: string;
  action: string;
  target_system: string;
  target_id: string;
  permission: string;
  approval_required: boolean;
  sources: SourceRef[];
  decision: string;
  reviewer_id: string;
  reviewer_role: string;
  rationale: string;
  edited: boolean;
  effect: string;
  outcome: string;
  status: string;
  error_type: string;
  input_digest: string;
  output_digest: string;
  /** JSON of the (redacted) EventContent, '' when none is kept. */
  content: string;
  /** Remaining attributes, values stringified and redacted. Resource attributes under `resource.`. */
  attributes: Record<string, string>;
  /** Which convention families recognised the span, e.g. ['otel_genai', 'audit']. */
  conventions: string[];
  /** How many values the redactor masked in this event. */
  redactions: number;
  /** Names of fields that were truncated by the ingest limits. */
  truncated: string[];
  chain_id: string;
  seq: number;
  prev_hash: string;
  hash: string;
  /** Which serialization `hash` covers (chain/canonical.ts); set when sealed. */
  hash_version?: number;
  /** Who sent it: the ingest token's name, `local` without an auth file (a column added later). */
  ingest_principal?: string;
}

/**
 * A read of the trail that is itself part of the trail (DESIGN 3.4: "reads are part of the trail").
 * api/access-log.ts turns it into an `access` event; evidence/ asks for one per pack. Here, below
 * both, so that evidence/ need not import the API.
 */
export interface AccessRecord {
  /** The token's name (`local` without an auth file): the event's actor and ingest_principal. */
  principal: string;
  /** The tenant whose data was read; the access event is stored under it. */
  tenant: string;
  /** `read_content` (sealed raw content opened), `export`, `evidence`; `erase`: a subject's data keys deleted. */
  action: 'read_content' | 'export' | 'evidence' | 'erase';
  /** What was read: `event:<id>`, or the export's filter; the subject erased, as stored (`subject:<pseudonym>`). */
  target: string;
  /** The case read, so that the access shows in its timeline. */
  correlationId?: string;
  risk?: string;
}
