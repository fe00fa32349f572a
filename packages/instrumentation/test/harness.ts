// Shared test setup: the real SDK (TracerProvider, AsyncLocalStorage context manager, W3C
// propagators) exporting to memory. Each vitest file runs in its own process, so each file
// registers the globals once.
import { context, propagation, trace, type DiagLogger } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan, type Sampler } from '@opentelemetry/sdk-trace';
import { AuditSpanProcessor } from '../src/index.ts';

export interface Harness {
  provider: TracerProvider;
  exporter: InMemorySpanExporter;
  spans(): ReadableSpan[];
  span(name: string): ReadableSpan;
  reset(): void;
}

/** A provider with AuditSpanProcessor + SimpleSpanProcessor(InMemorySpanExporter). */
export function makeProvider(options: { sampler?: Sampler; auditProcessor?: boolean } = {}): Harness {
  const exporter = new InMemorySpanExporter();
  const spanProcessors = [new SimpleSpanProcessor({ exporter })];
  const provider = new TracerProvider({
    sampler: options.sampler,
    spanProcessors: options.auditProcessor === false ? spanProcessors : [new AuditSpanProcessor(), ...spanProcessors],
  });
  return {
    provider,
    exporter,
    spans: () => exporter.getFinishedSpans(),
    span(name) {
      const found = exporter.getFinishedSpans().filter((s) => s.name === name);
      if (found.length !== 1) throw new Error(`expected one span "${name}", found ${found.length}: ${exporter.getFinishedSpans().map((s) => s.name).join(', ')}`);
      return found[0];
    },
    reset: () => exporter.reset(),
  };
}

/** Registers the globals (context manager, propagators, tracer provider) once per test file. */
export function setupGlobalTracing(options: { sampler?: Sampler; auditProcessor?: boolean } = {}): Harness {
  const harness = makeProvider(options);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(harness.provider);
  return harness;
}

export function hexId(span: ReadableSpan): { traceId: string; spanId: string } {
  const sc = span.spanContext();
  return { traceId: sc.traceId, spanId: sc.spanId };
}

export function capturingLogger(): DiagLogger & { warnings: string[] } {
  const warnings: string[] = [];
  const noop = (): void => {};
  return { warnings, warn: (msg: string) => warnings.push(msg), error: (msg: string) => warnings.push(msg), info: noop, debug: noop, verbose: noop };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
