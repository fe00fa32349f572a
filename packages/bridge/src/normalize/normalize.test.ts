import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TelemetryLog } from '../model.ts';
import { auditMapper } from './mappers/audit.ts';
import { otelGenAiMapper } from './mappers/otel-genai.ts';
import { normalizeLog, normalizeSpan, spanContext } from './normalize.ts';
import { MAPPERS } from './registry.ts';
import { DEFAULT_TRACE_ID, loadFixture, makeSpan, spanIdOf } from './testdata/load.ts';
import type { Mapper } from './types.ts';

const audit = loadFixture('audit');
const openai = loadFixture('instrumentation-openai');

afterEach(() => {
  vi.restoreAllMocks();
});

describe('normalizeSpan: dropping spans without audit meaning', () => {
  it('drops HTTP server, HTTP client and DB spans without running any mapper', () => {
    const spies = MAPPERS.map((m) => vi.spyOn(m, 'map'));
    for (const ref of ['db', 'client']) expect(normalizeSpan(audit.span(ref))).toBeNull();
    expect(normalizeSpan(makeSpan({ name: 'GET /health', kind: 2, attributes: { 'http.request.method': 'GET' } }))).toBeNull();
    for (const s of spies) expect(s).not.toHaveBeenCalled();
  });

  it('drops a span whose AI-looking name is not backed by any attribute', () => {
    expect(normalizeSpan(makeSpan({ name: 'chat gpt-4o', attributes: { 'http.route': '/chat' } }))).toBeNull();
  });

  it('an HTTP root that carries only context is the request, and spanContext reads it', () => {
    const http = audit.span('http');
    expect(normalizeSpan(http)?.eventType).toBe('request');
    expect(spanContext(http)).toMatchObject({ correlationId: 'TCK-5512', correlationSource: 'attribute', tenant: 'globex' });
  });

  it('spanContext of a span with no relevant key is the resource tenant only', () => {
    expect(spanContext(audit.span('db'))).toEqual({ tenant: 'globex' });
    expect(spanContext(makeSpan({ resource: {} }))).toEqual({});
  });
});

describe('normalizeSpan: type priority', () => {
  it('audit.event.type (100) beats approval (90) beats a convention (60) beats gen_ai operation (50)', () => {
    const base = {
      'openinference.span.kind': 'TOOL',
      'gen_ai.operation.name': 'chat',
      'audit.approval.decision': 'approved',
    };
    expect(normalizeSpan(makeSpan({ attributes: base }))!.eventType).toBe('approval');
    expect(normalizeSpan(makeSpan({ attributes: { ...base, 'audit.event.type': 'system_effect' } }))!.eventType).toBe(
      'system_effect',
    );
    const { 'audit.approval.decision': _, ...conventions } = base;
    expect(normalizeSpan(makeSpan({ attributes: conventions }))!.eventType).toBe('tool_call');
  });

  it('a convention-specific kind beats gen_ai.operation.name; the operation beats a name guess', () => {
    const d = normalizeSpan(
      makeSpan({ name: 'execute_tool x', attributes: { 'gen_ai.operation.name': 'retrieval', 'gen_ai.request.model': 'm' } }),
    )!;
    expect(d.eventType).toBe('retrieval');
  });

  it('audit.tool.action is a tool call only when nothing more specific is said', () => {
    expect(normalizeSpan(makeSpan({ attributes: { 'audit.tool.action': 'read' } }))!.eventType).toBe('tool_call');
    const chat = makeSpan({ name: 'chat m', attributes: { 'gen_ai.operation.name': 'chat', 'audit.tool.action': 'draft' } });
    const d = normalizeSpan(chat)!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields.action).toBe('draft');
  });

  it('a nested CHAIN suppresses convention proposals but not audit.* statements', () => {
    const nested = { parentSpanId: 'aaaaaaaaaaaaaaaa' };
    expect(
      normalizeSpan(makeSpan({ ...nested, attributes: { 'openinference.span.kind': 'CHAIN', 'gen_ai.operation.name': 'chat' } })),
    ).toBeNull();
    const approval = makeSpan({
      ...nested,
      attributes: { 'openinference.span.kind': 'CHAIN', 'audit.approval.decision': 'rejected' },
    });
    expect(normalizeSpan(approval)!.eventType).toBe('approval');
  });

  it('tokens are kept only on model calls', () => {
    const d = normalizeSpan(
      makeSpan({ attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 5, 'audit.event.type': 'request' } }),
    )!;
    expect(d.eventType).toBe('request');
    expect(d.fields.input_tokens).toBeUndefined();
  });
});

describe('normalizeSpan: context', () => {
  it('the draft context equals spanContext for every fixture span', () => {
    for (const name of ['audit', 'instrumentation-openai', 'semconv-genai', 'openllmetry', 'openinference', 'vercel-ai-v5', 'vercel-ai-v7', 'langfuse']) {
      for (const span of loadFixture(name).spans) {
        const d = normalizeSpan(span);
        if (d) expect(d.context, `${name} ${span.name}`).toEqual(spanContext(span));
      }
    }
  });

  it('context keys are consumed (they become columns), not left in attributes', () => {
    const d = normalizeSpan(audit.span('approval'))!;
    for (const k of ['audit.correlation_id', 'audit.actor.id', 'audit.actor.type', 'audit.initiation']) {
      expect(d.consumedKeys.has(k)).toBe(true);
    }
  });
});

describe('normalizeSpan: robustness', () => {
  it('a mapper that throws does not lose the span: others still map, the failure is noted', () => {
    const boom: Mapper = {
      name: 'boom',
      triggers: ['gen_ai.'],
      map() {
        throw new TypeError('bad shape');
      },
    };
    const d = normalizeSpan(openai.span('chat'), [auditMapper, boom, otelGenAiMapper])!;
    expect(d.eventType).toBe('model_call');
    expect(d.fields.request_model).toBe('gpt-4o-mini');
    expect(d.notes).toEqual(['mapper boom failed: TypeError: bad shape']);
    expect(d.conventions).toEqual(['boom', 'otel_genai']);
  });

  it('when the only mapper of a span throws, its fallback type keeps the event', () => {
    vi.spyOn(otelGenAiMapper, 'map').mockImplementation(() => {
      throw new Error('parser bug');
    });
    const d = normalizeSpan(openai.span('chat'))!;
    expect(d).not.toBeNull();
    expect(d.eventType).toBe('model_call');
    expect(d.conventions).toContain('otel_genai');
    expect(d.notes).toEqual(['mapper otel_genai failed: Error: parser bug', 'event type model_call from the otel_genai fallback']);
  });

  it('what a mapper wrote before throwing is kept', () => {
    const partial: Mapper = {
      name: 'partial',
      map(_span, draft) {
        draft.proposeType('tool_call', 60);
        draft.fields.tool_name = 'half';
        throw new Error('later failure');
      },
    };
    const d = normalizeSpan(makeSpan({ attributes: { x: 1 } }), [partial])!;
    expect(d.eventType).toBe('tool_call');
    expect(d.fields.tool_name).toBe('half');
  });

  it('a context extractor that throws costs only its own part', () => {
    vi.spyOn(otelGenAiMapper, 'context').mockImplementation(() => {
      throw new Error('ctx bug');
    });
    const span = makeSpan({ attributes: { 'gen_ai.operation.name': 'chat', 'session.id': 's-1' } });
    expect(spanContext(span)).toEqual({ correlationId: 's-1', correlationSource: 'session' });
    const d = normalizeSpan(span)!;
    expect(d.eventType).toBe('model_call');
    expect(d.notes).toContain('mapper otel_genai failed reading context: Error: ctx bug');
  });

  it('never throws on odd values', () => {
    const odd: unknown[] = [
      null,
      '',
      '{"role":',
      '[1,2,3]',
      '"\\"{\\\\\\"a\\\\\\":1}\\""',
      123,
      true,
      new Uint8Array([1, 2]),
      [null, { parts: 'x' }, { role: 5, parts: [null, 7, { type: 'tool_call' }] }],
      { messages: 'nope' },
      '__REDACTED__',
    ];
    const keys = [
      'gen_ai.input.messages',
      'gen_ai.output.messages',
      'gen_ai.system_instructions',
      'gen_ai.retrieval.documents',
      'gen_ai.tool.call.arguments',
      'gen_ai.response.finish_reasons',
      'gen_ai.usage.input_tokens',
      'audit.sources',
      'audit.approval.required',
      'llm.input_messages.x.message.role',
      'llm.input_messages.0.message.tool_calls.y.tool_call.function.arguments',
      'gen_ai.prompt.0.content',
      'ai.prompt',
      'ai.prompt.messages',
      'ai.response.toolCalls',
      'ai.values',
      'langfuse.observation.input',
      'langfuse.observation.output',
      'langfuse.observation.usage_details',
      'traceloop.association.properties.user_id',
    ];
    const kinds: Array<Record<string, unknown>> = [
      { 'gen_ai.operation.name': 'chat' },
      { 'openinference.span.kind': 'LLM' },
      { 'openinference.span.kind': 'RETRIEVER' },
      { 'openinference.span.kind': 'GUARDRAIL' },
      { 'ai.operationId': 'ai.generateText.doGenerate' },
      { 'ai.operationId': 'ai.generateText' },
      { 'langfuse.observation.type': 'generation' },
      { 'langfuse.observation.type': 'retriever' },
      { 'traceloop.span.kind': 'tool' },
    ];
    for (const kind of kinds) {
      for (const value of odd) {
        const attributes = { ...kind } as Record<string, never>;
        for (const k of keys) attributes[k] = value as never;
        const span = makeSpan({ attributes });
        expect(() => normalizeSpan(span)).not.toThrow();
        expect(() => spanContext(span)).not.toThrow();
      }
    }
  });
});

function log(p: Partial<TelemetryLog>): TelemetryLog {
  return {
    traceId: DEFAULT_TRACE_ID,
    spanId: spanIdOf('x'),
    timeUnixNano: '1',
    observedTimeUnixNano: '1',
    severityNumber: 9,
    severityText: '',
    eventName: '',
    body: null,
    attributes: {},
    resource: {},
    scope: { name: 's', version: '' },
    ...p,
  };
}

describe('normalizeLog', () => {
  const byName = (name: string) => openai.logs.filter((l) => (l.eventName || l.attributes['event.name']) === name);

  it('gen_ai.system.message → content.system', () => {
    const r = normalizeLog(byName('gen_ai.system.message')[0]!)!;
    expect(r.traceId).toBe(DEFAULT_TRACE_ID);
    expect(r.spanId).toBe(openai.span('chat').spanId);
    expect(r.content).toEqual({ system: [{ role: 'system', parts: [{ type: 'text', content: 'You are a support agent for ACME.' }] }] });
  });

  it('gen_ai.user.message → content.input; a body without content (capture off) gives no message', () => {
    const [first, , empty] = byName('gen_ai.user.message');
    expect(normalizeLog(first!)!.content).toEqual({ input: [{ role: 'user', parts: [{ type: 'text', content: 'Where is my order 8812?' }] }] });
    expect(normalizeLog(empty!)!.content).toEqual({});
  });

  it('gen_ai.assistant.message → an assistant message in the input with its tool calls', () => {
    expect(normalizeLog(byName('gen_ai.assistant.message')[0]!)!.content).toEqual({
      input: [{ role: 'assistant', parts: [{ type: 'tool_call', id: 'call_q1', name: 'lookup_order', arguments: { order_id: '8812' } }] }],
    });
  });

  it('gen_ai.tool.message → a tool_call_response part', () => {
    expect(normalizeLog(byName('gen_ai.tool.message')[0]!)!.content).toEqual({
      input: [{ role: 'tool', parts: [{ type: 'tool_call_response', id: 'call_q1', response: { status: 'shipped' } }] }],
    });
  });

  it('gen_ai.choice → content.output with the finish reason', () => {
    expect(normalizeLog(byName('gen_ai.choice')[0]!)!.content).toEqual({
      output: [
        {
          role: 'assistant',
          parts: [{ type: 'tool_call', id: 'call_q2', name: 'eta', arguments: { order_id: '8812' } }],
          finish_reason: 'tool_calls',
        },
      ],
    });
    const text = normalizeLog(
      log({ attributes: { 'event.name': 'gen_ai.choice' }, body: { index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Hi!' } } }),
    )!;
    expect(text.content.output).toEqual([{ role: 'assistant', parts: [{ type: 'text', content: 'Hi!' }], finish_reason: 'stop' }]);
  });

  it('gen_ai.client.inference.operation.details → input/output/system, structured or JSON strings', () => {
    const [inRec, outRec] = byName('gen_ai.client.inference.operation.details');
    expect(normalizeLog(inRec!)!.spanId).toBe(openai.span('responses').spanId);
    expect(normalizeLog(inRec!)!.content).toEqual({ input: [{ role: 'user', parts: [{ type: 'text', content: 'Summarize the ticket' }] }] });
    expect(normalizeLog(outRec!)!.content).toEqual({
      output: [{ role: 'assistant', parts: [{ type: 'text', content: 'Customer wants a refund.' }], finish_reason: 'stop' }],
    });
    const sys = normalizeLog(
      log({
        eventName: 'gen_ai.client.inference.operation.details',
        attributes: { 'gen_ai.system_instructions': [{ type: 'text', content: 'Be brief.' }] },
      }),
    )!;
    expect(sys.content).toEqual({ system: [{ role: 'system', parts: [{ type: 'text', content: 'Be brief.' }] }] });
  });

  it('the LogRecord eventName field and the event.name attribute are both read', () => {
    const a = normalizeLog(log({ eventName: 'gen_ai.user.message', body: { content: 'x' } }));
    const b = normalizeLog(log({ attributes: { 'event.name': 'gen_ai.user.message' }, body: { content: 'x' } }));
    expect(a).toEqual(b);
    expect(a).not.toBeNull();
  });

  it('returns null for other records and for records not tied to a span', () => {
    expect(normalizeLog(byName('gen_ai.evaluation.result')[0]!)).toBeNull();
    expect(normalizeLog(openai.logs.at(-1)!)).toBeNull(); // a plain log line
    expect(normalizeLog(openai.logs.at(-2)!)).toBeNull(); // gen_ai.user.message without span id
  });
});
