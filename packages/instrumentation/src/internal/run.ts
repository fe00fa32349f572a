import { context, INVALID_SPAN_CONTEXT, SpanStatusCode, trace, type Attributes, type Context, type Link, type Span, type SpanContext, type SpanKind } from '@opentelemetry/api';
import { auditTracer } from '../config.ts';
import { getAuditAttributes } from '../context.ts';
import { ERROR_TYPE } from './genai.ts';
import { errorType, isThenable, reportInternalError } from './safe.ts';

export interface SpanPlan {
  name: string;
  kind: SpanKind;
  attributes: Attributes;
  links?: Link[];
}

/** A span that records nothing, for recorders when the instrumentation could not start one. */
export const NON_RECORDING_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Starts a span as a child of the active context, with the active audit context's attributes
 * under the plan's own (so helper spans carry them even without AuditSpanProcessor). Passing
 * them at start, not later, is what lets a sampler see them.
 */
export function startPlannedSpan(plan: SpanPlan, extra?: Attributes): { span: Span; ctx: Context } {
  const parent = context.active();
  const attributes: Attributes = { ...extra, ...getAuditAttributes(parent), ...plan.attributes };
  const span = auditTracer().startSpan(plan.name, { kind: plan.kind, attributes, links: plan.links }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

function safeEnd(where: string, span: Span): void {
  try {
    span.end();
  } catch (err) {
    reportInternalError(where, err);
  }
}

function finishOk<V>(where: string, span: Span, value: V, onResult: ((span: Span, value: V) => void) | undefined): void {
  if (onResult !== undefined) {
    try {
      onResult(span, value);
    } catch (err) {
      reportInternalError(where, err);
    }
  }
  safeEnd(where, span);
}

function finishError(where: string, span: Span, err: unknown): void {
  try {
    span.recordException(err instanceof Error ? err : String(err));
    span.setAttribute(ERROR_TYPE, errorType(err));
    const message = err instanceof Error ? err.message : undefined;
    span.setStatus(message ? { code: SpanStatusCode.ERROR, message } : { code: SpanStatusCode.ERROR });
  } catch (e) {
    reportInternalError(where, e);
  }
  safeEnd(where, span);
}

/**
 * Runs `fn` inside a span planned by `plan`. The app's result is returned as is (a Promise is
 * returned itself, not a chained copy, so subclasses such as the OpenAI SDK's APIPromise keep
 * their methods) and the app's errors propagate unchanged. Failures of the instrumentation's
 * own parts are reported and contained: at worst `fn` runs without a span.
 *
 * A thenable that is not a native Promise (query builders, lazy clients) is not subscribed
 * to, since calling its `then` can run it a second time: its span ends when `fn` returns.
 */
export function runInSpan<R, T>(
  where: string,
  plan: () => SpanPlan,
  makeRecorder: (span: Span) => R,
  fn: (recorder: R) => T,
  onResult?: (span: Span, value: Awaited<T>) => void,
  extra?: Attributes,
): T {
  let started: { span: Span; ctx: Context } | undefined;
  let recorder: R | undefined;
  try {
    started = startPlannedSpan(plan(), extra);
    recorder = makeRecorder(started.span);
  } catch (err) {
    reportInternalError(where, err);
    if (started !== undefined) safeEnd(where, started.span);
    started = undefined;
  }
  if (started === undefined || recorder === undefined) return fn(makeRecorder(NON_RECORDING_SPAN));

  const { span, ctx } = started;
  const rec = recorder;
  let called = false;
  let result: T;
  try {
    result = context.with(ctx, () => {
      called = true;
      return fn(rec);
    });
  } catch (err) {
    if (!called) {
      // The context manager failed before the app ran: run it plainly.
      reportInternalError(where, err);
      safeEnd(where, span);
      return fn(makeRecorder(NON_RECORDING_SPAN));
    }
    finishError(where, span, err);
    throw err;
  }

  let isPromise = false;
  try {
    isPromise = result instanceof Promise;
  } catch {
    // a hostile Proxy: treat as a plain value
  }
  if (isPromise) {
    try {
      // Side observer: the caller awaits the original promise and sees its own outcome.
      (result as Promise<Awaited<T>>).then(
        (value) => finishOk(where, span, value, onResult),
        (err: unknown) => finishError(where, span, err),
      );
    } catch (err) {
      reportInternalError(where, err);
      safeEnd(where, span);
    }
    return result;
  }
  let thenable = false;
  try {
    thenable = isThenable(result);
  } catch {
    // as above
  }
  finishOk(where, span, result as Awaited<T>, thenable ? undefined : onResult);
  return result;
}

/** Starts and ends a span at once (a point event), child of the active span. */
export function recordInstant(where: string, plan: () => SpanPlan, extra?: Attributes): SpanContext | undefined {
  try {
    const { span } = startPlannedSpan(plan(), extra);
    span.end();
    return span.spanContext();
  } catch (err) {
    reportInternalError(where, err);
    return undefined;
  }
}
