import { context, propagation, ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
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
import { setupGlobalTracing, sleep } from '../test/harness.ts';
import { configureAudit, getAuditContext, withAuditContext, type AuditContext } from './index.ts';

const h = setupGlobalTracing();
const tracer = trace.getTracer('test');

const FULL: AuditContext = {
  correlationId: 'case-42',
  actor: { id: 'agent-7', type: 'agent', role: 'drafter' },
  onBehalfOf: 'alice@example.com',
  initiation: 'ai_assisted',
  purpose: 'draft',
  risk: 'high',
  tenant: 'acme',
};

beforeEach(() => h.reset());
afterEach(() => configureAudit({ baggage: true }));

describe('withAuditContext / getAuditContext', () => {
  it('is undefined outside any context and returns fn’s value inside', () => {
    expect(getAuditContext()).toBeUndefined();
    const out = withAuditContext(FULL, () => getAuditContext());
    expect(out).toEqual(FULL);
    expect(getAuditContext()).toBeUndefined();
  });

  it('merges nested contexts, inner wins, and replaces the actor whole', () => {
    withAuditContext(FULL, () => {
      withAuditContext({ purpose: 'summarize', actor: { id: 'svc-1', type: 'service' } }, () => {
        expect(getAuditContext()).toEqual({ ...FULL, purpose: 'summarize', actor: { id: 'svc-1', type: 'service' } });
        // The outer actor's role must not leak into the inner actor, in baggage either.
        expect(propagation.getBaggage(context.active())?.getEntry(ATTR_AUDIT_ACTOR_ROLE)).toBeUndefined();
      });
      expect(getAuditContext()).toEqual(FULL);
    });
  });

  it('rethrows the app’s error unchanged', () => {
    const boom = new TypeError('boom');
    expect(() =>
      withAuditContext(FULL, () => {
        throw boom;
      }),
    ).toThrow(boom);
  });

  it('ignores invalid field values instead of throwing', () => {
    const bad = { correlationId: '', actor: { id: 42, type: null }, risk: undefined, purpose: 'answer' } as unknown as AuditContext;
    expect(withAuditContext(bad, () => getAuditContext())).toEqual({ purpose: 'answer' });
  });

  it('follows await, setTimeout and Promise.all, and keeps concurrent contexts apart', async () => {
    const run = (id: string, delay: number) =>
      withAuditContext({ correlationId: id }, async () => {
        const seen: (string | undefined)[] = [];
        await sleep(delay);
        seen.push(getAuditContext()?.correlationId);
        await new Promise<void>((resolve) =>
          setTimeout(() => {
            seen.push(getAuditContext()?.correlationId);
            resolve();
          }, delay),
        );
        const inner = await Promise.all([1, 2, 3].map(async (n) => {
          await sleep(n);
          return getAuditContext()?.correlationId;
        }));
        seen.push(...inner);
        queueMicrotask(() => seen.push(getAuditContext()?.correlationId));
        await sleep(1);
        return seen;
      });
    const [a, b] = await Promise.all([run('A', 5), run('B', 1)]);
    expect(a).toEqual(Array(6).fill('A'));
    expect(b).toEqual(Array(6).fill('B'));
    expect(getAuditContext()).toBeUndefined();
  });
});

describe('W3C baggage', () => {
  it('round-trips through inject/extract, encoding awkward values', () => {
    const audit: AuditContext = { ...FULL, correlationId: 'case 42, part=1; ü', onBehalfOf: 'bob,o’hara@example.com' };
    const carrier: Record<string, string> = {};
    withAuditContext(audit, () => {
      const span = tracer.startSpan('outgoing');
      context.with(trace.setSpan(context.active(), span), () => propagation.inject(context.active(), carrier));
      span.end();
    });
    expect(carrier.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(carrier.baggage).toContain(`${ATTR_AUDIT_CORRELATION_ID}=case%2042%2C%20part%3D1%3B%20%C3%BC`);

    // The downstream service: no audit context of its own, only the headers.
    const downstream: Context = propagation.extract(ROOT_CONTEXT, carrier);
    expect(getAuditContext(downstream)).toEqual(audit);
    const span = tracer.startSpan('downstream work', {}, downstream);
    span.end();
    const attrs = h.span('downstream work').attributes;
    expect(attrs).toMatchObject({
      [ATTR_AUDIT_CORRELATION_ID]: audit.correlationId,
      [ATTR_AUDIT_ACTOR_ID]: 'agent-7',
      [ATTR_AUDIT_ACTOR_TYPE]: 'agent',
      [ATTR_AUDIT_ACTOR_ROLE]: 'drafter',
      [ATTR_AUDIT_ON_BEHALF_OF]: audit.onBehalfOf,
      [ATTR_AUDIT_INITIATION]: 'ai_assisted',
      [ATTR_AUDIT_PURPOSE]: 'draft',
      [ATTR_AUDIT_RISK]: 'high',
      [ATTR_AUDIT_TENANT]: 'acme',
    });
    expect(h.span('downstream work').spanContext().traceId).toBe(h.span('outgoing').spanContext().traceId);

    // And the downstream service can narrow it further.
    context.with(downstream, () => withAuditContext({ purpose: 'update' }, () => expect(getAuditContext()).toEqual({ ...audit, purpose: 'update' })));
  });

  it('propagates only the configured keys', () => {
    configureAudit({ baggage: [ATTR_AUDIT_CORRELATION_ID] });
    const carrier: Record<string, string> = {};
    withAuditContext(FULL, () => {
      propagation.inject(context.active(), carrier);
      // In-process the full context is still there.
      expect(getAuditContext()).toEqual(FULL);
    });
    expect(carrier.baggage).toBe(`${ATTR_AUDIT_CORRELATION_ID}=case-42`);
    expect(getAuditContext(propagation.extract(ROOT_CONTEXT, carrier))).toEqual({ correlationId: 'case-42' });

    configureAudit({ baggage: false });
    const none: Record<string, string> = {};
    withAuditContext(FULL, () => propagation.inject(context.active(), none));
    expect(none.baggage).toBeUndefined();
  });

  it('keeps unrelated baggage entries', () => {
    const ctx = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ 'user.tier': { value: 'gold' } }));
    const carrier: Record<string, string> = {};
    context.with(ctx, () => withAuditContext({ correlationId: 'c1' }, () => propagation.inject(context.active(), carrier)));
    expect(carrier.baggage?.split(',').sort()).toEqual([`${ATTR_AUDIT_CORRELATION_ID}=c1`, 'user.tier=gold']);
  });
});
