import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../model.ts';
import type { AuditContext } from '../normalize/index.ts';
import { Correlator } from './correlator.ts';
import type { PendingEvent, SpanNode } from './types.ts';

const T = 'a'.repeat(32);

function node(spanId: string, parent: string, context: AuditContext = {}, traceId = T): SpanNode {
  return { traceId, spanId, parentSpanId: parent, context };
}

function pending(n: SpanNode, arrivedAt: number, opts: Partial<PendingEvent> = {}): PendingEvent {
  const event = { event_id: n.spanId, trace_id: n.traceId, span_id: n.spanId, tenant: '', risk: 'medium', input_digest: '', output_digest: '', content: '', attributes: {}, redactions: 0 } as AuditEvent;
  return { event, node: n, pieces: [], awaitsContent: false, arrivedAt, ...opts };
}

describe('Correlator', () => {
  it('holds a child that arrives before its root, then gives it the root correlation id and identity', () => {
    const c = new Correlator<PendingEvent>({ decisionWaitMs: 10_000, contentWaitMs: 1000 });
    const child = node('c1', 'r1', {});
    c.addSpan(child, pending(child, 0), 0);
    expect(c.takeReady(100)).toEqual([]);
    const root = node('r1', '', { correlationId: 'CASE-1', correlationSource: 'attribute', actorId: 'alice', risk: 'high', tenant: 't1' });
    c.addSpan(root, pending(root, 200), 200);
    const ready = c.takeReady(200);
    expect(ready.map((p) => p.event.span_id).sort()).toEqual(['c1', 'r1']);
    const e = ready.find((p) => p.event.span_id === 'c1')!.event;
    expect(e.correlation_id).toBe('CASE-1');
    expect(e.correlation_source).toBe('ancestor');
    expect(e.actor_id).toBe('alice');
    expect(e.risk).toBe('high');
    expect(e.tenant).toBe('t1');
    expect(c.stats.decidedByAncestry).toBe(2);
  });

  it('inherits through spans that have no audit meaning (nodes only), nearest ancestor first', () => {
    const c = new Correlator<PendingEvent>();
    const grandchild = node('g', 'm', { actorId: 'bot-1' });
    c.addSpan(grandchild, pending(grandchild, 0), 0);
    c.addSpan(node('m', 'r', { actorId: 'svc', purpose: 'draft' }), null, 1);
    c.addSpan(node('r', '', { correlationId: 'T-9', correlationSource: 'attribute', actorId: 'human-1', onBehalfOf: 'cust' }), null, 2);
    const [p] = c.takeReady(3);
    expect(p.event.correlation_id).toBe('T-9');
    expect(p.event.actor_id).toBe('bot-1'); // its own
    expect(p.event.purpose).toBe('draft'); // nearest ancestor
    expect(p.event.on_behalf_of).toBe('cust'); // root
  });

  it('own conversation id beats an ancestor; a missing ancestor falls back to the trace id after the window', () => {
    const c = new Correlator<PendingEvent>({ decisionWaitMs: 500 });
    const a = node('a', 'missing', { correlationId: 'conv-1', correlationSource: 'conversation' });
    const b = node('b', 'missing', {});
    c.addSpan(a, pending(a, 0), 0);
    c.addSpan(b, pending(b, 0), 0);
    expect(c.takeReady(499)).toEqual([]);
    const ready = c.takeReady(500);
    expect(ready.find((p) => p.node.spanId === 'a')!.event.correlation_id).toBe('conv-1');
    expect(ready.find((p) => p.node.spanId === 'a')!.event.correlation_source).toBe('conversation');
    const eb = ready.find((p) => p.node.spanId === 'b')!.event;
    expect(eb.correlation_id).toBe(T);
    expect(eb.correlation_source).toBe('trace');
    expect(c.stats.decidedByTimeout).toBe(2);
  });

  it('waits for content of a model call, joining content that arrives before or after the span', () => {
    const c = new Correlator<PendingEvent>({ contentWaitMs: 1000 });
    const early = node('m1', '');
    c.addContent(T, 'm1', [{ section: 'input', value: { role: 'user' }, digest: 'd1', order: '1', redactions: 0 }], 0);
    c.addSpan(early, pending(early, 0, { awaitsContent: true }), 0);
    expect(c.takeReady(10)).toEqual([]); // input only: still waiting for the output
    c.addContent(T, 'm1', [{ section: 'output', value: { role: 'assistant' }, digest: 'd2', order: '2', redactions: 1 }], 20);
    const [p] = c.takeReady(20);
    expect(JSON.parse(p.event.content)).toEqual({ input: [{ role: 'user' }], output: [{ role: 'assistant' }] });
    expect(p.event.input_digest).toMatch(/^[0-9a-f]{64}$/);
    // Content after the decision is counted as late, never silently merged into a stored row.
    c.addContent(T, 'm1', [{ section: 'output', value: 'x', digest: 'd3', order: '3', redactions: 0 }], 30);
    expect(c.stats.contentLate).toBe(1);
  });

  it('orders the messages of a call by log time, whatever order their records arrive in', () => {
    const c = new Correlator<PendingEvent>({ contentWaitMs: 1000 });
    const m = node('m2', '');
    const piece = (section: 'input' | 'output', text: string, order: string) => ({ section, value: text, digest: text, order, redactions: 0 });
    // The later user message and the choice arrive before the first message of the prompt.
    c.addContent(T, 'm2', [piece('input', 'second', '0002:000000')], 0);
    c.addContent(T, 'm2', [piece('output', 'answer', '0003:000000')], 0);
    c.addContent(T, 'm2', [piece('input', 'first', '0001:000000'), piece('input', 'first-b', '0001:000001')], 0);
    c.addSpan(m, pending(m, 0, { awaitsContent: true }), 0);
    const [p] = c.takeReady(1);
    expect(JSON.parse(p.event.content)).toEqual({ input: ['first', 'first-b', 'second'], output: ['answer'] });
  });

  it('decides a model call without content once the content window passes', () => {
    const c = new Correlator<PendingEvent>({ contentWaitMs: 300 });
    const m = node('m', '');
    c.addSpan(m, pending(m, 0, { awaitsContent: true }), 0);
    expect(c.takeReady(299)).toEqual([]);
    expect(c.takeReady(300)).toHaveLength(1);
  });

  it('ignores a duplicate of a pending or decided span', () => {
    const c = new Correlator<PendingEvent>();
    const r = node('r', '');
    c.addSpan(r, pending(r, 0), 0);
    c.addSpan(r, pending(r, 0), 0);
    expect(c.takeReady(1)).toHaveLength(1);
    c.addSpan(r, pending(r, 2), 2);
    expect(c.takeReady(3)).toHaveLength(0);
    expect(c.stats.duplicatesIgnored).toBe(2);
  });

  it('drains everything on shutdown and bounds the traces it holds', () => {
    const c = new Correlator<PendingEvent>({ maxTraces: 10, traceTtlMs: 1_000_000 });
    for (let i = 0; i < 50; i++) {
      const n = node('s', 'p', {}, i.toString(16).padStart(32, '0'));
      c.addSpan(n, null, i);
    }
    c.takeReady(100);
    expect(c.stats.traces).toBeLessThanOrEqual(10);
    const n = node('x', 'nope');
    c.addSpan(n, pending(n, 0), 0);
    expect(c.drain(1)).toHaveLength(1);
    expect(c.pending).toBe(0);
  });

  it('waits for each missing ancestor in turn when a chain arrives leaf first, one link at a time', () => {
    const c = new Correlator<PendingEvent>();
    const leaf = node('d', 'c');
    c.addSpan(leaf, pending(leaf, 0), 0);
    c.addSpan(node('c', 'b'), null, 1);
    expect(c.takeReady(1)).toEqual([]);
    const b = node('b', 'a', { actorId: 'agent-7' });
    c.addSpan(b, pending(b, 2), 2);
    expect(c.takeReady(2)).toEqual([]);
    c.addSpan(node('a', '', { correlationId: 'CASE-9', correlationSource: 'attribute' }), null, 3);
    const ready = c.takeReady(3);
    expect(ready.map((p) => p.event.span_id).sort()).toEqual(['b', 'd']);
    for (const p of ready) expect(p.event.correlation_id).toBe('CASE-9');
    expect(ready.find((p) => p.event.span_id === 'd')!.event.actor_id).toBe('agent-7');
    expect(c.stats.decidedByAncestry).toBe(2);
  });

  it('keeps a snapshot of a waiting trace whole, including spans kept only as ancestry links', () => {
    const c = new Correlator<PendingEvent>();
    const leaf = node('l', 'm');
    c.addSpan(leaf, pending(leaf, 0), 0);
    c.addSpan(node('m', 'root'), null, 0);
    const snap = c.snapshot();
    expect(snap.nodes.map((n) => [n.spanId, n.parentSpanId]).sort()).toEqual([['l', 'm'], ['m', 'root']]);
    expect(snap.pending.map((p) => p.node.spanId)).toEqual(['l']);
    // Replayed into a new correlator, the root's arrival decides the leaf as before.
    const d = new Correlator<PendingEvent>();
    for (const n of snap.nodes) d.addSpan(n, null, 0);
    for (const p of snap.pending) d.addSpan(p.node, p, 0);
    d.addSpan(node('root', '', { correlationId: 'CASE-2', correlationSource: 'attribute' }), null, 1);
    expect(d.takeReady(1).map((p) => p.event.correlation_id)).toEqual(['CASE-2']);
  });

  it('stays linear in a large trace whose root arrives last (20,000 children waiting)', () => {
    const c = new Correlator<PendingEvent>({ maxTraces: 10 });
    const started = performance.now();
    for (let i = 0; i < 20_000; i++) {
      const n = node(`s${i}`, 'root');
      c.addSpan(n, pending(n, 0), 0);
    }
    c.addSpan(node('root', '', { correlationId: 'BIG', correlationSource: 'attribute' }), null, 1);
    const ready = c.takeReady(1);
    // Re-evaluating every pending event per new span took minutes here (quadratic).
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(ready).toHaveLength(20_000);
    expect(ready.every((p) => p.event.correlation_id === 'BIG')).toBe(true);
  });
});
