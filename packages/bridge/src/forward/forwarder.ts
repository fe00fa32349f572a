import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import { Backoff, sleep } from '../internal/retry.ts';
import type { ForwardConfig } from './config.ts';
import { ForwardQueue, type DropReport, type ForwardSignal } from './internal/queue.ts';
import { GrpcSender, HttpSender, type Sender } from './internal/send.ts';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The forward copy of one accepted request (made on the intake workers, see payload.ts). */
export interface ForwardPayload {
  signal: ForwardSignal;
  /** Spans or log records in it. */
  items: number;
  /** The OTLP protobuf export request, redacted. */
  body: Uint8Array;
}

/** What the write path hands forward copies to (AuditPipeline.start's `forward` dependency). */
export interface ForwardSink {
  /**
   * Resolves once the payload is durable in the forward queue, or once it is counted as
   * dropped (the queue could not be written): never rejects, so that forwarding never fails
   * or blocks the audit trail's own ack.
   */
  enqueue(p: ForwardPayload): Promise<void>;
}

/**
 * Sends the forward queue downstream, oldest first, one batch at a time: a batch leaves the
 * queue only once the downstream has acknowledged it (or refused it for good); failures are
 * retried with exponential backoff and jitter, never sooner than the server's Retry-After or
 * RetryInfo.
 */
export class Forwarder implements ForwardSink {
  readonly config: ForwardConfig;
  private readonly queue: ForwardQueue;
  private readonly sender: Sender;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Set by enqueue: something arrived since the loop last looked (no wake-up is missed). */
  private arrived = false;
  private lastError = '';
  private lastErrorLog = 0;
  private readonly m;

  private constructor(config: ForwardConfig, queue: ForwardQueue, log: Logger, metrics: Metrics) {
    this.config = config;
    this.queue = queue;
    this.log = log;
    this.backoff = new Backoff(config.backoff);
    const o = { url: new URL(config.url), headers: config.headers, compression: config.compression, timeoutMs: config.timeoutMs };
    this.sender = config.protocol === 'grpc' ? new GrpcSender(o) : new HttpSender(o);
    this.m = {
      sent: metrics.counter('otel_audit_forward_sent_total', 'Spans and log records forwarded and acknowledged by the downstream'),
      retries: metrics.counter('otel_audit_forward_retries_total', 'Forward requests that failed and will be retried (downstream down, throttling)'),
      dropped: metrics.counter('otel_audit_forward_dropped_total', 'Spans and log records dropped from the forward queue: past --forward-queue-bytes, a damaged record, or a queue write that failed'),
      failed: metrics.counter('otel_audit_forward_failed_total', 'Spans and log records the downstream refused for good (not retryable, or rejected in a partial success)'),
    };
    metrics.gauge('otel_audit_forward_queue_bytes', 'Bytes of the forward queue on disk', () => this.queue.bytes);
    metrics.gauge('otel_audit_forward_queue_items', 'Spans and log records in the forward queue, waiting for the downstream', () => this.queue.items);
    metrics.gauge('otel_audit_forward_queue_budget_bytes', 'Disk budget of the forward queue (--forward-queue-bytes)', () => this.config.queueBytes);
    queue.onDrop = (d) => this.dropped(d);
    this.abort.signal.addEventListener('abort', () => this.wake?.(), { once: true });
  }

  /** Opens the queue in `dir` (what a previous run left is sent first) and starts sending. */
  static async start(config: ForwardConfig, dir: string, log: Logger, metrics: Metrics): Promise<Forwarder> {
    const queue = await ForwardQueue.open({ dir, segmentBytes: config.segmentBytes, budgetBytes: config.queueBytes, fsync: config.fsync });
    const f = new Forwarder(config, queue, log, metrics);
    const url = new URL(config.url);
    if ((url.protocol === 'http:' || url.protocol === 'grpc:') && config.headers.some(([k]) => k === 'authorization') && !LOOPBACK.has(url.hostname)) {
      log.warn('forwarding sends its authorization header in clear text (--forward is not https:// or grpcs://)', { target: f.target });
    }
    if (queue.items > 0) log.info('forward queue: sending what the last run left', { items: queue.items, bytes: queue.bytes });
    f.loop = f.run();
    return f;
  }

  get target(): string {
    return this.sender.target;
  }

  async enqueue(p: ForwardPayload): Promise<void> {
    if (p.items === 0) return;
    try {
      await this.queue.append(p);
    } catch (err) {
      // The audit trail has the request already (the write-ahead log): only the copy is lost.
      this.dropped({ records: 1, items: p.items, bytes: p.body.length, reason: 'write' });
      this.logThrottled('forward queue write failed; the forward copy is dropped (the audit trail has it)', { error: (err as Error).message });
      return;
    }
    this.arrived = true;
    this.wake?.();
  }

  private dropped(d: Omit<DropReport, 'reason'> & { reason: DropReport['reason'] | 'write' }): void {
    this.m.dropped.inc(d.items);
    if (d.reason === 'write') return;
    this.log.warn(d.reason === 'budget' ? 'forward queue over its budget: the oldest forward data is dropped' : 'forward queue: a damaged record; the rest of its segment is dropped', {
      dropped_items: d.items,
      dropped_bytes: d.bytes,
      budget_bytes: this.config.queueBytes,
      target: this.target,
      ...(this.lastError ? { last_error: this.lastError } : {}),
    });
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        this.arrived = false;
        const batch = await this.queue.peek(this.config.maxBatchBytes);
        if (!batch) {
          if (!this.arrived) await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = null;
          continue;
        }
        const r = await this.sender.send(batch.signal, batch.body, signal);
        if (signal.aborted) break;
        if (r.ok) {
          // Counted as the head moves (ack is synchronous up to the cursor's write), so that the
          // queue gauge and the sent counter always add up.
          const saved = this.queue.ack(batch);
          this.m.sent.inc(batch.items - r.rejected);
          await saved;
          if (r.rejected > 0) {
            this.m.failed.inc(r.rejected);
            this.logThrottled('the downstream rejected part of a forwarded request', { rejected: r.rejected, reason: r.rejectReason ?? '', target: this.target });
          }
          if (this.lastError) this.log.info('forwarding resumed', { target: this.target, after_failures: this.backoff.attempts });
          this.lastError = '';
          this.backoff.reset();
        } else if (r.retry) {
          this.m.retries.inc();
          this.lastError = r.reason;
          const delay = this.backoff.next(r.afterMs);
          this.logThrottled('forwarding failed; retrying', { target: this.target, error: r.reason, retry_in_ms: delay, queued_items: this.queue.items });
          await sleep(delay, signal).catch(() => {});
        } else {
          const saved = this.queue.ack(batch);
          this.m.failed.inc(batch.items);
          await saved;
          this.log.error('the downstream refused a forwarded request for good; it is dropped', { target: this.target, error: r.reason, items: batch.items });
        }
      } catch (err) {
        // A read of the queue failed (I/O): wait as for a failed send, never spin.
        if (signal.aborted) break;
        this.logThrottled('forward queue read failed; retrying', { error: (err as Error).message });
        await sleep(this.backoff.next(), signal).catch(() => {});
      }
    }
  }

  /** One such line every 10 s at most: a long outage would otherwise flood the log. */
  private logThrottled(msg: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = now;
    this.log.warn(msg, fields);
  }

  /** Stops sending (a request in flight is cancelled and stays queued) and closes the queue. */
  async close(): Promise<void> {
    this.abort.abort(new Error('the bridge is stopping'));
    await this.loop;
    this.sender.close();
    await this.queue.close();
  }
}
