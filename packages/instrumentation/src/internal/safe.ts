import { diag, type Attributes, type AttributeValue } from '@opentelemetry/api';

let internalErrors = 0;

/**
 * Reports a failure inside the instrumentation itself. Never throws: the app's call must not
 * notice. Rate-limited so a hot path with a bad input cannot flood the diag logger.
 */
export function reportInternalError(where: string, err: unknown): void {
  internalErrors++;
  try {
    if (internalErrors <= 10 || internalErrors % 1000 === 0) {
      diag.warn(`@otel-audit/instrumentation: ${where} failed; the app's call is unaffected: ${describe(err)}`);
    }
  } catch {
    // the diag logger itself failed: nothing more to do
  }
}

/** How many times the instrumentation's own code failed (and was contained) in this process. */
export function getInternalErrorCount(): number {
  return internalErrors;
}

function describe(err: unknown): string {
  try {
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    return 'unprintable error';
  }
}

/** Sets `key` only for a valid attribute value: a non-empty string, a finite number, a boolean. */
export function put(attrs: Attributes, key: string, value: unknown): void {
  if (typeof value === 'string') {
    if (value !== '') attrs[key] = value;
  } else if (typeof value === 'number') {
    if (Number.isFinite(value)) attrs[key] = value;
  } else if (typeof value === 'boolean') {
    attrs[key] = value;
  }
}

export function isAttributeValue(value: unknown): value is AttributeValue {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * JSON for an attribute. Values apps hand us can be circular or hold BigInts; the plain
 * stringify is tried first (fast path), then a tolerant one. Undefined when neither works.
 */
export function safeJson(value: unknown): string | undefined {
  try {
    const s = JSON.stringify(value);
    return typeof s === 'string' ? s : undefined;
  } catch {
    // fall through to the tolerant form
  }
  try {
    const seen = new WeakSet<object>();
    const s = JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[Circular]';
        seen.add(v);
      }
      return v;
    });
    return typeof s === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** `error.type` per the OTel conventions: the error's class or name, `_OTHER` when it has none. */
export function errorType(err: unknown): string {
  try {
    if (err instanceof Error) {
      if (err.name && err.name !== 'Error') return err.name;
      const ctor = (err.constructor as { name?: unknown } | undefined)?.name;
      return typeof ctor === 'string' && ctor !== '' ? ctor : 'Error';
    }
    if (typeof err === 'object' && err !== null) {
      const name = (err as { name?: unknown }).name;
      if (typeof name === 'string' && name !== '') return name;
    }
  } catch {
    // a hostile getter: fall through
  }
  return '_OTHER';
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** ` value` for a span name suffix, or '' when `value` is not a non-empty string. */
export function nameSuffix(value: unknown): string {
  return typeof value === 'string' && value !== '' ? ` ${value}` : '';
}
