import { SpanKind, SpanStatusCode, trace, type TracerProvider } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import {
  ATTR_AUDIT_ACTOR_ID,
  ATTR_AUDIT_ACTOR_TYPE,
  ATTR_AUDIT_APPROVAL_REQUIRED,
  ATTR_AUDIT_CORRELATION_ID,
  ATTR_AUDIT_EFFECT,
  ATTR_AUDIT_EVENT_TYPE,
  ATTR_AUDIT_OUTCOME,
  ATTR_AUDIT_OUTCOME_REASON,
  ATTR_AUDIT_PERMISSION,
  ATTR_AUDIT_PROMPT_VERSION,
  ATTR_AUDIT_PURPOSE,
  ATTR_AUDIT_SOURCES,
  ATTR_AUDIT_TARGET_ID,
  ATTR_AUDIT_TARGET_SYSTEM,
  ATTR_AUDIT_TOOL_ACTION,
} from '@otel-audit/semconv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setupGlobalTracing, sleep } from '../test/harness.ts';
import {
  configureAudit,
  getAuditContext,
  getInternalErrorCount,
  recordOutcome,
  recordSystemEffect,
  traceModelCall,
  traceRetrieval,
  traceToolCall,
  withAuditContext,
  type SourceRef,
} from './index.ts';

// Without AuditSpanProcessor: helper spans must carry the context on their own.
const h = setupGlobalTracing({ auditProcessor: false });
const CTX = { correlationId: 'case-1', actor: { id: 'bot-1', type: 'agent' as const }, purpose: 'answer' };
const CTX_ATTRS = { [ATTR_AUDIT_CORRELATION_ID]: 'case-1', [ATTR_AUDIT_ACTOR_ID]: 'bot-1', [ATTR_AUDIT_ACTOR_TYPE]: 'agent', [ATTR_AUDIT_PURPOSE]: 'answer' };

beforeEach(() => h.reset());
afterEach(() => configureAudit({ captureContent: false, tracerProvider: undefined }));

function isChildOf(child: ReadableSpan, parent: ReadableSpan): boolean {
  return child.parentSpanContext?.spanId === parent.spanContext().spanId && child.spanContext().traceId === parent.spanContext().traceId;
}

describe('traceRetrieval', () => {
  const SOURCES: SourceRef[] = [
    { id: 'doc-1', uri: 's3://kb/doc-1.md', version: '3', sensitivity: 'internal', score: 0.92 },
    { id: 'doc-2', score: 0.5 },
  ];

  it('records a retrieval span with every attribute, as a child of the active span', () => {
    const out = withAuditContext(CTX, () =>
      trace.getTracer('app').startActiveSpan('request', (req) => {
        const r = traceRetrieval({ query: 'refund policy for EU', dataSource: 'kb-policies', sources: SOURCES }, () => ['hit']);
        req.end();
        return r;
      }),
    );
    expect(out).toEqual(['hit']);
    const span = h.span('retrieval kb-policies');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.attributes).toEqual({
      ...CTX_ATTRS,
      'gen_ai.operation.name': 'retrieval',
      'gen_ai.data_source.id': 'kb-policies',
      [ATTR_AUDIT_EVENT_TYPE]: 'retrieval',
      [ATTR_AUDIT_SOURCES]: JSON.stringify(SOURCES),
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(isChildOf(span, h.span('request'))).toBe(true);
  });

  it('records the query only with captureContent on', () => {
    configureAudit({ captureContent: true });
    traceRetrieval({ query: 'refund policy', dataSource: 'kb' }, () => null);
    expect(h.span('retrieval kb').attributes['gen_ai.retrieval.query.text']).toBe('refund policy');
  });

  it('derives sources from an async result with sourcesFrom, dropping malformed entries', async () => {
    const result = await traceRetrieval(
      { dataSource: 'vec', sourcesFrom: (hits: { id: unknown; score: number }[]) => hits as SourceRef[] },
      async () => {
        await sleep(2);
        return [{ id: 'a', score: 0.9 }, { id: 7, score: 0.1 }, { id: null, score: 1 }, 'junk'] as { id: unknown; score: number }[];
      },
    );
    expect(result).toHaveLength(4);
    expect(JSON.parse(h.span('retrieval vec').attributes[ATTR_AUDIT_SOURCES] as string)).toEqual([{ id: 'a', score: 0.9 }, { id: '7', score: 0.1 }]);
  });

  it('calls a sources function after fn, and the recorder can set sources', () => {
    const found: SourceRef[] = [];
    traceRetrieval({ dataSource: 'lazy', sources: () => found }, () => found.push({ id: 'late' }));
    expect(h.span('retrieval lazy').attributes[ATTR_AUDIT_SOURCES]).toBe('[{"id":"late"}]');
    traceRetrieval({}, (r) => r.setSources([{ id: 'x', uri: 'https://x' }]));
    expect(h.span('retrieval').attributes[ATTR_AUDIT_SOURCES]).toBe('[{"id":"x","uri":"https://x"}]');
  });

  it('keeps the audit context and the retrieval span active inside fn', () => {
    withAuditContext(CTX, () =>
      traceRetrieval({ dataSource: 'kb' }, (r) => {
        expect(getAuditContext()?.correlationId).toBe('case-1');
        expect(trace.getActiveSpan()).toBe(r.span);
      }),
    );
  });
});

describe('traceToolCall', () => {
  it('records every tool attribute and returns fn’s result', async () => {
    const out = await withAuditContext(CTX, () =>
      traceToolCall(
        {
          name: 'crm_update',
          callId: 'call_abc',
          type: 'function',
          action: 'update',
          targetSystem: 'salesforce',
          targetId: 'case/500X',
          permission: 'granted',
          approvalRequired: true,
          arguments: { status: 'closed' },
        },
        async () => ({ ok: true }),
      ),
    );
    expect(out).toEqual({ ok: true });
    const span = h.span('execute_tool crm_update');
    expect(span.kind).toBe(SpanKind.INTERNAL);
    expect(span.attributes).toEqual({
      ...CTX_ATTRS,
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'crm_update',
      'gen_ai.tool.call.id': 'call_abc',
      'gen_ai.tool.type': 'function',
      [ATTR_AUDIT_EVENT_TYPE]: 'tool_call',
      [ATTR_AUDIT_TOOL_ACTION]: 'update',
      [ATTR_AUDIT_TARGET_SYSTEM]: 'salesforce',
      [ATTR_AUDIT_TARGET_ID]: 'case/500X',
      [ATTR_AUDIT_PERMISSION]: 'granted',
      [ATTR_AUDIT_APPROVAL_REQUIRED]: true,
    });
  });

  it('records arguments and results only with captureContent on', () => {
    configureAudit({ captureContent: true });
    traceToolCall({ name: 'search', action: 'search', arguments: { q: 'x' } }, (t) => {
      t.setResult(['r1']);
      t.setPermission('denied');
      t.setTarget('kb', 'idx-1');
    });
    const attrs = h.span('execute_tool search').attributes;
    expect(attrs['gen_ai.tool.call.arguments']).toBe('{"q":"x"}');
    expect(attrs['gen_ai.tool.call.result']).toBe('["r1"]');
    expect(attrs[ATTR_AUDIT_PERMISSION]).toBe('denied');
    expect(attrs[ATTR_AUDIT_TARGET_SYSTEM]).toBe('kb');
    expect(attrs[ATTR_AUDIT_TARGET_ID]).toBe('idx-1');

    configureAudit({ captureContent: false });
    h.reset();
    traceToolCall({ name: 'search', action: 'search', arguments: { q: 'x' } }, (t) => t.setResult('r'));
    expect(h.span('execute_tool search').attributes['gen_ai.tool.call.arguments']).toBeUndefined();
    expect(h.span('execute_tool search').attributes['gen_ai.tool.call.result']).toBeUndefined();
  });
});

describe('traceModelCall', () => {
  it('records the request, and usage through the recorder', async () => {
    const reply = await traceModelCall({ provider: 'acme-llm', model: 'acme-large', promptVersion: 'triage@4' }, async (call) => {
      call.setUsage({ inputTokens: 120, outputTokens: 30, cacheReadInputTokens: 100, reasoningOutputTokens: 5 });
      call.setResponseModel('acme-large-2026-01');
      call.setResponseId('resp-1');
      call.setFinishReasons(['stop']);
      return 'hello';
    });
    expect(reply).toBe('hello');
    const span = h.span('chat acme-large');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'acme-llm',
      'gen_ai.request.model': 'acme-large',
      [ATTR_AUDIT_PROMPT_VERSION]: 'triage@4',
      [ATTR_AUDIT_EVENT_TYPE]: 'model_call',
      'gen_ai.usage.input_tokens': 120,
      'gen_ai.usage.output_tokens': 30,
      'gen_ai.usage.cache_read.input_tokens': 100,
      'gen_ai.usage.reasoning.output_tokens': 5,
      'gen_ai.response.model': 'acme-large-2026-01',
      'gen_ai.response.id': 'resp-1',
      'gen_ai.response.finish_reasons': ['stop'],
    });
  });

  it('reads usage from the result with responseFrom, and takes another operation', () => {
    traceModelCall(
      { provider: 'p', model: 'emb-1', operation: 'embeddings', responseFrom: (r: { usage: { in: number } }) => ({ usage: { inputTokens: r.usage.in } }) },
      () => ({ usage: { in: 9 } }),
    );
    const attrs = h.span('embeddings emb-1').attributes;
    expect(attrs['gen_ai.operation.name']).toBe('embeddings');
    expect(attrs['gen_ai.usage.input_tokens']).toBe(9);
  });

  it('returns a Promise subclass itself, so client-specific methods survive', async () => {
    class APIPromise<T> extends Promise<T> {
      withResponse() {
        return 'raw response';
      }
    }
    const p = new APIPromise<string>((resolve) => setTimeout(() => resolve('done'), 1));
    const got = traceModelCall({ provider: 'openai', model: 'gpt' }, () => p);
    expect(got).toBe(p);
    expect(got.withResponse()).toBe('raw response');
    expect(await got).toBe('done');
    expect(h.span('chat gpt').ended).toBe(true);
  });
});

describe('recordSystemEffect and recordOutcome', () => {
  it('record ended child spans of the active span', () => {
    withAuditContext(CTX, () =>
      trace.getTracer('app').startActiveSpan('task', (task) => {
        const fx = recordSystemEffect({ effect: 'message_sent', targetSystem: 'smtp', targetId: 'msg-1', action: 'send' });
        const oc = recordOutcome({ outcome: 'paused', reason: 'waiting for approval' });
        expect(fx?.spanId).toMatch(/^[0-9a-f]{16}$/);
        expect(oc?.traceId).toBe(task.spanContext().traceId);
        task.end();
      }),
    );
    const fx = h.span('system_effect message_sent');
    expect(fx.attributes).toEqual({
      ...CTX_ATTRS,
      [ATTR_AUDIT_EVENT_TYPE]: 'system_effect',
      [ATTR_AUDIT_EFFECT]: 'message_sent',
      [ATTR_AUDIT_TARGET_SYSTEM]: 'smtp',
      [ATTR_AUDIT_TARGET_ID]: 'msg-1',
      [ATTR_AUDIT_TOOL_ACTION]: 'send',
    });
    const oc = h.span('outcome paused');
    expect(oc.attributes).toEqual({
      ...CTX_ATTRS,
      [ATTR_AUDIT_EVENT_TYPE]: 'outcome',
      [ATTR_AUDIT_OUTCOME]: 'paused',
      [ATTR_AUDIT_OUTCOME_REASON]: 'waiting for approval',
    });
    expect(isChildOf(fx, h.span('task'))).toBe(true);
    expect(isChildOf(oc, h.span('task'))).toBe(true);
    expect(fx.ended && oc.ended).toBe(true);
  });
});

describe('errors from the app', () => {
  it('rethrows an async rejection unchanged and marks the span', async () => {
    class RateLimitError extends Error {}
    const err = new RateLimitError('slow down');
    const promise = traceModelCall({ provider: 'p', model: 'm' }, async () => {
      await sleep(1);
      throw err;
    });
    await expect(promise).rejects.toBe(err);
    const span = h.span('chat m');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'slow down' });
    expect(span.attributes['error.type']).toBe('RateLimitError');
    expect(span.events.map((e) => e.name)).toEqual(['exception']);
    expect(span.events[0].attributes?.['exception.message']).toBe('slow down');
    expect(span.ended).toBe(true);
  });

  it('rethrows a sync throw unchanged, including non-Error values', () => {
    const err = new TypeError('bad');
    expect(() => traceToolCall({ name: 't', action: 'read' }, () => { throw err; })).toThrow(err);
    expect(h.span('execute_tool t').attributes['error.type']).toBe('TypeError');
    h.reset();
    const thrown = { weird: true };
    let caught: unknown;
    try {
      traceRetrieval({ dataSource: 'x' }, () => { throw thrown; });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(thrown);
    expect(h.span('retrieval x').attributes['error.type']).toBe('_OTHER');
    expect(h.span('retrieval x').status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('errors inside the instrumentation never reach the app', () => {
  it('circular and BigInt arguments: the result comes back, the arguments are recorded tolerantly', () => {
    configureAudit({ captureContent: true });
    const args: Record<string, unknown> = { n: 10n };
    args.self = args;
    expect(traceToolCall({ name: 'loop', action: 'read', arguments: args }, () => 'fine')).toBe('fine');
    expect(h.span('execute_tool loop').attributes['gen_ai.tool.call.arguments']).toBe('{"n":"10","self":"[Circular]"}');
  });

  it('a throwing sourcesFrom or responseFrom still returns the result and ends the span', async () => {
    const before = getInternalErrorCount();
    const r = await traceRetrieval({ dataSource: 'kb', sourcesFrom: () => { throw new Error('mapper bug'); } }, async () => 'docs');
    expect(r).toBe('docs');
    expect(traceModelCall({ provider: 'p', model: 'm', responseFrom: () => { throw new Error('bug'); } }, () => 42)).toBe(42);
    expect(getInternalErrorCount()).toBe(before + 2);
    expect(h.span('retrieval kb').ended).toBe(true);
    expect(h.span('chat m').ended).toBe(true);
    expect(h.span('retrieval kb').status.code).toBe(SpanStatusCode.UNSET);
  });

  it('garbage options and a recorder misused: fn still runs', () => {
    const garbage = undefined as unknown as Parameters<typeof traceToolCall>[0];
    expect(traceToolCall(garbage, () => 'ran')).toBe('ran');
    expect(traceRetrieval({ sources: 'nope' as unknown as SourceRef[], dataSource: { x: 1 } as unknown as string }, () => 'ok')).toBe('ok');
    expect(traceModelCall({ provider: 'p', model: 'm' }, (c) => { c.setUsage(null as never); c.setFinishReasons('x' as never); return 'ok'; })).toBe('ok');
    expect(recordOutcome(undefined as never)).toBeUndefined();
  });

  it('a failing tracer: helpers run fn without a span', async () => {
    const broken = { getTracer() { throw new Error('tracer exploded'); } } as unknown as TracerProvider;
    configureAudit({ tracerProvider: broken });
    expect(traceToolCall({ name: 't', action: 'read' }, (t) => { t.setPermission('granted'); return 1; })).toBe(1);
    expect(await traceRetrieval({}, async () => 2)).toBe(2);
    expect(recordSystemEffect({ effect: 'none', targetSystem: 's', targetId: 'i' })).toBeUndefined();
    expect(h.spans()).toHaveLength(0);
  });

  it('does not subscribe to non-Promise thenables (that could run them twice)', () => {
    let thenCalls = 0;
    const lazy = { then(resolve: (v: string) => void) { thenCalls++; resolve('q'); } };
    expect(traceToolCall({ name: 'db', action: 'read' }, () => lazy)).toBe(lazy);
    expect(thenCalls).toBe(0);
    expect(h.span('execute_tool db').ended).toBe(true);
  });
});
