import { hash } from 'node:crypto';
import type { AttrValue, Attributes, AuditEvent, EventContent, TelemetryLog, TelemetrySpan } from '../model.ts';
import { logEventSpan, normalizeLog, normalizeSpan, spanContext } from '../normalize/normalize.ts';
import type { AuditContext, EventDraft } from '../normalize/types.ts';
import type { ContentPiece, ContentSection, PendingEvent, SpanNode, WaitingEvent } from '../correlate/types.ts';
import { durationNanos, nanosToDateTime64 } from '../internal/time.ts';
import { TRUNCATED_ATTRIBUTE, type RejectedItem } from '../otlp/index.ts';
import type { PrivacyFilter } from '../policy/privacy.ts';

/** What intake needs of the privacy filter: the floor's masks and which policy rules may apply. */
export type IntakePrivacy = Pick<PrivacyFilter, 'value' | 'policy' | 'keepsRaw'>;


export interface IntakeOptions {
  /** Tenant every event gets (the request's `x-otel-audit-tenant`); wins over `audit.tenant`. */
  tenant?: string;
  /** Tenant of spans that name none, when the ingest token limits tenants. */
  defaultTenant?: string;
  /** The tenants `audit.tenant` may name (the ingest token's); a span naming another is rejected. Undefined: any. */
  allowedTenants?: readonly string[];
  /** The ingest token's name (column ingest_principal). */
  principal?: string;
  /** Risk for events that state none and inherit none. */
  defaultRisk: string;
  /** Epoch ms of arrival. */
  now: number;
  ingestTime: string;
}

export interface SpanIntake<E extends WaitingEvent = WaitingEvent> {
  nodes: SpanNode[];
  /** Made here; stubs of them when a worker holds them (held.ts). */
  events: E[];
  /** Spans refused by access rules (a tenant outside the token's), by index in the request. */
  rejected: RejectedItem[];
  /** Spans with no audit meaning (kept only as ancestry nodes). */
  dropped: number;
}

export interface LogIntake<E extends WaitingEvent = WaitingEvent> {
  content: Array<[traceId: string, spanId: string, pieces: ContentPiece[]]>;
  /** Records that are audit events of their own (gen_ai.evaluation.result), through the span path. */
  spans?: SpanIntake<E>;
  dropped: number;
}

/** The event id: the same span re-sent gives the same id (128 bits of SHA-256). */
export function eventId(traceId: string, spanId: string): string {
  // Hex of the first 16 bytes, not a slice of the 64-char hex: a sliced string keeps its parent
  // alive, and ids are remembered by the hundred thousand (recent-ids.ts).
  return (hash('sha256', `${traceId}:${spanId}`, 'buffer') as Buffer).toString('hex', 0, 16);
}

export function intakeSpans(spans: TelemetrySpan[], privacy: IntakePrivacy, o: IntakeOptions): SpanIntake<PendingEvent> {
  const nodes: SpanNode[] = [];
  const events: PendingEvent[] = [];
  const rejected: RejectedItem[] = [];
  const resourceCache = new WeakMap<Attributes, { attrs: Record<string, string>; findings: number }>();
  let dropped = 0;
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i];
    const draft = normalizeSpan(span);
    // Identities stay raw in the context (memory and the encrypted write-ahead log only): they are
    // pseudonymized at finalize, under the key of the tenant decided there (policy/privacy.ts).
    // A draft read the span's context already (the same rules: normalize.test.ts checks it).
    let context = draft ? draft.context : spanContext(span);
    const named = context.tenant;
    if (o.allowedTenants && named !== undefined && !o.allowedTenants.includes(named)) {
      // Never stored under another tenant: the span is refused, and so is its place in the ancestry.
      rejected.push({ index: i, reason: `audit.tenant "${named.slice(0, 64)}" is not a tenant of this ingest token` });
      continue;
    }
    if (o.tenant) context.tenant = o.tenant;
    else if (named === undefined && o.defaultTenant) context.tenant = o.defaultTenant;
    // Most spans state no context of their own; their nodes outlive them (late descendants).
    else if (isEmpty(context)) context = NO_CONTEXT;
    const node: SpanNode = { traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId, context };
    nodes.push(node);
    if (!draft) {
      dropped++;
      continue;
    }
    events.push(toPending(span, draft, node, privacy, o, resourceCache));
  }
  return { nodes, events, rejected, dropped };
}

/** The context of the many spans that state none; shared, so never written to. */
const NO_CONTEXT: AuditContext = Object.freeze({});

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

export function intakeLogs(logs: TelemetryLog[], privacy: IntakePrivacy, o: IntakeOptions): LogIntake<PendingEvent> {
  const content: LogIntake['content'] = [];
  const eventSpans: TelemetrySpan[] = [];
  let dropped = 0;
  for (const log of logs) {
    const found = log.traceId && log.spanId ? normalizeLog(log) : null;
    if (!found) {
      const span = logEventSpan(log);
      if (span) eventSpans.push(span);
      else dropped++;
      continue;
    }
    const order = (log.timeUnixNano || log.observedTimeUnixNano || '0').padStart(20, '0');
    content.push([found.traceId, found.spanId, toPieces(found.content, privacy, order)]);
  }
  if (eventSpans.length === 0) return { content, dropped };
  // A record naming a tenant outside the ingest token's is not stored (counted as dropped).
  const spans = intakeSpans(eventSpans, privacy, o);
  return { content, spans, dropped: dropped + spans.rejected.length };
}

function toPending(
  span: TelemetrySpan,
  draft: EventDraft,
  node: SpanNode,
  privacy: IntakePrivacy,
  o: IntakeOptions,
  resourceCache: WeakMap<Attributes, { attrs: Record<string, string>; findings: number }>,
): PendingEvent {
  const f = draft.fields;
  const order = span.startTimeUnixNano.padStart(20, '0');
  const pieces = toPieces(draft.content, privacy, order);
  // Derived attributes (a digest of tool definitions, an evaluator's score) replace raw ones.
  for (const k of draft.derived?.replaces ?? []) draft.consumedKeys.add(k);
  const { attributes, truncated, findings: remainingFindings, rawAttributes } = remainingAttributes(span, draft.consumedKeys, privacy, resourceCache);
  let attrFindings = remainingFindings;
  if (draft.derived) {
    const r = privacy.value(draft.derived.attributes);
    Object.assign(attributes, r.value as Record<string, string>);
    attrFindings += r.findings;
  }
  if (f.provider_raw) attributes['otel_audit.provider_raw'] = f.provider_raw;
  const event: AuditEvent = {
    event_id: eventId(span.traceId, span.spanId),
    tenant: node.context.tenant ?? '',
    ingest_principal: o.principal ?? '',
    event_time: nanosToDateTime64(span.startTimeUnixNano),
    ingest_time: o.ingestTime,
    duration_ns: durationNanos(span.startTimeUnixNano, span.endTimeUnixNano),
    event_type: draft.eventType,
    name: span.name,
    operation: f.operation ?? '',
    trace_id: span.traceId,
    span_id: span.spanId,
    parent_span_id: span.parentSpanId,
    correlation_id: '',
    correlation_source: '',
    links: span.links.map((l) => ({ trace_id: l.traceId, span_id: l.spanId })),
    actor_id: '',
    actor_type: '',
    actor_role: '',
    on_behalf_of: '',
    initiation: '',
    service_name: stringAttr(span.resource['service.name']),
    environment: stringAttr(span.resource['deployment.environment.name'] ?? span.resource['deployment.environment']),
    purpose: '',
    risk: o.defaultRisk,
    provider: f.provider ?? '',
    request_model: f.request_model ?? '',
    response_model: f.response_model ?? '',
    input_tokens: f.input_tokens ?? null,
    output_tokens: f.output_tokens ?? null,
    prompt_version: f.prompt_version ?? '',
    tool_name: f.tool_name ?? '',
    tool_call_id: f.tool_call_id ?? '',
    action: f.action ?? '',
    target_system: f.target_system ?? '',
    target_id: f.target_id ?? '',
    permission: f.permission ?? '',
    approval_required: f.approval_required ?? false,
    sources: (f.sources ?? []).map((s) => ({ ...s })),
    decision: f.decision ?? '',
    reviewer_id: f.reviewer_id ?? '',
    reviewer_role: f.reviewer_role ?? '',
    rationale: f.rationale ?? '',
    edited: f.edited ?? false,
    effect: f.effect ?? '',
    outcome: f.outcome ?? '',
    status: f.status ?? (span.statusCode === 2 ? 'error' : 'ok'),
    error_type: f.error_type ?? '',
    input_digest: '',
    output_digest: '',
    content: '',
    attributes,
    conventions: draft.conventions,
    redactions: 0,
    truncated,
    chain_id: '',
    seq: 0,
    prev_hash: '',
    hash: '',
  };
  // Only model calls are expected to carry content; saying "not captured" elsewhere is noise.
  if (draft.eventType === 'model_call' && draft.contentState !== 'captured' && draft.contentState !== 'empty') {
    event.attributes['otel_audit.content'] = draft.contentState;
  }
  // In key order, as the row stores them (store/rowbinary.ts): the main thread then finds them
  // sorted and need not sort them again (a copy keeps its keys' order).
  event.attributes = sortedKeys(event.attributes);
  // Columns and content pieces add their own counts at finalize (correlate/finalize.ts), where
  // the columns pass the floor and the policy of the decided tenant and risk.
  event.redactions = attrFindings;
  const awaitsContent = draft.eventType === 'model_call' && !pieces.some((p) => p.section === 'output');
  const pending: PendingEvent = { event, node, pieces, awaitsContent, arrivedAt: o.now };
  if (rawAttributes) pending.rawAttributes = rawAttributes;
  return pending;
}

function sortedKeys(m: Record<string, string>): Record<string, string> {
  const keys = Object.keys(m);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1] < keys[i];
  // fromEntries defines each key as an own property, whatever its name.
  return sorted ? m : Object.fromEntries(keys.sort().map((k) => [k, m[k]]));
}

const SECTIONS: Array<[keyof EventContent, ContentSection, boolean]> = [
  ['system', 'system', true],
  ['input', 'input', true],
  ['output', 'output', true],
  ['arguments', 'arguments', false],
  ['result', 'result', false],
  ['query', 'query', false],
];

/** Splits content into pieces: each message on its own, so digests compose across records. */
function toPieces(content: Partial<EventContent>, privacy: IntakePrivacy, order: string): ContentPiece[] {
  const pieces: ContentPiece[] = [];
  for (const [key, section, isList] of SECTIONS) {
    const v = content[key];
    if (v === undefined || v === null) continue;
    const items = isList && Array.isArray(v) ? v : [v];
    items.forEach((item, i) => {
      const raw = JSON.stringify(item) ?? 'null';
      const r = privacy.value(item);
      // Pieces carry JSON text, not object trees: cheaper to copy from a worker thread and to
      // hold, and finalize joins them without serializing again. Unchanged by redaction (the
      // usual case), the redacted JSON is the raw JSON.
      const piece: ContentPiece = {
        section,
        json: r.value === item ? raw : (JSON.stringify(r.value) ?? 'null'),
        digest: hash('sha256', raw, 'hex'),
        order: `${order}:${String(i).padStart(6, '0')}`,
        redactions: r.findings,
      };
      // Kept for sealing (high risk) until finalize; memory and the encrypted write-ahead log only.
      if (privacy.keepsRaw) piece.rawJson = raw;
      pieces.push(piece);
    });
  }
  return pieces;
}

function remainingAttributes(
  span: TelemetrySpan,
  consumed: Set<string>,
  privacy: IntakePrivacy,
  resourceCache: WeakMap<Attributes, { attrs: Record<string, string>; findings: number }>,
): { attributes: Record<string, string>; truncated: string[]; findings: number; rawAttributes?: Record<string, string> } {
  let truncated: string[] = [];
  const raw: Record<string, string> = {};
  for (const key in span.attributes) {
    if (consumed.has(key)) continue;
    const v = span.attributes[key];
    if (key === TRUNCATED_ATTRIBUTE) {
      truncated = String(v).split(',').filter(Boolean);
      continue;
    }
    raw[key] = stringAttr(v);
  }
  const own = privacy.value(raw);
  let res = resourceCache.get(span.resource);
  if (!res) {
    const r: Record<string, string> = {};
    for (const key in span.resource) {
      if (!OMITTED_RESOURCE_KEYS.has(key)) r[`resource.${key}`] = stringAttr(span.resource[key]);
    }
    const red = privacy.value(r);
    res = { attrs: red.value as Record<string, string>, findings: red.findings };
    resourceCache.set(span.resource, res);
  }
  // Raw values a policy rule may apply to, decided at finalize (tenant and risk known then).
  let rawAttributes: Record<string, string> | undefined;
  if (privacy.policy.hasRules) {
    for (const key in span.resource) {
      const k = `resource.${key}`;
      if (!OMITTED_RESOURCE_KEYS.has(key) && privacy.policy.mayMatch(k)) (rawAttributes ??= {})[k] = stringAttr(span.resource[key]);
    }
    for (const key in raw) if (privacy.policy.mayMatch(key)) (rawAttributes ??= {})[key] = raw[key];
  }
  return {
    attributes: { ...res.attrs, ...(own.value as Record<string, string>) },
    truncated,
    findings: own.findings + res.findings,
    rawAttributes,
  };
}

/**
 * Resource attributes not copied into events: a process's command line can carry anything
 * (flags with credentials), and the redactor cannot know every flag's meaning.
 */
const OMITTED_RESOURCE_KEYS = new Set(['process.command_args', 'process.command_line', 'process.command']);

export function stringAttr(v: AttrValue | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? Buffer.from(x).toString('base64') : x));
}
