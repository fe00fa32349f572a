/**
 * Alert webhooks (`serve --alert-webhook URL`): each new alert is POSTed as JSON to every URL,
 * signed with HMAC-SHA256 under a shared secret, and retried with backoff. Delivery runs beside
 * the detector and never blocks it or ingest: alerts wait in a bounded queue in memory (the
 * alerts table is the record; a webhook is a notification), and what cannot be delivered after
 * the last attempt is logged and counted.
 *
 * Signature (docs/detections.md): `x-otel-audit-signature: sha256=<hex>` where hex is
 * HMAC-SHA256(secret, `${x-otel-audit-timestamp}.${body}`); the timestamp is Unix seconds.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import { retry, retryAfterMs, type RetryVerdict } from '../internal/retry.ts';
import type { Alert } from './detector.ts';

export interface WebhookConfig {
  urls: string[];
  /** The shared secret the receiver checks signatures with. */
  secret: string;
  /** Attempts per alert and URL (default 8: about 4 minutes of backoff). */
  maxAttempts?: number;
  /** First delay between attempts (default 1 s; doubles up to 60 s). */
  initialDelayMs?: number;
  /** Alerts waiting for delivery; past it the oldest is dropped, logged and counted (default 10,000). */
  maxQueued?: number;
}

export class WebhookConfigError extends Error {
  readonly code = 'WEBHOOK_CONFIG_INVALID';
}

/** The signature header's value for a body sent at `timestamp` (Unix seconds). */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

class HttpError extends Error {
  readonly status: number;
  readonly retryAfter: number | undefined;
  constructor(status: number, retryAfter: number | undefined) {
    super(`answered ${status}`);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export class AlertWebhooks {
  private readonly config: Required<WebhookConfig>;
  private readonly log: Logger;
  private readonly queue: Array<{ url: string; alert: Alert }> = [];
  private running = 0;
  private readonly abort = new AbortController();
  private readonly delivered: { inc(n?: number): void };
  private readonly failed: { inc(n?: number): void };

  constructor(config: WebhookConfig, log: Logger, metrics: Metrics) {
    // URLs and secret are validated at start (config.ts): here only what a caller could get wrong.
    if (config.urls.length && config.secret.length < 16) throw new WebhookConfigError('a webhook secret has at least 16 characters');
    this.config = { maxAttempts: 8, initialDelayMs: 1000, maxQueued: 10_000, ...config };
    this.log = log;
    this.delivered = metrics.counter('otel_audit_alert_webhook_deliveries_total', 'Alerts delivered to a webhook (one per alert and URL)');
    this.failed = metrics.counter('otel_audit_alert_webhook_failures_total', 'Alerts not delivered to a webhook after every attempt, or dropped from a full queue');
  }

  /** Queues the alerts for every URL; returns at once. */
  send(alerts: Alert[]): void {
    for (const alert of alerts) {
      for (const url of this.config.urls) {
        if (this.queue.length >= this.config.maxQueued) {
          const dropped = this.queue.shift()!;
          this.failed.inc();
          this.log.warn('alert webhook queue full: the oldest alert is not sent', { url: dropped.url, alert_id: dropped.alert.alert_id });
        }
        this.queue.push({ url, alert });
      }
    }
    // A few deliveries at once: one slow receiver does not hold up the others for long.
    while (this.running < 4 && this.queue.length) {
      this.running++;
      void this.drain();
    }
  }

  /** Delivers until the queue is empty. Never rejects. */
  private async drain(): Promise<void> {
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        try {
          await this.deliver(next.url, next.alert);
          this.delivered.inc();
        } catch (err) {
          if (this.abort.signal.aborted) return;
          this.failed.inc();
          this.log.error('alert not delivered to a webhook', { url: next.url, alert_id: next.alert.alert_id, error: (err as Error).message });
        }
      }
    } finally {
      // In the same step as the empty queue was seen: an alert queued after it starts a new
      // drain (decremented a microtask later, it found four running and waited for the next send).
      this.running--;
    }
  }

  private deliver(url: string, alert: Alert): Promise<void> {
    let details: unknown = alert.details;
    try {
      details = JSON.parse(alert.details);
    } catch {
      /* sent as stored */
    }
    const body = JSON.stringify({ ...alert, details });
    return retry(
      async () => {
        const timestamp = String(Math.floor(Date.now() / 1000));
        const res = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'otel-audit',
            'x-otel-audit-timestamp': timestamp,
            'x-otel-audit-signature': signature(this.config.secret, timestamp, body),
            'x-otel-audit-alert-id': alert.alert_id,
          },
          body,
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(10_000)]),
        });
        await res.arrayBuffer().catch(() => {});
        if (!res.ok) throw new HttpError(res.status, retryAfterMs(res.headers.get('retry-after')));
      },
      {
        initialMs: this.config.initialDelayMs,
        maxMs: 60_000,
        maxAttempts: this.config.maxAttempts,
        signal: this.abort.signal,
        // A 4xx other than 408 and 429 will not change by retrying: the receiver refuses it.
        classify: (err): RetryVerdict =>
          err instanceof HttpError && err.status < 500 && err.status !== 408 && err.status !== 429 ? { retry: false } : { retry: true, afterMs: err instanceof HttpError ? err.retryAfter : undefined },
        onRetry: (err, delayMs, attempt) => this.log.warn('alert webhook failed; retrying', { url, alert_id: alert.alert_id, attempt, retry_in_ms: delayMs, error: (err as Error).message }),
      },
    );
  }

  /** Stops retrying; what is queued is not sent (it stays in the alerts table). */
  close(): void {
    this.abort.abort(new Error('the bridge is stopping'));
    this.queue.length = 0;
  }
}
