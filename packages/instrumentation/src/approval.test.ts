import { context, ROOT_CONTEXT, trace, TraceFlags, type SpanContext } from '@opentelemetry/api';
import {
  ATTR_AUDIT_ACTOR_ID,
  ATTR_AUDIT_ACTOR_TYPE,
  ATTR_AUDIT_APPROVAL_DECISION,
  ATTR_AUDIT_APPROVAL_EDITED,
  ATTR_AUDIT_APPROVAL_EDITS,
  ATTR_AUDIT_APPROVAL_RATIONALE,
  ATTR_AUDIT_APPROVAL_REQUIRED,
  ATTR_AUDIT_APPROVAL_REVIEWER_ID,
  ATTR_AUDIT_APPROVAL_REVIEWER_ROLE,
  ATTR_AUDIT_CORRELATION_ID,
  ATTR_AUDIT_EVENT_TYPE,
} from '@otel-audit/semconv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setupGlobalTracing } from '../test/harness.ts';
import { configureAudit, parseProposalRef, proposalRef, ProposalRefError, recordApproval, traceToolCall, withAuditContext } from './index.ts';

const h = setupGlobalTracing();
beforeEach(() => h.reset());
afterEach(() => configureAudit({ captureContent: false }));

const REF = /^otel-audit-ref:v1:([0-9a-f]{32}):([0-9a-f]{16}):(.*)$/;

/** The agent proposes an action that needs approval and stores the ref (e.g. in a queue). */
function propose(correlationId: string): { ref: string; proposal: SpanContext } {
  let ref = '';
  let proposal: SpanContext | undefined;
  withAuditContext({ correlationId, actor: { id: 'agent-1', type: 'agent' } }, () =>
    traceToolCall({ name: 'send_refund', action: 'send', approvalRequired: true }, (tool) => {
      ref = proposalRef();
      proposal = tool.span.spanContext();
    }),
  );
  return { ref, proposal: proposal! };
}

describe('proposalRef / parseProposalRef', () => {
  it('serializes the active span and the correlation id, and parses back', () => {
    const { ref, proposal } = propose('case 7:a/b');
    const m = REF.exec(ref);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(proposal.traceId);
    expect(m![2]).toBe(proposal.spanId);
    expect(m![3]).toBe('case%207%3Aa%2Fb');
    const parsed = parseProposalRef(ref);
    expect(parsed.correlationId).toBe('case 7:a/b');
    expect(parsed.spanContext).toEqual({ traceId: proposal.traceId, spanId: proposal.spanId, traceFlags: TraceFlags.NONE, isRemote: true });
  });

  it('takes a Span (reading its own correlation id) or a SpanContext, and an explicit correlation id', () => {
    const span = trace.getTracer('t').startSpan('p', { attributes: { [ATTR_AUDIT_CORRELATION_ID]: 'from-span' } });
    const sc = span.spanContext();
    expect(proposalRef(span)).toBe(`otel-audit-ref:v1:${sc.traceId}:${sc.spanId}:from-span`);
    expect(proposalRef(sc)).toBe(`otel-audit-ref:v1:${sc.traceId}:${sc.spanId}:`);
    expect(proposalRef(sc, { correlationId: 'X' })).toBe(`otel-audit-ref:v1:${sc.traceId}:${sc.spanId}:X`);
    span.end();
  });

  it('without an active span: empty ids, still the correlation id', () => {
    const ref = context.with(ROOT_CONTEXT, () => withAuditContext({ correlationId: 'c-9' }, () => proposalRef()));
    expect(ref).toBe('otel-audit-ref:v1:::c-9');
    expect(parseProposalRef(ref)).toEqual({ spanContext: undefined, correlationId: 'c-9' });
  });

  it('accepts a W3C traceparent', () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(parseProposalRef(tp)).toEqual({
      spanContext: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true },
      correlationId: undefined,
    });
  });

  it.each([
    ['not-a-ref', /expected "otel-audit-ref:v1:<traceId>:<spanId>:<correlationId>" or a W3C traceparent/],
    ['otel-audit-ref:v2:a:b:c', /unsupported proposal ref version/],
    ['otel-audit-ref:v1:abc', /expected 3 fields/],
    ['otel-audit-ref:v1:xyz:b7ad6b7169203331:c', /trace id must be 32 hex digits, got "xyz"/],
    ['otel-audit-ref:v1:0af7651916cd43dd8448eb211c80319c::c', /span id must be 16 hex digits/],
    ['otel-audit-ref:v1:00000000000000000000000000000000:b7ad6b7169203331:c', /trace id is all zeros/],
    ['otel-audit-ref:v1:0af7651916cd43dd8448eb211c80319c:0000000000000000:c', /span id is all zeros/],
    ['otel-audit-ref:v1:0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331:%E0%A4%A', /not valid percent-encoding/],
    ['ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', /version ff is forbidden/],
  ])('rejects %s with a clear error', (ref, message) => {
    expect(() => parseProposalRef(ref)).toThrow(ProposalRefError);
    expect(() => parseProposalRef(ref)).toThrow(message);
  });
});

describe('recordApproval', () => {
  it('links to a proposal given as a SpanContext, with every approval attribute', () => {
    const { proposal } = propose('case-1');
    const rec = withAuditContext({ correlationId: 'case-1', actor: { id: 'rev-app', type: 'service' } }, () =>
      recordApproval({ proposal, decision: 'approved', reviewer: { id: 'u-42', role: 'supervisor' }, rationale: 'within policy' }),
    );
    expect(rec.linked).toBe(true);
    expect(rec.error).toBeUndefined();
    const span = h.span('approval approved');
    expect(span.spanContext()).toEqual(rec.spanContext);
    expect(span.links).toEqual([{ context: proposal }]);
    expect(span.attributes).toEqual({
      [ATTR_AUDIT_CORRELATION_ID]: 'case-1',
      [ATTR_AUDIT_ACTOR_ID]: 'rev-app',
      [ATTR_AUDIT_ACTOR_TYPE]: 'service',
      [ATTR_AUDIT_EVENT_TYPE]: 'approval',
      [ATTR_AUDIT_APPROVAL_DECISION]: 'approved',
      [ATTR_AUDIT_APPROVAL_REVIEWER_ID]: 'u-42',
      [ATTR_AUDIT_APPROVAL_REVIEWER_ROLE]: 'supervisor',
      [ATTR_AUDIT_APPROVAL_RATIONALE]: 'within policy',
      [ATTR_AUDIT_APPROVAL_EDITED]: false,
    });
    expect(h.span('execute_tool send_refund').attributes[ATTR_AUDIT_APPROVAL_REQUIRED]).toBe(true);
  });

  it('links across traces from a serialized ref and carries its correlation id', () => {
    const { ref, proposal } = propose('case-2');
    // Hours later, in the review service: a different trace and no audit context at all.
    const rec = context.with(ROOT_CONTEXT, () =>
      trace.getTracer('review-ui').startActiveSpan('POST /reviews', (req) => {
        const r = recordApproval({ proposal: ref, decision: 'edited', reviewer: { id: 'u-7' }, edits: { amount: 40 } });
        req.end();
        return r;
      }),
    );
    expect(rec).toMatchObject({ linked: true, correlationId: 'case-2' });
    const span = h.span('approval edited');
    expect(span.links).toEqual([{ context: { traceId: proposal.traceId, spanId: proposal.spanId, traceFlags: TraceFlags.NONE, isRemote: true } }]);
    expect(span.spanContext().traceId).not.toBe(proposal.traceId);
    expect(span.parentSpanContext?.spanId).toBe(h.span('POST /reviews').spanContext().spanId);
    expect(span.attributes[ATTR_AUDIT_CORRELATION_ID]).toBe('case-2');
    expect(span.attributes[ATTR_AUDIT_APPROVAL_EDITED]).toBe(true);
    // Edits are content: not recorded unless captureContent is on.
    expect(span.attributes[ATTR_AUDIT_APPROVAL_EDITS]).toBeUndefined();
  });

  it('records the edits with captureContent on; the ref’s correlation id beats the ambient one', () => {
    configureAudit({ captureContent: true });
    const { ref } = propose('case-3');
    withAuditContext({ correlationId: 'unrelated' }, () =>
      recordApproval({ proposal: ref, decision: 'approved', reviewer: { id: 'u' }, edits: { amount: 40 } }),
    );
    const attrs = h.span('approval approved').attributes;
    expect(attrs[ATTR_AUDIT_APPROVAL_EDITS]).toBe('{"amount":40}');
    expect(attrs[ATTR_AUDIT_CORRELATION_ID]).toBe('case-3');
  });

  it('a bad proposal never throws: the decision is recorded unlinked, with the reason', () => {
    const rec = recordApproval({ proposal: 'garbage', decision: 'rejected', reviewer: { id: 'u' }, correlationId: 'case-4' });
    expect(rec.linked).toBe(false);
    expect(rec.error).toMatch(/invalid proposal ref "garbage"/);
    expect(h.span('approval rejected').links).toEqual([]);
    expect(h.span('approval rejected').attributes[ATTR_AUDIT_CORRELATION_ID]).toBe('case-4');

    const invalid = recordApproval({ proposal: trace.wrapSpanContext({ traceId: '0', spanId: '0', traceFlags: 0 }).spanContext(), decision: 'blocked', reviewer: { id: 'u' } });
    expect(invalid).toMatchObject({ linked: false, error: 'the proposal is not a valid SpanContext' });
    expect(recordApproval(undefined as never)).toMatchObject({ linked: false, spanContext: undefined });
  });
});
