import { describe, expect, it } from 'vitest';
import { normalizeSpan, spanContext } from '../normalize.ts';
import { loadFixture, makeSpan } from '../testdata/load.ts';
import { otelGenAiMapper } from './otel-genai.ts';

const openai = loadFixture('instrumentation-openai');
const semconv = loadFixture('semconv-genai');

describe('otel-genai: @opentelemetry/instrumentation-openai', () => {
  it('maps a chat span with gen_ai.system to a model call', () => {
    const d = normalizeSpan(openai.span('chat'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields).toMatchObject({
      operation: 'chat',
      provider: 'openai',
      request_model: 'gpt-4o-mini',
      response_model: 'gpt-4o-mini-2024-07-18',
      input_tokens: 142,
      output_tokens: 23,
      status: 'ok',
    });
    expect(d.fields.provider_raw).toBeUndefined();
    expect(d.conventions).toEqual(['otel_genai']);
    // Content comes later as log records.
    expect(d.contentState).toBe('not_captured');
    expect(d.consumedKeys.has('gen_ai.system')).toBe(true);
    expect(d.consumedKeys.has('server.address')).toBe(false);
    expect(d.context).toEqual({ tenant: 'acme' });
  });

  it('maps embeddings to a model call with input tokens only', () => {
    const d = normalizeSpan(openai.span('embed'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields.input_tokens).toBe(9);
    expect(d.fields.output_tokens).toBeUndefined();
  });

  it('turns a failed call into status error, and a timeout error type into timeout', () => {
    const d = normalizeSpan(openai.span('failed'))!;
    expect(d.fields.error_type).toBe('APIConnectionTimeoutError');
    expect(d.fields.status).toBe('timeout');
    const plain = normalizeSpan(
      makeSpan({ name: 'chat gpt-4o', statusCode: 2, attributes: { 'gen_ai.operation.name': 'chat', 'error.type': 'RateLimitError' } }),
    )!;
    expect(plain.fields.status).toBe('error');
    expect(plain.fields.error_type).toBe('RateLimitError');
  });
});

describe('otel-genai: semconv >= 1.37', () => {
  it('reads provider.name, content attributes (JSON string and structured) and the conversation id', () => {
    const d = normalizeSpan(semconv.span('chat'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields.provider).toBe('azure.ai.openai');
    expect(d.contentState).toBe('captured');
    expect(d.content.system).toEqual([{ role: 'system', parts: [{ type: 'text', content: 'You are a claims assistant.' }] }]);
    expect(d.content.input).toHaveLength(3);
    expect(d.content.input![1]!.parts[0]).toEqual({
      type: 'tool_call',
      id: 'call_VSPygqKTWdrhaFErNvMV18Yl',
      name: 'get_weather',
      arguments: { location: 'Paris' },
    });
    expect(d.content.output).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'It is rainy and 57°F in Paris.' }], finish_reason: 'stop' },
    ]);
    expect(d.context).toEqual({ correlationId: 'conv_5j66UpCpwteGg4YSxUnt7lPY', correlationSource: 'conversation' });
    for (const k of ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.system_instructions']) {
      expect(d.consumedKeys.has(k)).toBe(true);
    }
  });

  it('maps invoke_agent to a request without counting its aggregated tokens', () => {
    const d = normalizeSpan(semconv.span('agent'))!;
    expect(d.eventType).toBe('request');
    expect(d.fields.input_tokens).toBeUndefined();
    expect(d.fields.output_tokens).toBeUndefined();
    // The usage stays visible in attributes.
    expect(d.consumedKeys.has('gen_ai.usage.input_tokens')).toBe(false);
  });

  it('maps execute_tool with double-encoded arguments', () => {
    const d = normalizeSpan(semconv.span('tool'))!;
    expect(d.eventType).toBe('tool_call');
    expect(d.fields).toMatchObject({ tool_name: 'get_weather', tool_call_id: 'call_VSPygqKTWdrhaFErNvMV18Yl' });
    expect(d.content.arguments).toEqual({ location: 'Paris' });
    expect(d.content.result).toBe('rainy, 57°F');
  });

  it('keeps unparsable arguments raw and infers the operation from the span name', () => {
    const d = normalizeSpan(semconv.span('named-tool'))!;
    expect(d.eventType).toBe('tool_call');
    expect(d.fields.operation).toBe('execute_tool');
    expect(d.content.arguments).toBe('{not json');
  });

  it('maps retrieval with query, documents as sources, data source as target system', () => {
    const d = normalizeSpan(semconv.span('retrieval'))!;
    expect(d.eventType).toBe('retrieval');
    expect(d.fields.target_system).toBe('policies-kb');
    expect(d.content.query).toBe('water damage coverage');
    expect(d.fields.sources).toEqual([
      { id: 'pol-17#3', uri: 'https://kb.example/pol-17', version: '2025-10', sensitivity: '', score: 0.83 },
      { id: 'pol-02#1', uri: '', version: '', sensitivity: '', score: 0.61 },
    ]);
  });

  it('records a content_filter finish reason as a denial', () => {
    const d = normalizeSpan(semconv.span('filtered'))!;
    expect(d.fields.status).toBe('denied');
    expect(d.fields.error_type).toBe('content_filter');
  });

  it('reads the pre-1.37 names: az.ai.openai and prompt/completion tokens, no operation', () => {
    const d = normalizeSpan(semconv.span('old'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields).toMatchObject({
      provider: 'azure.ai.openai',
      provider_raw: 'az.ai.openai',
      input_tokens: 31,
      output_tokens: 7,
      operation: 'chat',
    });
  });

  it('normalizes providers: aws.bedrock kept, gcp.* lowercased with the raw value kept', () => {
    expect(normalizeSpan(semconv.span('bedrock'))!.fields.provider).toBe('aws.bedrock');
    const g = normalizeSpan(semconv.span('gemini'))!;
    expect(g.fields.provider).toBe('gcp.gemini');
    expect(g.fields.provider_raw).toBe('GCP.Gemini');
    // gen_ai.input.messages = "[]": content was captured and was empty.
    expect(g.contentState).toBe('empty');
  });

  it('accepts structured kvlist values where JSON strings are usual', () => {
    const span = makeSpan({
      name: 'chat m',
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.input.messages': [{ role: 'user', content: 'old style message' }],
        'gen_ai.system_instructions': 'plain text instructions',
        'gen_ai.response.finish_reasons': '["stop"]',
        'gen_ai.usage.input_tokens': '1234567',
      },
    });
    const d = normalizeSpan(span, [otelGenAiMapper])!;
    expect(d.content.input).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'old style message' }] }]);
    expect(d.content.system).toEqual([{ role: 'system', parts: [{ type: 'text', content: 'plain text instructions' }] }]);
    expect(d.fields.input_tokens).toBe(1234567);
  });

  it('reads the conversation id as context even without an event', () => {
    const span = makeSpan({ name: 'x', attributes: { 'gen_ai.conversation.id': 'c-1' } });
    expect(normalizeSpan(span)).toBeNull();
    expect(spanContext(span)).toEqual({ correlationId: 'c-1', correlationSource: 'conversation' });
  });
});
