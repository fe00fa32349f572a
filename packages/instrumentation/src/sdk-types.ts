/**
 * The parts of the OpenTelemetry SDK's types that this package uses, written structurally so
 * that its declarations need no SDK package: they fit the 2.x SDK (`@opentelemetry/sdk-trace-base`)
 * and the 3.x SDK (`@opentelemetry/sdk-trace`) alike, and an app without an SDK still type-checks.
 */
import type { Attributes, AttributeValue, Context, Link, SpanContext, SpanKind, TraceState } from '@opentelemetry/api';

/** A span as a SpanProcessor's onStart sees it (the SDK's `Span`). */
export interface ProcessedSpan {
  readonly attributes: Attributes;
  setAttribute(key: string, value: AttributeValue): unknown;
}

/** An ended span as a SpanProcessor's onEnd sees it (the SDK's `ReadableSpan`). */
export interface EndedSpan {
  readonly name: string;
  readonly attributes: Attributes;
  spanContext(): SpanContext;
}

/** The SDK's `SpanProcessor`. */
export interface SpanProcessor {
  onStart(span: ProcessedSpan, parentContext: Context): void;
  onEnd(span: EndedSpan): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The SDK's `SamplingDecision`: 0 NOT_RECORD, 1 RECORD, 2 RECORD_AND_SAMPLED. */
export type SamplingDecision = 0 | 1 | 2;

/** The SDK's `SamplingResult`. */
export interface SamplingResult {
  decision: SamplingDecision;
  attributes?: Readonly<Attributes>;
  traceState?: TraceState;
}

/** The SDK's `Sampler`. */
export interface Sampler {
  shouldSample(context: Context, traceId: string, spanName: string, spanKind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult;
  toString(): string;
}
