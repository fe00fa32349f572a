import { describe, expect, it } from 'vitest';
import { normalizeSpan, spanContext } from '../normalize.ts';
import { loadFixture } from '../testdata/load.ts';

const v5 = loadFixture('vercel-ai-v5');
const v7 = loadFixture('vercel-ai-v7');

describe('vercel-ai mapper: v4–v6 ai.* spans', () => {
  it('the root ai.generateText is a request and never carries tokens', () => {
    const d = normalizeSpan(v5.span('root'))!;
    expect(d.eventType).toBe('request');
    expect(d.fields.input_tokens).toBeUndefined();
    expect(d.fields.output_tokens).toBeUndefined();
    expect(d.consumedKeys.has('ai.usage.inputTokens')).toBe(false);
    expect(d.content.system).toEqual([{ role: 'system', parts: [{ type: 'text', content: 'You are a helpful assistant.' }] }]);
    expect(d.content.input).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'Weather in Paris?' }] }]);
    expect(d.content.output![0]!.parts).toEqual([{ type: 'text', content: 'It is 18°C and raining in Paris.' }]);
  });

  it('doGenerate is the model call: tokens, provider, prompt messages and tool calls', () => {
    const d = normalizeSpan(v5.span('gen1'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields).toMatchObject({
      provider: 'openai',
      provider_raw: 'openai.responses',
      request_model: 'gpt-4o',
      response_model: 'gpt-4o-2024-08-06',
      input_tokens: 85,
      output_tokens: 18,
    });
    expect(d.content.input).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'Weather in Paris?' }] }]);
    expect(d.content.output).toEqual([
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'call_abc', name: 'getWeather', arguments: { city: 'Paris' } }],
        finish_reason: 'tool-calls',
      },
    ]);
    expect(d.conventions).toEqual(['otel_genai', 'vercel_ai']);
  });

  it('the second doGenerate sees the tool call and its result in its prompt', () => {
    const d = normalizeSpan(v5.span('gen2'))!;
    expect(d.content.input!.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(d.content.input![2]!.parts[0]).toEqual({
      type: 'tool_call_response',
      id: 'call_abc',
      response: { temperature: 18, conditions: 'rain' },
    });
  });

  it('ai.toolCall is a tool call with parsed args and result', () => {
    const d = normalizeSpan(v5.span('tool'))!;
    expect(d.eventType).toBe('tool_call');
    expect(d.fields).toMatchObject({ tool_name: 'getWeather', tool_call_id: 'call_abc' });
    expect(d.content.arguments).toEqual({ city: 'Paris' });
    expect(d.content.result).toEqual({ temperature: 18, conditions: 'rain' });
  });

  it('telemetry metadata gives the actor and the session', () => {
    const ctx = spanContext(v5.span('gen1'));
    expect(ctx).toEqual({ actorId: 'user-123', actorType: 'human', correlationId: 'sess-42', correlationSource: 'session' });
    // Keys with no context meaning stay in attributes.
    expect(normalizeSpan(v5.span('gen1'))!.consumedKeys.has('ai.telemetry.metadata.plan')).toBe(false);
  });

  it('tokens are counted once per model call: the sum over events equals the provider calls', () => {
    const total = v5.spans
      .map((s) => normalizeSpan(s))
      .reduce((n, d) => n + (d?.fields.input_tokens ?? 0), 0);
    expect(total).toBe(85 + 115 + 12 + 6);
  });

  it('a nested outer span (v4 streamText under an HTTP span) makes no event; its doStream does', () => {
    expect(normalizeSpan(v5.span('http'))).toBeNull();
    expect(normalizeSpan(v5.span('stream'))).toBeNull();
    const d = normalizeSpan(v5.span('dostream'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields).toMatchObject({ provider: 'anthropic', input_tokens: 12, output_tokens: 3 });
  });

  it('doEmbed: JSON-encoded values become the input, vectors are dropped', () => {
    const d = normalizeSpan(v5.span('doembed'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields.input_tokens).toBe(6);
    expect(d.content.input).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'sunny day at the beach' }] }]);
    expect(d.consumedKeys.has('ai.embeddings')).toBe(true);
  });
});

describe('vercel-ai v7 (@ai-sdk/otel): standard names, mapped by otel-genai', () => {
  it('invoke_agent root is a request without tokens; agent_step makes no event', () => {
    const agent = normalizeSpan(v7.span('agent'))!;
    expect(agent.eventType).toBe('request');
    expect(agent.fields.input_tokens).toBeUndefined();
    expect(normalizeSpan(v7.span('step'))).toBeNull();
  });

  it('chat and execute_tool map as semconv spans', () => {
    const chat = normalizeSpan(v7.span('chat'))!;
    expect(chat.eventType).toBe('model_call');
    expect(chat.fields).toMatchObject({ input_tokens: 120, output_tokens: 20, provider: 'openai' });
    const tool = normalizeSpan(v7.span('tool'))!;
    expect(tool.eventType).toBe('tool_call');
    expect(tool.content.arguments).toEqual({ orderId: '8812' });
  });

  it('notes a tool_approval_response part found in the input messages', () => {
    const d = normalizeSpan(v7.span('approved-chat'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.notes).toEqual(['tool_approval_response in input: approval_id=appr_1 approved']);
    expect(d.content.input![1]!.parts[0]).toMatchObject({ type: 'tool_approval_response', approved: true });
  });
});
