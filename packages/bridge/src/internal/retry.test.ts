import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, checkBackoffOptions, retry, retryAfterMs, RetryConfigError } from './retry.ts';

describe('Backoff', () => {
  it('grows by the multiplier up to maxMs, without jitter', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    expect([1, 2, 3, 4, 5, 6].map(() => b.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(b.attempts).toBe(6);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('draws each delay in [base × (1 − jitter), base]', () => {
    const low = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5, random: () => 0.999999 });
    const high = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5, random: () => 0 });
    expect(low.next()).toBe(500);
    expect(high.next()).toBe(1000);
    const o = checkBackoffOptions({ initialMs: 1000, maxMs: 1000, jitter: 1, random: () => 0.25 });
    expect(backoffDelay(0, o)).toBe(750);
  });

  it('never waits less than a server hint, and caps the hint at maxHintMs', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0, maxHintMs: 60_000 });
    expect(b.next(5000)).toBe(5000);
    expect(b.next(50)).toBe(200); // a hint shorter than the backoff does not shorten it
    expect(b.next(3_600_000)).toBe(60_000);
  });

  it('does not overflow after very many attempts', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 30_000, jitter: 0 });
    for (let i = 0; i < 5000; i++) b.next();
    expect(b.next()).toBe(30_000);
  });

  it('refuses bad options, naming the field', () => {
    expect(() => new Backoff({ initialMs: 0, maxMs: 10 })).toThrow(/initialMs/);
    expect(() => new Backoff({ initialMs: 100, maxMs: 10 })).toThrow(/maxMs/);
    expect(() => new Backoff({ initialMs: 1, maxMs: 10, multiplier: 0.5 })).toThrow(/multiplier/);
    expect(() => new Backoff({ initialMs: 1, maxMs: 10, jitter: 2 })).toThrow(RetryConfigError);
  });
});

describe('retry', () => {
  it('retries until fn resolves, waiting the backoff or the error\'s hint', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await retry(
      async () => {
        if (++calls < 4) throw Object.assign(new Error('busy'), { afterMs: calls === 2 ? 7000 : undefined });
        return 'ok';
      },
      {
        initialMs: 10,
        maxMs: 100,
        jitter: 0,
        classify: (err) => ({ retry: true, afterMs: (err as { afterMs?: number }).afterMs }),
        sleep: async (ms) => void waits.push(ms),
      },
    );
    expect(result).toBe('ok');
    expect(waits).toEqual([10, 7000, 40]);
  });

  it('gives up when classify says so, or after maxAttempts, with the last error', async () => {
    const sleep = async () => {};
    await expect(retry(async () => Promise.reject(new Error('bad request')), { initialMs: 1, maxMs: 1, classify: () => ({ retry: false }), sleep })).rejects.toThrow('bad request');
    let n = 0;
    await expect(retry(async () => Promise.reject(new Error(`try ${++n}`)), { initialMs: 1, maxMs: 1, maxAttempts: 3, sleep })).rejects.toThrow('try 3');
  });

  it('stops waiting when the signal aborts', async () => {
    const ac = new AbortController();
    const p = retry(async () => Promise.reject(new Error('down')), { initialMs: 60_000, maxMs: 60_000, signal: ac.signal, onRetry: () => ac.abort(new Error('closing')) });
    await expect(p).rejects.toThrow('closing');
  });
});

describe('retryAfterMs', () => {
  it('reads delta-seconds and HTTP dates; nothing for garbage', () => {
    const now = Date.parse('2026-12-07T10:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('Mon, 07 Dec 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Mon, 07 Dec 2026 09:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs('-5', now)).toBeUndefined();
  });
});
