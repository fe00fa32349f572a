import { describe, expect, it } from 'vitest';
import { normalizeSpan, spanContext } from '../normalize.ts';
import { loadFixture, makeSpan } from '../testdata/load.ts';

const fx = loadFixture('openllmetry');

describe('openllmetry mapper', () => {
  it('a workflow is a request, with entity input/output as content and association properties as context', () => {
    const d = normalizeSpan(fx.span('workflow'))!;
    expect(d.eventType).toBe('request');
    expect(d.content.arguments).toEqual({ args: ['Paris'], kwargs: { budget: 500 } });
    expect(d.content.result).toBe('Booked AF123');
    expect(d.context).toEqual({ actorId: 'u-981', actorType: 'human', correlationId: 'chat-77', correlationSource: 'session' });
    expect(d.conventions).toEqual(['openllmetry']);
  });

  it('a task makes no event but still states context', () => {
    expect(normalizeSpan(fx.span('task'))).toBeNull();
    expect(spanContext(fx.span('task'))).toEqual({ actorId: 'u-981', actorType: 'human' });
  });

  it('rebuilds indexed prompts numerically (10 after 2), tolerating a gap', () => {
    const d = normalizeSpan(fx.span('chat'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.content.system).toEqual([{ role: 'system', parts: [{ type: 'text', content: 'You are a travel agent.' }] }]);
    const texts = d.content.input!.map((m) => (m.parts[0] as { content: string }).content);
    expect(texts).toEqual([
      'message 1',
      'message 2',
      'message 3',
      'message 4',
      'message 5',
      'message 7',
      'message 8',
      'message 9',
      'Book the cheapest one.',
    ]);
    expect(d.content.output).toEqual([
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'call_b1', name: 'book_flight', arguments: { flight: 'AF123' } }],
        finish_reason: 'tool_calls',
      },
    ]);
    expect(d.consumedKeys.has('gen_ai.prompt.10.content')).toBe(true);
  });

  it('normalizes the capitalised gen_ai.system and derives output tokens from the total', () => {
    const d = normalizeSpan(fx.span('chat'))!;
    expect(d.fields).toMatchObject({
      provider: 'openai',
      provider_raw: 'OpenAI',
      request_model: 'gpt-3.5-turbo',
      response_model: 'gpt-3.5-turbo-0125',
      operation: 'chat',
      input_tokens: 210,
      output_tokens: 35,
    });
    expect(d.conventions).toEqual(['otel_genai', 'openllmetry']);
  });

  it('a tool span is a tool call named by its entity', () => {
    const d = normalizeSpan(fx.span('tool'))!;
    expect(d.eventType).toBe('tool_call');
    expect(d.fields.tool_name).toBe('book_flight');
    expect(d.content.arguments).toEqual({ args: [], kwargs: { flight: 'AF123' } });
    expect(d.content.result).toEqual({ confirmation: 'XK9' });
  });

  it('a Pinecone query is a retrieval with its results as sources, in index order', () => {
    const d = normalizeSpan(fx.span('pinecone'))!;
    expect(d.eventType).toBe('retrieval');
    expect(d.fields.target_system).toBe('pinecone');
    expect(d.fields.sources!.map((s) => [s.id, s.score])).toEqual([
      ['fare-1', 0.92],
      ['fare-9', 0.71],
      ['fare-4', 0.5],
    ]);
  });

  it('leaves a lone total in attributes when neither side is known', () => {
    const d = normalizeSpan(
      makeSpan({ name: 'cohere.chat', attributes: { 'llm.request.type': 'chat', 'llm.usage.total_tokens': 40 } }),
    )!;
    expect(d.fields.input_tokens).toBeUndefined();
    expect(d.consumedKeys.has('llm.usage.total_tokens')).toBe(false);
  });

  it('reads multimodal indexed content given as a JSON array of parts', () => {
    const d = normalizeSpan(
      makeSpan({
        name: 'vertexai.generate',
        attributes: {
          'llm.request.type': 'completion',
          'gen_ai.prompt.0.role': 'user',
          'gen_ai.prompt.0.content': '[{"type":"text","text":"describe"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]',
        },
      }),
    )!;
    expect(d.content.input![0]!.parts).toEqual([
      { type: 'text', content: 'describe' },
      { type: 'image_url', image_url: { url: 'https://x/y.png' } },
    ]);
  });
});
