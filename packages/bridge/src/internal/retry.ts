/**
 * Exponential backoff with jitter, and a retry loop around it: one small helper for every
 * stage that retries (inserts and log appends, forwarding, alert webhooks), so that none writes
 * its own loop.
 *
 *   const b = new Backoff({ initialMs: 500, maxMs: 30_000 });
 *   b.next();              // ~500 ms, then ~1 s, ~2 s, ... up to 30 s
 *   b.next(10_000);        // a server's hint (Retry-After, RetryInfo): never sooner than it
 *   b.reset();             // after a success
 *
 * Jitter spreads clients that failed together (a downstream restart) so that they do not come
 * back together: each delay is drawn in [base × (1 − jitter), base].
 */

export interface BackoffOptions {
  /** First delay. */
  initialMs: number;
  /** Longest delay the exponent reaches. */
  maxMs: number;
  /** Growth per attempt (default 2). */
  multiplier?: number;
  /** Fraction of the delay drawn at random, 0 (none) to 1 (full jitter); default 0.2. */
  jitter?: number;
  /** Longest server hint honoured; a longer one is cut to this (default 5 minutes). */
  maxHintMs?: number;
  /** Random source in [0, 1) (tests give a fixed one). */
  random?: () => number;
}

export class RetryConfigError extends Error {
  readonly code = 'RETRY_CONFIG';
}

/** Validates options; throws RetryConfigError naming the field. */
export function checkBackoffOptions(o: BackoffOptions): Required<BackoffOptions> {
  const r: Required<BackoffOptions> = { multiplier: 2, jitter: 0.2, maxHintMs: 300_000, random: Math.random, ...o };
  const bad = (field: string, why: string) => new RetryConfigError(`backoff ${field}: ${why}`);
  if (!(Number.isFinite(r.initialMs) && r.initialMs > 0)) throw bad('initialMs', `must be a positive number of ms, got ${r.initialMs}`);
  if (!(Number.isFinite(r.maxMs) && r.maxMs >= r.initialMs)) throw bad('maxMs', `must be at least initialMs (${r.initialMs}), got ${r.maxMs}`);
  if (!(Number.isFinite(r.multiplier) && r.multiplier >= 1)) throw bad('multiplier', `must be at least 1, got ${r.multiplier}`);
  if (!(r.jitter >= 0 && r.jitter <= 1)) throw bad('jitter', `must be between 0 and 1, got ${r.jitter}`);
  if (!(Number.isFinite(r.maxHintMs) && r.maxHintMs >= 0)) throw bad('maxHintMs', `must be 0 or more, got ${r.maxHintMs}`);
  return r;
}

/** The delay before retry number `attempt` (0 = the first retry), without a hint. */
export function backoffDelay(attempt: number, o: Required<BackoffOptions>): number {
  // Capped before the power overflows: 2^1100 is Infinity.
  const base = Math.min(o.maxMs, o.initialMs * o.multiplier ** Math.min(attempt, 1000));
  return Math.round(base * (1 - o.jitter * o.random()));
}

export class Backoff {
  readonly options: Required<BackoffOptions>;
  private attempt = 0;

  constructor(options: BackoffOptions) {
    this.options = checkBackoffOptions(options);
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /**
   * The delay before the next attempt, and counts one failure. A hint (the server's
   * Retry-After or RetryInfo) is honoured: the delay is never shorter than it (up to maxHintMs).
   */
  next(hintMs?: number): number {
    const d = backoffDelay(this.attempt++, this.options);
    if (hintMs === undefined || !(hintMs > 0)) return d;
    return Math.max(d, Math.min(hintMs, this.options.maxHintMs));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** What a failed attempt means: retry (after at least `afterMs`, when the failure says) or give up. */
export type RetryVerdict = { retry: true; afterMs?: number } | { retry: false };

export interface RetryOptions extends BackoffOptions {
  /** Give up after this many attempts in all (default: no limit). */
  maxAttempts?: number;
  /** Whether a thrown error is worth another attempt (default: every error is). */
  classify?: (err: unknown) => RetryVerdict;
  /** Told of each failure that will be retried, with the delay before the next attempt. */
  onRetry?: (err: unknown, delayMs: number, attempt: number) => void;
  /** Stops waiting and attempting: the loop rejects with the signal's reason. */
  signal?: AbortSignal;
  /** For tests: `sleep` replaces the timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it resolves, waiting between attempts by the backoff (and the failure's own
 * hint). Rejects with the last error when `classify` says to give up or `maxAttempts` is spent.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const backoff = new Backoff(o);
  const wait = o.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw o.signal.reason;
    try {
      return await fn(attempt);
    } catch (err) {
      const verdict = o.classify ? o.classify(err) : ({ retry: true } as RetryVerdict);
      if (!verdict.retry || (o.maxAttempts !== undefined && attempt >= o.maxAttempts)) throw err;
      const delay = backoff.next(verdict.afterMs);
      o.onRetry?.(err, delay, attempt);
      await wait(delay, o.signal);
    }
  }
}

/**
 * An HTTP Retry-After value in ms: delta-seconds or an HTTP date. Undefined when absent or
 * unreadable (the caller falls back to its backoff).
 */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // An HTTP date names its day and month; Date.parse alone would take "-5" for a year.
  if (!/[a-z]{3}/i.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
