import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import type { Sampler, SamplingDecision, SamplingResult } from './sdk-types.ts';
import { getAuditAttributes } from './context.ts';
import { GEN_AI_OPERATION_NAME } from './internal/genai.ts';
import { reportInternalError } from './internal/safe.ts';

// The SDK's SamplingDecision.RECORD_AND_SAMPLED; a literal so this module needs no SDK.
const RECORD_AND_SAMPLED: SamplingDecision = 2;

export interface AuditAwareSamplerOptions {
  /**
   * Keep every span started while an audit context is active (default true). Turn off to keep
   * only spans whose own start attributes mark them as audit-relevant.
   */
  keepInAuditContext?: boolean;
}

/** True when attributes mark a span as audit-relevant: any audit.* key, or a GenAI operation. */
export function hasAuditAttributes(attributes: Attributes | undefined): boolean {
  if (attributes === undefined) return false;
  if (attributes[GEN_AI_OPERATION_NAME] !== undefined) return true;
  for (const key in attributes) if (key.startsWith('audit.')) return true;
  return false;
}

const AUDIT_AWARE = Symbol.for('@otel-audit/instrumentation/audit-aware-sampler');

export function isAuditAwareSampler(sampler: Sampler): boolean {
  return (sampler as unknown as Record<symbol, unknown>)[AUDIT_AWARE] === true;
}

/**
 * A Sampler that keeps (RECORD_AND_SAMPLED) every span that is audit-relevant at start: its
 * start attributes carry audit.* or gen_ai.operation.name, or an audit context is active in
 * its parent context. Everything else goes to `delegate`, whose attributes and trace state
 * are kept. Only attributes passed to `startSpan` are visible here, not ones set later.
 */
export function auditAwareSampler(delegate: Sampler, options: AuditAwareSamplerOptions = {}): Sampler {
  const keepInAuditContext = options.keepInAuditContext ?? true;
  return {
    [AUDIT_AWARE]: true,
    shouldSample(ctx: Context, traceId: string, spanName: string, spanKind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
      const result = delegate.shouldSample(ctx, traceId, spanName, spanKind, attributes, links);
      if (result.decision === RECORD_AND_SAMPLED) return result;
      let relevant = false;
      try {
        relevant = hasAuditAttributes(attributes) || (keepInAuditContext && getAuditAttributes(ctx) !== undefined);
      } catch (err) {
        reportInternalError('auditAwareSampler', err);
      }
      return relevant ? { ...result, decision: RECORD_AND_SAMPLED } : result;
    },
    toString(): string {
      return `AuditAwareSampler{${delegate.toString()}}`;
    },
  } as Sampler;
}
