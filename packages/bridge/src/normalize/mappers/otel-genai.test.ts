import { describe, expect, it } from 'vitest';
import { logEventSpan, normalizeLog, normalizeSpan, spanContext } from '../normalize.ts';
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

const strands = loadFixture('strands-agents');
const late2026 = loadFixture('semconv-genai-2026');

describe('otel-genai: @strands-agents/sdk 1.16 (agent, memory)', () => {
  it('maps invoke_agent to a request: accumulated usage not counted, the raw system_prompt taken as content', () => {
    const d = normalizeSpan(strands.span('agent'))!;
    expect(d.eventType).toBe('request');
    expect(d.fields.input_tokens).toBeUndefined();
    // Usage (cache included) stays in attributes; the model_call-only columns ignore it.
    expect(d.consumedKeys.has('gen_ai.usage.cache_read.input_tokens')).toBe(false);
    expect(d.content.system).toEqual([{ role: 'system', parts: [{ type: 'text', content: 'You are the support agent of Acme. Remember customer preferences.' }] }]);
    expect(d.consumedKeys.has('system_prompt')).toBe(true);
  });

  it('maps memory.search to a retrieval of the store, the results (bare `content`) as content', () => {
    const d = normalizeSpan(strands.span('search'))!;
    expect(d.eventType).toBe('retrieval');
    expect(d.fields).toMatchObject({ operation: 'memory.search', action: 'search', target_system: 'customer-prefs' });
    expect(d.fields.effect).toBeUndefined();
    expect(d.content.result).toEqual([{ content: 'Prefers phone calls', storeName: 'customer-prefs', metadata: { id: 'mem-77' } }]);
    expect(d.consumedKeys.has('content')).toBe(true);
  });

  it('maps memory.add and memory.extract to system effects on the agent memory; memory.inject makes no event', () => {
    const add = normalizeSpan(strands.span('add'))!;
    expect(add.eventType).toBe('system_effect');
    expect(add.fields).toMatchObject({ action: 'write', effect: 'memory_written', target_system: 'customer-prefs' });
    expect(add.content.arguments).toBe('Prefers email, never phone calls');
    const extract = normalizeSpan(strands.span('extract'))!;
    expect(extract.eventType).toBe('system_effect');
    expect(extract.fields).toMatchObject({ effect: 'memory_written', target_system: 'customer-prefs' });
    expect(normalizeSpan(strands.span('inject'))).toBeNull();
  });

  it('keeps a chat span a model call with cache tokens left for the columns and unknown part types as sent', () => {
    const d = normalizeSpan(strands.span('chat'))!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields).toMatchObject({ input_tokens: 1105, output_tokens: 90 });
    expect(d.consumedKeys.has('gen_ai.usage.cache_creation.input_tokens')).toBe(false);
    expect(d.content.output![0]!.parts.map((p) => p.type)).toEqual(['reasoningBlock', 'text', 'tool_call']);
  });
});

describe('otel-genai: the operations and attributes of late 2026', () => {
  it('maps plan to a request step without counting its tokens', () => {
    const d = normalizeSpan(late2026.span('plan'))!;
    expect(d.eventType).toBe('request');
    expect(d.fields.operation).toBe('plan');
    expect(d.fields.input_tokens).toBeUndefined();
  });

  it('maps invoke_agent client (remote agent) and internal spans to requests, neither counting tokens', () => {
    for (const ref of ['remote-agent', 'local-agent']) {
      const d = normalizeSpan(late2026.span(ref))!;
      expect(d.eventType).toBe('request');
      expect(d.fields.input_tokens).toBeUndefined();
      expect(d.fields.output_tokens).toBeUndefined();
    }
  });

  it('maps the memory operations: writes are system effects, searches retrievals, the store the target', () => {
    const c = normalizeSpan(late2026.span('create-memory'))!;
    expect(c.eventType).toBe('system_effect');
    expect(c.fields).toMatchObject({ operation: 'create_memory', action: 'write', effect: 'memory_written', target_system: 'customer-prefs', target_id: 'mem-88' });
    expect(c.content.arguments).toBe('Customer prefers email.');
    const s = normalizeSpan(late2026.span('search-memory'))!;
    expect(s.eventType).toBe('retrieval');
    expect(s.content.query).toBe('contact preference');
    const del = normalizeSpan(late2026.span('delete-store'))!;
    expect(del.eventType).toBe('system_effect');
    expect(del.fields).toMatchObject({ action: 'delete', effect: 'memory_deleted' });
  });

  it('digests gen_ai.tool.definitions (JSON string or structured), replacing the raw value', () => {
    for (const ref of ['local-agent', 'chat']) {
      const d = normalizeSpan(late2026.span(ref))!;
      expect(d.derived!.replaces).toEqual(['gen_ai.tool.definitions']);
      expect(d.derived!.attributes['gen_ai.tool.definitions.count']).toBe('2');
      expect(d.derived!.attributes['gen_ai.tool.definitions.names']).toBe('refund,lookup_order');
      expect(d.derived!.attributes['gen_ai.tool.definitions.sha256']).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('keeps reasoning, uri and file parts, and turns a blob into digest, size and media type', () => {
    const d = normalizeSpan(late2026.span('chat'))!;
    const parts = d.content.input![0]!.parts;
    expect(parts[1]).toEqual({ type: 'blob', size: 29, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), mime_type: 'image/png', modality: 'image' });
    expect(JSON.stringify(d.content)).not.toContain('iVBORw0KGgo');
    expect(parts[2]).toMatchObject({ type: 'uri', uri: 'https://files.example/receipt-2.jpg' });
    expect(parts[3]).toMatchObject({ type: 'file', file_id: 'file-9f3Kx' });
    expect(d.content.output![0]!.parts[0]).toEqual({ type: 'reasoning', content: 'The image shows a receipt total.' });
    // Reasoning and cache tokens are left for the derived columns.
    expect(d.consumedKeys.has('gen_ai.usage.reasoning.output_tokens')).toBe(false);
  });

  it('records content kept elsewhere (*_ref) as stored externally, the references left in attributes', () => {
    const d = normalizeSpan(late2026.span('chat-ref'))!;
    expect(d.contentState).toBe('stored_externally');
    expect(d.consumedKeys.has('gen_ai.input.messages_ref')).toBe(false);
  });

  it('makes a span with gen_ai.evaluation.* an evaluation; the explanation is content', () => {
    const d = normalizeSpan(late2026.span('evaluation'))!;
    expect(d.eventType).toBe('evaluation');
    expect(d.content.result).toBe('The answer addresses the receipt in the question.');
    for (const k of ['gen_ai.evaluation.name', 'gen_ai.evaluation.score.value', 'gen_ai.evaluation.score.label', 'gen_ai.response.id']) {
      expect(d.consumedKeys.has(k)).toBe(false);
    }
  });

  it('turns a Bedrock guardrail intervention and a blocking security finding into blocked, the policy kept', () => {
    const g = normalizeSpan(late2026.span('bedrock-guardrail'))!;
    expect(g.fields).toMatchObject({ status: 'blocked', error_type: 'guardrail_intervened' });
    expect(g.consumedKeys.has('aws.bedrock.guardrail.id')).toBe(false);
    const f = normalizeSpan(late2026.span('finding'))!;
    expect(f.fields).toMatchObject({ status: 'blocked', error_type: 'prompt_injection' });
    expect(f.consumedKeys.has('gen_ai.security.finding.policy')).toBe(false);
  });

  it('turns a refusal part in the output into a denial', () => {
    const d = normalizeSpan(
      makeSpan({
        name: 'chat gpt-5',
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.output.messages': '[{"role":"assistant","parts":[{"type":"refusal","refusal":"I can\'t help with that."}]}]',
        },
      }),
    )!;
    expect(d.fields).toMatchObject({ status: 'denied', error_type: 'refusal' });
  });
});

describe('otel-genai: gen_ai.evaluation.result log records', () => {
  it('become evaluation events that link to the evaluated span, with a stable id', () => {
    const [tied, loose] = late2026.logs;
    expect(normalizeLog(tied!)).toBeNull();
    const span = logEventSpan(tied!)!;
    expect(span.parentSpanId).toBe(late2026.span('chat').spanId);
    expect(span.links).toEqual([{ traceId: late2026.span('chat').traceId, spanId: late2026.span('chat').spanId, attributes: {} }]);
    expect(logEventSpan(tied!)!.spanId).toBe(span.spanId);
    expect(span.spanId).not.toBe(late2026.span('chat').spanId);
    const d = normalizeSpan(span)!;
    expect(d.eventType).toBe('evaluation');
    expect(d.fields.operation).toBe('evaluation');
    expect(d.content.result).toBe('Addresses the receipt.');
    // Not tied to a span: evaluated by response id, still an event of its own.
    const l = logEventSpan(loose!)!;
    expect(l.parentSpanId).toBe('');
    expect(l.links).toEqual([]);
    expect(l.name).toBe('evaluation Groundedness');
    expect(normalizeSpan(l)!.eventType).toBe('evaluation');
  });

  it('ignores other log records', () => {
    expect(logEventSpan({ ...late2026.logs[0]!, eventName: 'gen_ai.choice' })).toBeNull();
  });
});

describe('otel-genai: @strands-agents/sdk multi-agent spans', () => {
  it('makes the Graph a request and the node no event: their accumulated usage is never a model call', () => {
    const g = normalizeSpan(strands.span('graph'))!;
    expect(g.eventType).toBe('request');
    expect(g.fields.input_tokens).toBeUndefined();
    expect(normalizeSpan(strands.span('node'))).toBeNull();
  });
});
