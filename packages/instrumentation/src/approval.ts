import { diag, isValidSpanId, isValidTraceId, SpanKind, trace, TraceFlags, type Attributes, type Span, type SpanContext } from '@opentelemetry/api';
import {
  ATTR_AUDIT_APPROVAL_DECISION,
  ATTR_AUDIT_APPROVAL_EDITED,
  ATTR_AUDIT_APPROVAL_EDITS,
  ATTR_AUDIT_APPROVAL_RATIONALE,
  ATTR_AUDIT_APPROVAL_REVIEWER_ID,
  ATTR_AUDIT_APPROVAL_REVIEWER_ROLE,
  ATTR_AUDIT_CORRELATION_ID,
  ATTR_AUDIT_EVENT_TYPE,
  APPROVAL_DECISION_VALUES,
  EVENT_TYPE_VALUES,
  type ApprovalDecision,
} from '@otel-audit/semconv';
import { getAuditConfig } from './config.ts';
import { getAuditContext } from './context.ts';
import type { CommonOptions } from './helpers.ts';
import { recordInstant } from './internal/run.ts';
import { auditTracingStatus, warnUnusable } from './tracing.ts';
import { nameSuffix, put, reportInternalError, safeJson } from './internal/safe.ts';

export const PROPOSAL_REF_PREFIX = 'otel-audit-ref:v1:';

/** Thrown by `parseProposalRef` for a string that is not a proposal reference. */
export class ProposalRefError extends Error {
  override name = 'ProposalRefError';
}

/** What a proposal reference points at. */
export interface ProposalReference {
  /** The proposing span; undefined when the ref was made without a valid span. */
  spanContext: SpanContext | undefined;
  correlationId: string | undefined;
}

function isSpan(value: unknown): value is Span {
  return typeof (value as { spanContext?: unknown } | undefined)?.spanContext === 'function';
}

/**
 * A string that identifies a proposed action, to store beside it (a queue row, a ticket)
 * until someone reviews it, possibly hours later in another process:
 *
 *   otel-audit-ref:v1:<traceId>:<spanId>:<correlationId>
 *
 * traceId (32) and spanId (16) are lowercase hex, both empty when there was no valid span
 * (tracing off); correlationId is percent-encoded (encodeURIComponent), empty when unknown.
 * `target` defaults to the active span. The correlation id comes from `options`, else the
 * span's own `audit.correlation_id` (SDK spans), else the active audit context.
 */
export function proposalRef(target?: Span | SpanContext, options: { correlationId?: string } = {}): string {
  try {
    const span = target === undefined ? trace.getActiveSpan() : isSpan(target) ? target : undefined;
    const sc = span !== undefined ? span.spanContext() : (target as SpanContext | undefined);
    let correlationId = options.correlationId;
    if (correlationId === undefined && span !== undefined) {
      const own = (span as { attributes?: Attributes }).attributes?.[ATTR_AUDIT_CORRELATION_ID];
      if (typeof own === 'string') correlationId = own;
    }
    correlationId ??= getAuditContext()?.correlationId;
    const valid = sc !== undefined && isValidTraceId(sc.traceId) && isValidSpanId(sc.spanId);
    if (!valid) warnNoSpan(target === undefined);
    const ids = valid ? `${sc.traceId}:${sc.spanId}` : ':';
    return `${PROPOSAL_REF_PREFIX}${ids}:${encodeURIComponent(correlationId ?? '')}`;
  } catch (err) {
    reportInternalError('proposalRef', err);
    return `${PROPOSAL_REF_PREFIX}::`;
  }
}

let warnedNoSpan = false;

/**
 * A ref without span ids links no approval to its proposal: say why, once. When tracing
 * itself is off (no usable tracer provider), that is the reason; otherwise there was no
 * active span (or the given one was invalid).
 */
function warnNoSpan(active: boolean): void {
  const status = auditTracingStatus(getAuditConfig().tracerProvider);
  if (!status.usable) {
    warnUnusable(status);
    return;
  }
  if (warnedNoSpan) return;
  warnedNoSpan = true;
  diag.warn(
    `@otel-audit/instrumentation: proposalRef() ${active ? 'found no active span' : 'was given an invalid span'}: the ref carries no span ids, ` +
      'so the approval recorded with it will not be linked to the proposal. Call it inside the proposing span (e.g. in traceToolCall).',
  );
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parses a ref made by `proposalRef`, or a W3C `traceparent` value
 * (`00-<traceId>-<spanId>-<flags>`, which carries no correlation id).
 * Throws ProposalRefError saying what is wrong.
 */
export function parseProposalRef(ref: string): ProposalReference {
  if (typeof ref !== 'string') throw new ProposalRefError(`proposal ref must be a string, got ${typeof ref}`);
  const text = ref.trim();
  const shown = text.length > 120 ? `${text.slice(0, 120)}…` : text;
  const tp = TRACEPARENT.exec(text.toLowerCase());
  if (tp !== null) {
    if (tp[1] === 'ff') throw new ProposalRefError(`invalid traceparent "${shown}": version ff is forbidden`);
    if (tp[1] === '00' && tp[5] !== undefined) throw new ProposalRefError(`invalid traceparent "${shown}": version 00 has exactly 4 fields`);
    const [, , traceId, spanId, flags] = tp;
    if (!isValidTraceId(traceId)) throw new ProposalRefError(`invalid traceparent "${shown}": trace id is all zeros`);
    if (!isValidSpanId(spanId)) throw new ProposalRefError(`invalid traceparent "${shown}": span id is all zeros`);
    return { spanContext: { traceId, spanId, traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true }, correlationId: undefined };
  }
  if (!text.startsWith('otel-audit-ref:')) {
    throw new ProposalRefError(`invalid proposal ref "${shown}": expected "${PROPOSAL_REF_PREFIX}<traceId>:<spanId>:<correlationId>" or a W3C traceparent`);
  }
  if (!text.startsWith(PROPOSAL_REF_PREFIX)) {
    throw new ProposalRefError(`unsupported proposal ref version in "${shown}": this library reads ${PROPOSAL_REF_PREFIX}`);
  }
  const fields = text.slice(PROPOSAL_REF_PREFIX.length).split(':');
  if (fields.length < 3) {
    throw new ProposalRefError(`invalid proposal ref "${shown}": expected 3 fields after "${PROPOSAL_REF_PREFIX}" (<traceId>:<spanId>:<correlationId>), got ${fields.length}`);
  }
  const traceId = fields[0].toLowerCase();
  const spanId = fields[1].toLowerCase();
  // A raw ':' inside the correlation id is tolerated (proposalRef itself encodes it).
  const rawCorrelation = fields.slice(2).join(':');
  let spanContext: SpanContext | undefined;
  if (traceId === '' && spanId === '') {
    spanContext = undefined;
  } else {
    if (!/^[0-9a-f]{32}$/.test(traceId)) throw new ProposalRefError(`invalid proposal ref "${shown}": trace id must be 32 hex digits, got "${fields[0]}"`);
    if (!/^[0-9a-f]{16}$/.test(spanId)) throw new ProposalRefError(`invalid proposal ref "${shown}": span id must be 16 hex digits, got "${fields[1]}"`);
    if (!isValidTraceId(traceId)) throw new ProposalRefError(`invalid proposal ref "${shown}": trace id is all zeros`);
    if (!isValidSpanId(spanId)) throw new ProposalRefError(`invalid proposal ref "${shown}": span id is all zeros`);
    // The proposal's sampling decision is unknown here; a link does not need it.
    spanContext = { traceId, spanId, traceFlags: TraceFlags.NONE, isRemote: true };
  }
  let correlationId: string;
  try {
    correlationId = decodeURIComponent(rawCorrelation);
  } catch {
    throw new ProposalRefError(`invalid proposal ref "${shown}": correlation id is not valid percent-encoding`);
  }
  return { spanContext, correlationId: correlationId === '' ? undefined : correlationId };
}

export interface ApprovalReviewer {
  id: string;
  role?: string;
}

export interface ApprovalOptions extends CommonOptions {
  /** The proposing span: its SpanContext, or a ref from `proposalRef` (or a traceparent). */
  proposal: SpanContext | string;
  decision: ApprovalDecision;
  reviewer: ApprovalReviewer;
  rationale?: string;
  /** The reviewer's changes: sets audit.approval.edited; the edits themselves only with captureContent on. */
  edits?: unknown;
  /** Overrides the correlation id taken from the ref or the active audit context. */
  correlationId?: string;
}

export interface ApprovalRecord {
  /** The approval span's context; undefined if it could not be recorded. */
  spanContext: SpanContext | undefined;
  /** Whether the approval span links to the proposal. */
  linked: boolean;
  correlationId: string | undefined;
  /** Why the proposal could not be linked (an unreadable ref, an invalid SpanContext). */
  error?: string;
}

/**
 * Records a human decision on a proposed action: a span `approval {decision}`, ended at once,
 * child of the active span, with an OTel link to the proposal (which may be in another trace)
 * and the proposal's correlation id. A bad `proposal` never throws: the decision is still
 * recorded, unlinked, and `error` says why.
 */
export function recordApproval(options: ApprovalOptions): ApprovalRecord {
  try {
    return recordApprovalUnsafe(options);
  } catch (err) {
    reportInternalError('recordApproval', err);
    return { spanContext: undefined, linked: false, correlationId: undefined, error: err instanceof Error ? err.message : String(err) };
  }
}

function recordApprovalUnsafe(options: ApprovalOptions): ApprovalRecord {
  let reference: ProposalReference = { spanContext: undefined, correlationId: undefined };
  let error: string | undefined;
  try {
    if (typeof options.proposal === 'string') {
      reference = parseProposalRef(options.proposal);
      if (reference.spanContext === undefined) error = 'the proposal ref names no span (it was made without an active span)';
    } else if (trace.isSpanContextValid(options.proposal)) {
      reference = { spanContext: options.proposal, correlationId: undefined };
    } else {
      error = 'the proposal is not a valid SpanContext';
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    reportInternalError('recordApproval', err);
  }
  const correlationId = options.correlationId ?? reference.correlationId ?? getAuditContext()?.correlationId;
  const proposal = reference.spanContext;
  const spanContext = recordInstant(
    'recordApproval',
    () => {
      const decision = options.decision;
      const attributes: Attributes = { [ATTR_AUDIT_EVENT_TYPE]: EVENT_TYPE_VALUES.APPROVAL };
      put(attributes, ATTR_AUDIT_APPROVAL_DECISION, decision);
      put(attributes, ATTR_AUDIT_APPROVAL_REVIEWER_ID, options.reviewer?.id);
      put(attributes, ATTR_AUDIT_APPROVAL_REVIEWER_ROLE, options.reviewer?.role);
      put(attributes, ATTR_AUDIT_APPROVAL_RATIONALE, options.rationale);
      put(attributes, ATTR_AUDIT_CORRELATION_ID, correlationId);
      attributes[ATTR_AUDIT_APPROVAL_EDITED] = options.edits !== undefined || decision === APPROVAL_DECISION_VALUES.EDITED;
      if (options.edits !== undefined && getAuditConfig().captureContent) {
        put(attributes, ATTR_AUDIT_APPROVAL_EDITS, typeof options.edits === 'string' ? options.edits : safeJson(options.edits));
      }
      const name = `approval${nameSuffix(decision)}`;
      return { name, kind: SpanKind.INTERNAL, attributes, links: proposal === undefined ? [] : [{ context: proposal }] };
    },
    options?.attributes,
  );
  const record: ApprovalRecord = { spanContext, linked: spanContext !== undefined && proposal !== undefined, correlationId };
  if (error !== undefined) record.error = error;
  return record;
}
