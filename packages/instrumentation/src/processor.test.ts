import { context, diag, DiagLogLevel, propagation, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { AlwaysOffSampler, AlwaysOnSampler, createAlwaysRecordSampler, TraceIdRatioBasedSampler, type Sampler } from '@opentelemetry/sdk-trace';
import {
  ATTR_AUDIT_ACTOR_ID,
  ATTR_AUDIT_ACTOR_ROLE,
  ATTR_AUDIT_ACTOR_TYPE,
  ATTR_AUDIT_CORRELATION_ID,
  ATTR_AUDIT_INITIATION,
  ATTR_AUDIT_ON_BEHALF_OF,
  ATTR_AUDIT_PURPOSE,
  ATTR_AUDIT_RISK,
  ATTR_AUDIT_TENANT,
} from '@otel-audit/semconv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capturingLogger, makeProvider, setupGlobalTracing } from '../test/harness.ts';
import {
  auditAwareSampler,
  AuditSpanProcessor,
  auditSpanProcessors,
  configureAudit,
  isAuditAwareSampler,
  recordOutcome,
  traceToolCall,
  withAuditContext,
  type AuditContext,
} from './index.ts';

const h = setupGlobalTracing();
const tracer = trace.getTracer('some-other-instrumentation');

const AUDIT: AuditContext = {
  correlationId: 'T-1',
  actor: { id: 'u-1', type: 'human', role: 'agent' },
  onBehalfOf: 'customer-9',
  initiation: 'human',
  purpose: 'answer',
  risk: 'low',
  tenant: 't1',
};

beforeEach(() => h.reset());
afterEach(() => configureAudit({ tracerProvider: undefined }));

describe('AuditSpanProcessor', () => {
  it('stamps every audit attribute on a plain tracer.startSpan inside withAuditContext', () => {
    withAuditContext(AUDIT, () => tracer.startSpan('chat gpt-4o').end());
    expect(h.span('chat gpt-4o').attributes).toEqual({
      [ATTR_AUDIT_CORRELATION_ID]: 'T-1',
      [ATTR_AUDIT_ACTOR_ID]: 'u-1',
      [ATTR_AUDIT_ACTOR_TYPE]: 'human',
      [ATTR_AUDIT_ACTOR_ROLE]: 'agent',
      [ATTR_AUDIT_ON_BEHALF_OF]: 'customer-9',
      [ATTR_AUDIT_INITIATION]: 'human',
      [ATTR_AUDIT_PURPOSE]: 'answer',
      [ATTR_AUDIT_RISK]: 'low',
      [ATTR_AUDIT_TENANT]: 't1',
    });
  });

  it('stamps spans started later in the same async flow and in nested startActiveSpan', async () => {
    await withAuditContext(AUDIT, async () => {
      await new Promise((r) => setTimeout(r, 1));
      await tracer.startActiveSpan('outer', async (outer) => {
        await Promise.resolve();
        tracer.startSpan('inner').end();
        outer.end();
      });
    });
    expect(h.span('outer').attributes[ATTR_AUDIT_CORRELATION_ID]).toBe('T-1');
    expect(h.span('inner').attributes[ATTR_AUDIT_CORRELATION_ID]).toBe('T-1');
  });

  it('never overwrites attributes a span already carries', () => {
    withAuditContext(AUDIT, () => tracer.startSpan('own', { attributes: { [ATTR_AUDIT_CORRELATION_ID]: 'OTHER', [ATTR_AUDIT_RISK]: 'high' } }).end());
    const attrs = h.span('own').attributes;
    expect(attrs[ATTR_AUDIT_CORRELATION_ID]).toBe('OTHER');
    expect(attrs[ATTR_AUDIT_RISK]).toBe('high');
    expect(attrs[ATTR_AUDIT_ACTOR_ID]).toBe('u-1');
  });

  it('leaves spans outside an audit context alone, and stamps from extracted baggage alone', () => {
    tracer.startSpan('plain').end();
    expect(h.span('plain').attributes).toEqual({});

    const ctx = propagation.extract(ROOT_CONTEXT, { baggage: `${ATTR_AUDIT_CORRELATION_ID}=from-upstream,${ATTR_AUDIT_ACTOR_ID}=svc-x` });
    tracer.startSpan('remote', {}, ctx).end();
    expect(h.span('remote').attributes).toEqual({ [ATTR_AUDIT_CORRELATION_ID]: 'from-upstream', [ATTR_AUDIT_ACTOR_ID]: 'svc-x' });
  });

  it('auditSpanProcessors puts ours first', () => {
    const other = new AuditSpanProcessor();
    const list = auditSpanProcessors(other);
    expect(list).toHaveLength(2);
    expect(list[0]).toBeInstanceOf(AuditSpanProcessor);
    expect(list[1]).toBe(other);
  });

  it('warns once when an audit span was recorded but not sampled', () => {
    const logger = capturingLogger();
    diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    try {
      const p = makeProvider({ sampler: createAlwaysRecordSampler(new AlwaysOffSampler()) });
      const t = p.provider.getTracer('x');
      withAuditContext(AUDIT, () => {
        t.startSpan('a').end();
        t.startSpan('b').end();
      });
      expect(p.spans()).toHaveLength(0);
      expect(logger.warnings.filter((w) => w.includes('auditAwareSampler'))).toHaveLength(1);
    } finally {
      diag.disable();
    }
  });
});

describe('auditAwareSampler', () => {
  const zero = (): Sampler => auditAwareSampler(new TraceIdRatioBasedSampler(0));

  it('keeps audit-relevant spans when the delegate samples 0%', () => {
    const p = makeProvider({ sampler: zero() });
    const t = p.provider.getTracer('x');
    t.startSpan('plain').end();
    t.startSpan('has audit attr', { attributes: { [ATTR_AUDIT_PURPOSE]: 'classify' } }).end();
    t.startSpan('chat gpt', { attributes: { 'gen_ai.operation.name': 'chat' } }).end();
    withAuditContext({ correlationId: 'keep-me' }, () => t.startSpan('in context').end());
    // Only attributes given at start count: set later, the sampler cannot see them.
    const late = t.startSpan('late attrs');
    late.setAttribute(ATTR_AUDIT_PURPOSE, 'x');
    late.end();

    const names = p.spans().map((s) => s.name).sort();
    expect(names).toEqual(['chat gpt', 'has audit attr', 'in context']);
    for (const s of p.spans()) expect(s.spanContext().traceFlags & TraceFlags.SAMPLED).toBe(TraceFlags.SAMPLED);
    expect(p.span('in context').attributes[ATTR_AUDIT_CORRELATION_ID]).toBe('keep-me');
  });

  it('keeps helper spans through the global API', () => {
    const p = makeProvider({ sampler: zero() });
    configureAudit({ tracerProvider: p.provider });
    expect(traceToolCall({ name: 'send_email', action: 'send' }, () => 'sent')).toBe('sent');
    recordOutcome({ outcome: 'completed' });
    expect(p.spans().map((s) => s.name)).toEqual(['execute_tool send_email', 'outcome completed']);
  });

  it('can keep only spans that are audit-relevant by their own attributes', () => {
    const p = makeProvider({ sampler: auditAwareSampler(new TraceIdRatioBasedSampler(0), { keepInAuditContext: false }) });
    const t = p.provider.getTracer('x');
    withAuditContext({ correlationId: 'c' }, () => {
      t.startSpan('http GET').end();
      t.startSpan('chat', { attributes: { 'gen_ai.operation.name': 'chat' } }).end();
    });
    expect(p.spans().map((s) => s.name)).toEqual(['chat']);
  });

  it('passes the delegate’s decision through untouched when it samples, and describes itself', () => {
    const delegate = new AlwaysOnSampler();
    const s = auditAwareSampler(delegate);
    expect(isAuditAwareSampler(s)).toBe(true);
    expect(isAuditAwareSampler(delegate)).toBe(false);
    expect(s.toString()).toBe('AuditAwareSampler{AlwaysOnSampler}');
    const p = makeProvider({ sampler: s });
    p.provider.getTracer('x').startSpan('any').end();
    expect(p.spans()).toHaveLength(1);
  });

  it('keeps a child span in an audit context even under an unsampled parent', () => {
    const p = makeProvider({ sampler: zero() });
    const t = p.provider.getTracer('x');
    const parent = t.startSpan('unsampled root');
    expect(parent.isRecording()).toBe(false);
    context.with(trace.setSpan(context.active(), parent), () => withAuditContext({ correlationId: 'c' }, () => t.startSpan('audit child').end()));
    parent.end();
    const child = p.span('audit child');
    expect(child.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
  });
});
