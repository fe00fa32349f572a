import {
  ATTR_AUDIT_ACTOR_ID,
  ATTR_AUDIT_APPROVAL_DECISION,
  ATTR_AUDIT_CORRELATION_ID,
  ATTR_AUDIT_EFFECT,
  ATTR_AUDIT_RISK,
} from '@otel-audit/semconv';
import { describe, expect, it } from 'vitest';
import { normalizeSpan, spanContext } from '../normalize.ts';
import { loadFixture, makeSpan } from '../testdata/load.ts';

const fx = loadFixture('audit');

describe('audit mapper: event types', () => {
  it('an action awaiting approval is a tool call with its action, target and permission', () => {
    const d = normalizeSpan(fx.span('proposal'))!;
    expect(d.eventType).toBe('tool_call');
    expect(d.fields).toMatchObject({
      action: 'send',
      target_system: 'zendesk',
      target_id: 'ticket/5512',
      approval_required: true,
      permission: 'granted',
      prompt_version: 'reply-v12',
      status: 'ok',
    });
    expect(d.conventions).toEqual(['audit']);
  });

  it('audit.approval.decision makes an approval, with reviewer, rationale and edited', () => {
    const d = normalizeSpan(fx.span('approval'))!;
    expect(d.eventType).toBe('approval');
    expect(d.fields).toMatchObject({
      decision: 'approved',
      reviewer_id: 'sup-3',
      reviewer_role: 'supervisor',
      rationale: 'Tone is fine',
      edited: true,
    });
    expect(d.context).toMatchObject({ actorId: 'sup-3', actorType: 'human', initiation: 'human', correlationId: 'TCK-5512' });
  });

  it("decision 'edited' implies edited = true; a string boolean is read", () => {
    const d = normalizeSpan(fx.span('edited'))!;
    expect(d.fields.edited).toBe(true);
    expect(d.fields.approval_required).toBe(false);
  });

  it("audit.effect makes a system effect, but 'none' does not", () => {
    const effect = normalizeSpan(fx.span('effect'))!;
    expect(effect.eventType).toBe('system_effect');
    expect(effect.fields.effect).toBe('message_sent');
    const none = normalizeSpan(fx.span('no-effect'))!;
    expect(none.eventType).toBe('tool_call');
    expect(none.fields.effect).toBe('none');
  });

  it('audit.outcome makes an outcome', () => {
    const d = normalizeSpan(fx.span('outcome'))!;
    expect(d.eventType).toBe('outcome');
    expect(d.fields.outcome).toBe('completed');
  });

  it('audit.event.type overrides every convention', () => {
    const d = normalizeSpan(fx.span('override'))!;
    expect(d.eventType).toBe('outcome');
    expect(d.conventions).toEqual(['audit', 'otel_genai']);
  });

  it('priority: approval > effect > outcome > tool', () => {
    const d = normalizeSpan(
      makeSpan({
        attributes: {
          [ATTR_AUDIT_APPROVAL_DECISION]: 'rejected',
          [ATTR_AUDIT_EFFECT]: 'record_updated',
          'audit.outcome': 'failed',
          'audit.tool.action': 'update',
        },
      }),
    )!;
    expect(d.eventType).toBe('approval');
  });

  it('a denied permission makes status denied', () => {
    const d = normalizeSpan(fx.span('denied-tool'))!;
    expect(d.eventType).toBe('tool_call');
    expect(d.fields.permission).toBe('denied');
    expect(d.fields.status).toBe('denied');
  });

  it('audit.sources are read as sources', () => {
    const d = normalizeSpan(fx.span('odd'))!;
    expect(d.fields.sources).toEqual([
      { id: 'doc-1', uri: 's3://kb/doc-1', version: '3', sensitivity: 'internal', score: 0.8 },
      { id: 'doc-2', uri: '', version: '', sensitivity: '', score: null },
    ]);
  });
});

describe('audit mapper: validation', () => {
  it('keeps unknown closed-enum values lowercased, noted, never changed', () => {
    const d = normalizeSpan(fx.span('odd'))!;
    expect(d.fields.decision).toBe('maybe');
    expect(d.fields.permission).toBe('denied');
    expect(d.context.actorType).toBe('robot');
    expect(d.notes).toContain("audit.actor.type: unknown value 'robot' kept as is");
    expect(d.notes).toContain("audit.approval.decision: unknown value 'maybe' kept as is");
  });

  it('an invalid risk is left out of the context, noted, and kept raw in attributes', () => {
    const d = normalizeSpan(fx.span('odd'))!;
    expect(d.context.risk).toBeUndefined();
    expect(d.notes?.some((n) => n.startsWith(`${ATTR_AUDIT_RISK}: invalid value 'extreme'`))).toBe(true);
    expect(d.consumedKeys.has(ATTR_AUDIT_RISK)).toBe(false);
  });

  it('an unknown audit.event.type is ignored (the span still maps by its other attributes)', () => {
    const d = normalizeSpan(fx.span('odd'))!;
    expect(d.eventType).toBe('approval');
    expect(d.consumedKeys.has('audit.event.type')).toBe(false);
  });

  it('valid values are lowercased', () => {
    const ctx = spanContext(fx.span('http'));
    expect(ctx.risk).toBe('high');
    expect(ctx.actorType).toBe('agent');
  });
});

describe('audit mapper: context', () => {
  it('reads every context attribute of an entry span (a request event), and the tenant from the resource', () => {
    const span = fx.span('http');
    expect(normalizeSpan(span)?.eventType).toBe('request');
    expect(spanContext(span)).toEqual({
      tenant: 'globex',
      correlationId: 'TCK-5512',
      correlationSource: 'attribute',
      actorId: 'agent-7',
      actorType: 'agent',
      onBehalfOf: 'u-204',
      initiation: 'ai_assisted',
      purpose: 'draft',
      risk: 'high',
    });
  });

  it('falls back to enduser.id / user.id (human) and session.id', () => {
    expect(spanContext(fx.span('session-root'))).toEqual({
      tenant: 'globex',
      actorId: 'alice',
      actorType: 'human',
      correlationId: 'web-sess-9',
      correlationSource: 'session',
    });
  });

  it('audit.correlation_id beats gen_ai.conversation.id beats session.id, whatever the order', () => {
    const span = makeSpan({
      attributes: { 'session.id': 's', 'gen_ai.conversation.id': 'c', [ATTR_AUDIT_CORRELATION_ID]: 'a' },
    });
    expect(spanContext(span)).toMatchObject({ correlationId: 'a', correlationSource: 'attribute' });
    const noAudit = makeSpan({ attributes: { 'session.id': 's', 'gen_ai.conversation.id': 'c' } });
    expect(spanContext(noAudit)).toMatchObject({ correlationId: 'c', correlationSource: 'conversation' });
  });

  it('audit.actor.id wins over user.id', () => {
    const span = makeSpan({ attributes: { 'user.id': 'u', [ATTR_AUDIT_ACTOR_ID]: 'svc-1', 'audit.actor.type': 'service' } });
    expect(spanContext(span)).toMatchObject({ actorId: 'svc-1', actorType: 'service' });
  });

  it('the resource audit.tenant wins over a span attribute, which fills in when the resource has none', () => {
    const both = makeSpan({ attributes: { 'audit.tenant': 'other' }, resource: { 'audit.tenant': 'acme' } });
    expect(spanContext(both).tenant).toBe('acme');
    const spanOnly = makeSpan({ attributes: { 'audit.tenant': 'acme' }, resource: { 'service.name': 'x' } });
    expect(spanContext(spanOnly).tenant).toBe('acme');
  });
});

describe('audit mapper: request events', () => {
  it('makes the root span that states the case and actor a request event', () => {
    const root = makeSpan({ name: 'POST /support/answer', kind: 2, attributes: { 'audit.correlation_id': 'CASE-1', 'audit.actor.id': 'agent-1' } });
    expect(normalizeSpan(root)?.eventType).toBe('request');
  });

  it('does not make an inner span with only stamped context an event', () => {
    const inner = makeSpan({ name: 'db query', kind: 3, parentSpanId: '1'.repeat(16), attributes: { 'audit.correlation_id': 'CASE-1', 'audit.actor.id': 'agent-1' } });
    expect(normalizeSpan(inner)).toBeNull();
  });

  it('a more specific statement on the root wins', () => {
    const root = makeSpan({ name: 'approval', attributes: { 'audit.correlation_id': 'CASE-1', 'audit.approval.decision': 'approved' } });
    expect(normalizeSpan(root)?.eventType).toBe('approval');
  });
});

describe('audit: human oversight, model lineage, deployments', () => {
  const o = loadFixture('audit-oversight');

  it('records an override: decision overridden, the AI original as input and the human final as output', () => {
    const d = normalizeSpan(o.span('override'))!;
    expect(d.eventType).toBe('approval');
    expect(d.fields).toMatchObject({ decision: 'overridden', edited: true, reviewer_id: 'adjuster-17', rationale: 'Policy excludes flood' });
    expect(d.content.input).toEqual([{ role: 'assistant', parts: [{ type: 'text', content: 'Your claim is approved: 1,200 EUR.' }] }]);
    expect(d.content.output).toEqual([{ role: 'human', parts: [{ type: 'text', content: 'Your claim is declined: flood damage is excluded by your policy.' }] }]);
    expect(d.consumedKeys.has('audit.override.original_output')).toBe(true);
    // The reviewer's time on task stays in attributes.
    expect(d.consumedKeys.has('audit.approval.review.duration_ms')).toBe(false);
  });

  it('reads the original of an edit given as GenAI messages', () => {
    const d = normalizeSpan(o.span('edit'))!;
    expect(d.fields.decision).toBe('edited');
    expect(d.content.input![0]!.parts[0]).toEqual({ type: 'text', content: 'Dear Sir,' });
    expect(d.content.output![0]!.role).toBe('human');
  });

  it('records an escalation from whom and why; to whom stays in attributes', () => {
    const d = normalizeSpan(o.span('escalate'))!;
    expect(d.fields).toMatchObject({ decision: 'escalated', reviewer_id: 'adjuster-17', rationale: 'Possible fraud indicators' });
    expect(d.consumedKeys.has('audit.escalation.to')).toBe(false);
  });

  it('keeps model lineage on a model call in attributes (for the derived columns)', () => {
    const d = normalizeSpan(o.span('draft'))!;
    expect(d.eventType).toBe('model_call');
    for (const k of ['audit.model.registry', 'audit.model.version', 'audit.model.run_id']) expect(d.consumedKeys.has(k)).toBe(false);
  });

  it('makes a deployment event: platform and environment as the target, approver as reviewer', () => {
    const d = normalizeSpan(o.span('deploy'))!;
    expect(d.eventType).toBe('deployment');
    expect(d.fields).toMatchObject({ target_system: 'databricks-model-serving', target_id: 'prod', action: 'deploy', reviewer_id: 'model-risk-officer-1' });
    expect(d.context.actorId).toBe('ml-engineer-3');
    expect(d.consumedKeys.has('audit.model.version')).toBe(false);
  });

  it('accepts audit.event.type=evaluation', () => {
    const d = normalizeSpan(o.span('eval'))!;
    expect(d.eventType).toBe('evaluation');
    expect(d.notes).toBeUndefined();
  });
});
