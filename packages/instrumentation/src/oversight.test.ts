import { trace } from '@opentelemetry/api';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setupGlobalTracing } from '../test/harness.ts';
import { configureAudit, proposalRef, recordDeployment, recordEscalation, recordEvaluation, recordOverride, withAuditContext } from './index.ts';

const h = setupGlobalTracing();
beforeEach(() => h.reset());
afterEach(() => configureAudit({ captureContent: false }));

/** A model call whose output a person later replaces or evaluates. */
function aiOutput(): { ref: string; spanId: string } {
  let ref = '';
  let spanId = '';
  withAuditContext({ correlationId: 'CLAIM-9' }, () => {
    const span = trace.getTracer('t').startSpan('chat gpt-5');
    spanId = span.spanContext().spanId;
    ref = proposalRef(span);
    span.end();
  });
  return { ref, spanId };
}

describe('recordOverride', () => {
  it('records overridden, linked to the AI output; the original digest always, the texts only with captureContent', () => {
    const { ref, spanId } = aiOutput();
    const r = recordOverride({ proposal: ref, reviewer: { id: 'adjuster-17', role: 'senior' }, originalOutput: 'approve 1200', finalOutput: 'decline', rationale: 'flood excluded', reviewDurationMs: 95000 });
    expect(r.linked).toBe(true);
    expect(r.correlationId).toBe('CLAIM-9');
    const s = h.span('approval overridden');
    expect(s.links.map((l) => l.context.spanId)).toEqual([spanId]);
    expect(s.attributes).toMatchObject({
      'audit.approval.decision': 'overridden',
      'audit.approval.reviewer.id': 'adjuster-17',
      'audit.approval.rationale': 'flood excluded',
      'audit.approval.review.duration_ms': 95000,
      'audit.override.original_output.sha256': createHash('sha256').update('approve 1200').digest('hex'),
    });
    expect(s.attributes['audit.override.original_output']).toBeUndefined();
    expect(s.attributes['audit.override.final_output']).toBeUndefined();

    h.reset();
    configureAudit({ captureContent: true });
    recordOverride({ proposal: ref, reviewer: { id: 'a' }, originalOutput: [{ role: 'assistant', parts: [{ type: 'text', content: 'x' }] }], finalOutput: 'y', decision: 'edited' });
    const e = h.span('approval edited');
    expect(e.attributes['audit.override.original_output']).toBe('[{"role":"assistant","parts":[{"type":"text","content":"x"}]}]');
    expect(e.attributes['audit.override.final_output']).toBe('y');
  });

  it('never throws on a bad proposal: recorded unlinked, with the reason', () => {
    const r = recordOverride({ proposal: 'nonsense', reviewer: { id: 'a' }, originalOutput: 'o', finalOutput: 'f' });
    expect(r.linked).toBe(false);
    expect(r.error).toMatch(/invalid proposal ref/);
    expect(h.span('approval overridden').attributes['audit.approval.decision']).toBe('overridden');
  });
});

describe('recordEscalation', () => {
  it('records from whom, to whom and why', () => {
    const { ref } = aiOutput();
    recordEscalation({ proposal: ref, from: { id: 'adjuster-17' }, to: 'claims-legal', reason: 'fraud indicators' });
    expect(h.span('approval escalated').attributes).toMatchObject({
      'audit.approval.decision': 'escalated',
      'audit.approval.reviewer.id': 'adjuster-17',
      'audit.escalation.from': 'adjuster-17',
      'audit.escalation.to': 'claims-legal',
      'audit.escalation.reason': 'fraud indicators',
    });
  });
});

describe('recordEvaluation', () => {
  it('records the GenAI evaluation attributes linked to the evaluated span; the explanation only with captureContent', () => {
    const { ref, spanId } = aiOutput();
    recordEvaluation({ name: 'relevance', score: 0.82, label: 'relevant', explanation: 'on topic', target: ref, responseId: 'resp_1' });
    const s = h.span('evaluation relevance');
    expect(s.links.map((l) => l.context.spanId)).toEqual([spanId]);
    expect(s.attributes).toEqual({
      'audit.event.type': 'evaluation',
      'gen_ai.evaluation.name': 'relevance',
      'gen_ai.evaluation.score.value': 0.82,
      'gen_ai.evaluation.score.label': 'relevant',
      'gen_ai.response.id': 'resp_1',
      'audit.correlation_id': 'CLAIM-9',
    });
    h.reset();
    configureAudit({ captureContent: true });
    recordEvaluation({ name: 'bias', score: 0.04, explanation: 'parity within bounds' });
    expect(h.span('evaluation bias').attributes['gen_ai.evaluation.explanation']).toBe('parity within bounds');
    expect(h.span('evaluation bias').links).toEqual([]);
  });
});

describe('recordDeployment', () => {
  it('records which model version went where on which platform, approved by whom; the actor from the context', () => {
    withAuditContext({ actor: { id: 'ml-engineer-3', type: 'human' } }, () =>
      recordDeployment({ model: { registry: 'mlflow', name: 'claims-triage', version: '7', runId: 'r1' }, environment: 'prod', platform: 'sagemaker', approvedBy: { id: 'risk-1', role: 'model_risk' } }),
    );
    expect(h.span('deployment claims-triage 7').attributes).toMatchObject({
      'audit.event.type': 'deployment',
      'audit.model.registry': 'mlflow',
      'audit.model.name': 'claims-triage',
      'audit.model.version': '7',
      'audit.model.run_id': 'r1',
      'audit.deployment.environment': 'prod',
      'audit.deployment.platform': 'sagemaker',
      'audit.approval.reviewer.id': 'risk-1',
      'audit.approval.reviewer.role': 'model_risk',
      'audit.actor.id': 'ml-engineer-3',
    });
  });
});
