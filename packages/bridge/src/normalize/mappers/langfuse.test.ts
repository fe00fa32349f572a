import { describe, expect, it } from 'vitest';
import { normalizeSpan, spanContext } from '../normalize.ts';
import { loadFixture } from '../testdata/load.ts';

const fx = loadFixture('langfuse');

describe('langfuse mapper', () => {
  it('a generation: model, usage details, prompt name:version, messages', () => {
    const d = normalizeSpan(fx.span('generation'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields).toMatchObject({
      request_model: 'gpt-4o',
      input_tokens: 50,
      output_tokens: 12,
      prompt_version: 'it-support-answer:3',
      operation: 'generation',
    });
    expect(d.content.system).toEqual([{ role: 'system', parts: [{ type: 'text', content: 'You are IT support.' }] }]);
    expect(d.content.input).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'Reset my VPN token' }] }]);
    expect(d.content.output).toEqual([{ role: 'assistant', parts: [{ type: 'text', content: 'I will reset it now.' }] }]);
    expect(d.context).toEqual({ actorId: 'emp-204', actorType: 'human', correlationId: 'ticket-5512', correlationSource: 'session' });
  });

  it('a root agent is a request; a nested chain, a span and an event make none', () => {
    const agent = normalizeSpan(fx.span('agent'))!;
    expect(agent.eventType).toBe('request');
    expect(agent.content.arguments).toEqual({ question: 'Reset my VPN token' });
    expect(agent.consumedKeys.has('langfuse.trace.input')).toBe(true);
    expect(normalizeSpan(fx.span('chain'))).toBeNull();
    expect(normalizeSpan(fx.span('span'))).toBeNull();
    expect(normalizeSpan(fx.span('event'))).toBeNull();
    expect(spanContext(fx.span('chain'))).toMatchObject({ actorId: 'emp-204', correlationId: 'ticket-5512' });
  });

  it('a tool is a tool call named after its observation', () => {
    const d = normalizeSpan(fx.span('tool'))!;
    expect(d.eventType).toBe('tool_call');
    expect(d.fields.tool_name).toBe('reset_vpn_token');
    expect(d.content.arguments).toEqual({ employee: 'emp-204' });
    expect(d.content.result).toEqual({ reset: true });
  });

  it('a retriever is a retrieval with its query and sources', () => {
    const d = normalizeSpan(fx.span('retriever'))!;
    expect(d.eventType).toBe('retrieval');
    expect(d.content.query).toBe('vpn token reset procedure');
    expect(d.fields.sources).toEqual([{ id: 'kb-101', uri: 'https://kb.example/101', version: '', sensitivity: '', score: 0.9 }]);
  });

  it('a guardrail that did not pass is a denied outcome', () => {
    const d = normalizeSpan(fx.span('guardrail'))!;
    expect(d.eventType).toBe('outcome');
    expect(d.fields).toMatchObject({ status: 'denied', outcome: 'rejected' });
  });

  it('level ERROR is status error; the free-text status message stays in attributes', () => {
    const d = normalizeSpan(fx.span('failed'))!;
    expect(d.fields.status).toBe('error');
    expect(d.fields.error_type).toBeUndefined();
    expect(d.consumedKeys.has('langfuse.observation.status_message')).toBe(false);
  });

  it('reads the compat identity keys langfuse.user.id / langfuse.session.id', () => {
    expect(spanContext(fx.span('compat'))).toEqual({
      actorId: 'emp-7',
      actorType: 'human',
      correlationId: 'sess-legacy',
      correlationSource: 'session',
    });
  });
});

describe('langfuse: evaluator observations (@langfuse/tracing 5.11)', () => {
  it('makes an evaluation; score and label in the GenAI evaluation names, the judge reasoning as content', () => {
    const d = normalizeSpan(loadFixture('langfuse-evaluator').span('judge'))!;
    expect(d.eventType).toBe('evaluation');
    expect(d.derived!.attributes).toEqual({ 'gen_ai.evaluation.name': 'helpfulness-judge', 'gen_ai.evaluation.score.value': '0.9', 'gen_ai.evaluation.score.label': 'helpful' });
    expect(d.content.result).toEqual({ score: 0.9, label: 'helpful', reasoning: 'Direct and correct.' });
  });
});
