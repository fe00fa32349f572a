// Overhead of the helpers, in µs per call, against a plain tracer.startActiveSpan.
// Run: node packages/instrumentation/bench.ts [iterations]
// Setup: the real SDK, AuditSpanProcessor + BatchSpanProcessor with a no-op exporter,
// AsyncLocalStorage context manager, W3C propagators; an audit context is active unless noted.
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import {
  auditSpanProcessors,
  proposalRef,
  recordApproval,
  recordOutcome,
  recordSystemEffect,
  traceModelCall,
  traceRetrieval,
  traceToolCall,
  withAuditContext,
} from './src/index.ts';

const iterations = Number(process.argv[2] ?? 50_000);
const rounds = 5;

let exported = 0;
const noopExporter: SpanExporter = {
  export(spans: ReadableSpan[], done) {
    exported += spans.length;
    done({ code: 0 });
  },
  shutdown: () => Promise.resolve(),
};
const provider = new TracerProvider({
  // A queue big enough that no span is dropped: dropping would flatter every row.
  spanProcessors: auditSpanProcessors(new BatchSpanProcessor({ exporter: noopExporter, maxQueueSize: iterations * 2, maxExportBatchSize: 512, scheduledDelayMillis: 50 })),
});
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
trace.setGlobalTracerProvider(provider);
const tracer = trace.getTracer('bench');

const AUDIT = {
  correlationId: 'case-123',
  actor: { id: 'agent-7', type: 'agent' as const, role: 'drafter' },
  onBehalfOf: 'alice',
  initiation: 'ai_assisted' as const,
  purpose: 'draft',
  risk: 'medium' as const,
  tenant: 'acme',
};
const SOURCES = [
  { id: 'doc-1', uri: 's3://kb/doc-1', version: '3', sensitivity: 'internal', score: 0.9 },
  { id: 'doc-2', score: 0.4 },
];
const proposal = tracer.startSpan('proposal');
proposal.end();
const REF = withAuditContext(AUDIT, () => proposalRef(proposal));

type Case = { name: string; inContext: boolean; run: () => unknown };
const cases: Case[] = [
  { name: 'baseline: startActiveSpan + end (no audit context)', inContext: false, run: () => tracer.startActiveSpan('op', (s) => s.end()) },
  { name: 'baseline: startActiveSpan + end (audit context, stamped)', inContext: true, run: () => tracer.startActiveSpan('op', (s) => s.end()) },
  { name: 'withAuditContext (no span)', inContext: true, run: () => withAuditContext({ purpose: 'answer' }, () => 1) },
  { name: 'traceToolCall', inContext: true, run: () => traceToolCall({ name: 'crm_update', callId: 'c1', action: 'update', targetSystem: 'crm', targetId: 'r1', permission: 'granted' }, () => 1) },
  { name: 'traceRetrieval (2 sources)', inContext: true, run: () => traceRetrieval({ dataSource: 'kb', sources: SOURCES }, () => 1) },
  {
    name: 'traceModelCall + setUsage',
    inContext: true,
    run: () =>
      traceModelCall({ provider: 'openai', model: 'gpt-x', promptVersion: 'v4' }, (c) => {
        c.setUsage({ inputTokens: 100, outputTokens: 20 });
        c.setResponseModel('gpt-x-1');
        return 1;
      }),
  },
  { name: 'recordSystemEffect', inContext: true, run: () => recordSystemEffect({ effect: 'message_sent', targetSystem: 'smtp', targetId: 'm1', action: 'send' }) },
  { name: 'recordOutcome', inContext: true, run: () => recordOutcome({ outcome: 'completed' }) },
  { name: 'recordApproval (serialized ref)', inContext: true, run: () => recordApproval({ proposal: REF, decision: 'approved', reviewer: { id: 'u1', role: 'lead' } }) },
  { name: 'proposalRef()', inContext: true, run: () => tracer.startActiveSpan('p', (s) => { proposalRef(); s.end(); }) },
];

function timeOnce(c: Case): number {
  const loop = (): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) c.run();
    return Number(process.hrtime.bigint() - start) / 1000 / iterations;
  };
  return c.inContext ? withAuditContext(AUDIT, loop) : loop();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const results: { name: string; us: number }[] = [];
for (const c of cases) {
  timeOnce(c); // warm-up
  await provider.forceFlush();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    samples.push(timeOnce(c));
    await provider.forceFlush();
  }
  results.push({ name: c.name, us: median(samples) });
}
await provider.shutdown();

const base = results[0].us;
const width = Math.max(...results.map((r) => r.name.length));
console.log(`node ${process.version}, ${iterations} calls x ${rounds} rounds (median), ${exported} spans exported`);
console.log(`${'case'.padEnd(width)}  µs/call  vs baseline`);
for (const r of results) console.log(`${r.name.padEnd(width)}  ${r.us.toFixed(2).padStart(7)}  ${(r.us / base).toFixed(2).padStart(6)}x`);
