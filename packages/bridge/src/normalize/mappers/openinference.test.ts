import { describe, expect, it } from 'vitest';
import { normalizeSpan, spanContext } from '../normalize.ts';
import { loadFixture } from '../testdata/load.ts';

const fx = loadFixture('openinference');

describe('openinference mapper', () => {
  it('a root CHAIN is the request; a nested CHAIN makes no event but carries context', () => {
    const root = normalizeSpan(fx.span('root'))!;
    expect(root.eventType).toBe('request');
    expect(root.content.arguments).toEqual({ question: "What's the weather in Oslo?" });
    expect(root.content.result).toBe('It is 4°C and cloudy in Oslo.');
    expect(root.context).toEqual({
      actorId: 'maria@example.com',
      actorType: 'human',
      correlationId: 'sess-oslo',
      correlationSource: 'session',
    });
    expect(normalizeSpan(fx.span('prompt'))).toBeNull();
    expect(spanContext(fx.span('prompt'))).toEqual({ correlationId: 'sess-oslo', correlationSource: 'session' });
  });

  it('an LLM span: model, provider, tokens, indexed messages with tool calls', () => {
    const d = normalizeSpan(fx.span('llm'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields).toMatchObject({
      request_model: 'gpt-4o-2024-08-06',
      provider: 'openai',
      input_tokens: 77,
      output_tokens: 17,
      operation: 'llm',
    });
    expect(d.content.system).toEqual([{ role: 'system', parts: [{ type: 'text', content: 'Answer with the tools.' }] }]);
    expect(d.content.input).toEqual([{ role: 'user', parts: [{ type: 'text', content: "What's the weather in Oslo?" }] }]);
    expect(d.content.output).toEqual([
      { role: 'assistant', parts: [{ type: 'tool_call', id: 'call_o1', name: 'get_weather', arguments: { city: 'Oslo' } }] },
    ]);
    // input.value duplicates the messages: consumed, so never left in plain attributes.
    expect(d.consumedKeys.has('input.value')).toBe(true);
  });

  it('a RETRIEVER: documents in index order, ids and URIs from the metadata JSON', () => {
    const d = normalizeSpan(fx.span('retriever'))!;
    expect(d.eventType).toBe('retrieval');
    expect(d.content.query).toBe('weather stations in Oslo');
    expect(d.fields.sources).toEqual([
      { id: 'st-18700', uri: 'https://met.no/blindern', version: '', sensitivity: '', score: null },
      { id: 'https://met.no/gardermoen', uri: 'https://met.no/gardermoen', version: '', sensitivity: '', score: null },
      { id: 'st-4780', uri: '', version: '', sensitivity: '', score: 0.42 },
    ]);
    expect((d.content.result as Array<{ content: string }>).map((x) => x.content)).toEqual([
      'Blindern station reports hourly.',
      'Oslo airport station.',
      'Late station.',
    ]);
  });

  it('a TOOL: name, JSON arguments, text result; a schema in tool.parameters is not taken as arguments', () => {
    const d = normalizeSpan(fx.span('tool'))!;
    expect(d.eventType).toBe('tool_call');
    expect(d.fields.tool_name).toBe('get_weather');
    expect(d.content.arguments).toEqual({ city: 'Oslo' });
    expect(d.content.result).toBe('4°C, cloudy');
    expect(d.consumedKeys.has('tool.parameters')).toBe(false);
  });

  it('an AGENT is a request even when nested', () => {
    expect(normalizeSpan(fx.span('agent'))!.eventType).toBe('request');
  });

  it('a GUARDRAIL that failed validation is a denied outcome; one that passed is a completed outcome', () => {
    const blocked = normalizeSpan(fx.span('guardrail'))!;
    expect(blocked.eventType).toBe('outcome');
    expect(blocked.fields).toMatchObject({ status: 'denied', outcome: 'rejected' });
    const passed = normalizeSpan(fx.span('guardrail-ok'))!;
    expect(passed.fields).toMatchObject({ status: 'ok', outcome: 'completed' });
  });

  it('__REDACTED__ marks the content as redacted by the source', () => {
    const d = normalizeSpan(fx.span('redacted'))!;
    expect(d.contentState).toBe('redacted_by_source');
  });

  it('EMBEDDING keeps the texts and drops the vectors; RERANKER keeps the reranked documents', () => {
    const e = normalizeSpan(fx.span('embedding'))!;
    expect(e.eventType).toBe('model_call');
    expect(e.fields.request_model).toBe('text-embedding-3-small');
    expect(e.content.input).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'Oslo weather' }] }]);
    expect(e.consumedKeys.has('embedding.embeddings.0.embedding.vector')).toBe(true);
    const r = normalizeSpan(fx.span('reranker'))!;
    expect(r.eventType).toBe('retrieval');
    expect(r.content.query).toBe('weather stations in Oslo');
    expect(r.fields.sources).toEqual([{ id: 'st-18700', uri: '', version: '', sensitivity: '', score: 0.97 }]);
  });
});

describe('openinference: EVALUATOR spans (@arizeai/phoenix-evals 1.2)', () => {
  const evals = loadFixture('phoenix-evals');

  it('makes an evaluation event; the result in GenAI evaluation names, the explanation only as content', () => {
    const d = normalizeSpan(evals.span('correctness'))!;
    expect(d.eventType).toBe('evaluation');
    expect(d.derived!.attributes).toEqual({
      'gen_ai.evaluation.name': 'correctness',
      'gen_ai.evaluation.score.value': '0',
      'gen_ai.evaluation.score.label': 'incorrect',
    });
    expect(d.derived!.replaces).toEqual([]);
    expect(d.content.result).toEqual({ score: 0, label: 'incorrect', explanation: 'The policy excludes flood damage.' });
  });

  it('reads a fairness metric the same way', () => {
    const d = normalizeSpan(evals.span('fairness'))!;
    expect(d.eventType).toBe('evaluation');
    expect(d.derived!.attributes['gen_ai.evaluation.score.value']).toBe('0.04');
  });
});
