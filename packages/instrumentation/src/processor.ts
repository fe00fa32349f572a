import { diag, TraceFlags, type Context } from '@opentelemetry/api';
import type { EndedSpan, ProcessedSpan, SpanProcessor } from './sdk-types.ts';
import { getAuditAttributes } from './context.ts';
import { reportInternalError } from './internal/safe.ts';
import { hasAuditAttributes } from './sampler.ts';

/**
 * Stamps the active audit context (`withAuditContext`, or audit.* W3C baggage) onto every
 * span that starts while it is active and does not already carry those attributes, so the
 * spans of other instrumentations (HTTP, @opentelemetry/instrumentation-openai, ...) join the
 * audit trail too. It exports nothing: put it first in `spanProcessors`, next to your
 * exporting processor.
 *
 * It cannot rescue spans from sampling: a span the sampler dropped (NOT_RECORD) never
 * reaches a SpanProcessor, and an unsampled span (RECORD only) is dropped by the standard
 * exporting processors whatever this one does. Use `auditAwareSampler` for that; this
 * processor warns once when it sees an audit span that was recorded but not sampled.
 */
export class AuditSpanProcessor implements SpanProcessor {
  #warnedUnsampled = false;

  onStart(span: ProcessedSpan, parentContext: Context): void {
    try {
      const attrs = getAuditAttributes(parentContext);
      if (attrs === undefined) return;
      const existing = span.attributes;
      for (const key in attrs) {
        if (existing[key] === undefined) span.setAttribute(key, attrs[key]);
      }
    } catch (err) {
      reportInternalError('AuditSpanProcessor.onStart', err);
    }
  }

  onEnd(span: EndedSpan): void {
    if (this.#warnedUnsampled) return;
    try {
      if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0 && hasAuditAttributes(span.attributes)) {
        this.#warnedUnsampled = true;
        diag.warn(
          `@otel-audit/instrumentation: audit span "${span.name}" was recorded but not sampled and will not be exported; ` +
            'wrap your sampler with auditAwareSampler() to keep audit spans',
        );
      }
    } catch (err) {
      reportInternalError('AuditSpanProcessor.onEnd', err);
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The span processors to hand an SDK you configure yourself: `AuditSpanProcessor` first,
 * then yours, e.g. `new NodeSDK({ spanProcessors: auditSpanProcessors(new BatchSpanProcessor({ exporter })) })`.
 */
export function auditSpanProcessors(...processors: SpanProcessor[]): SpanProcessor[] {
  return [new AuditSpanProcessor(), ...processors];
}
