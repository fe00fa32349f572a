import { join } from 'node:path';
import type { ChainHead, MerkleWorker } from '../chain/index.ts';
import { Correlator, type ContentPiece, type PendingEvent, type SpanNode } from '../correlate/index.ts';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import { nowNanos, nanosToDateTime64 } from '../internal/time.ts';
import { bytesText } from '../internal/bytes.ts';
import type { RawRequest, DecodeOptions, RejectedItem } from '../otlp/index.ts';
import { Spool, WriteAheadLog, decodeRecord, type WalRecord } from '../spool/index.ts';
import type { Store } from '../store/store.ts';
import { IntakePool, runIntake, type IntakeJob, type IntakeResult } from '../intake/index.ts';
import type { PrivacyFilter } from '../policy/privacy.ts';
import type { ForwardSink } from '../forward/index.ts';
import { ChainStep } from './chain-step.ts';
import { DecidedEvents } from './decided.ts';
import { RecentIds } from './recent-ids.ts';
import { checkPipelineConfig, type PipelineConfig } from './config.ts';

/** A request as received, replayed through the same decode and intake after a crash. */
interface RequestHeader {
  t: 'request';
  signal: RawRequest['signal'];
  encoding: RawRequest['encoding'];
  tenant?: string;
  defaultTenant?: string;
  allowedTenants?: readonly string[];
  principal?: string;
  /** Epoch ms of arrival and the ingest_time it gave its events. */
  at: number;
  ingestTime: string;
}

interface SnapshotRecord {
  t: 'snapshot';
  nodes: SpanNode[];
  pending: PendingEvent[];
  content: Array<[string, string, ContentPiece[]]>;
  /** Decided and not chained yet (held, or their content being sealed): chained after a replay. */
  decided?: PendingEvent[];
}

/**
 * The write path after decoding: intake (normalize + privacy) → write-ahead log → correlate →
 * append to the hash chain → write-ahead log → ClickHouse. A request is acknowledged once its
 * intake record is fsynced; everything after that is replayed from the log after a crash.
 */
export class AuditPipeline {
  readonly config: PipelineConfig;
  readonly correlator: Correlator;
  private readonly store: Store;
  private readonly privacy: PrivacyFilter;
  private readonly log: Logger;
  private readonly spool: Spool;
  private readonly pool: IntakePool | null;
  /** The chain step: the chains' heads and the recent event ids (chain-step.ts). */
  private readonly chain: ChainStep;
  /** Decided events on their way to the chain: held for the next batch, sealed in rounds. */
  private readonly decided: DecidedEvents;
  /**
   * A compaction is due. It is prepared on `tick`: what is held goes to the workers as one last
   * round, and no other round starts; once the rounds are chained, the few events decided
   * meanwhile are sealed and chained here, and the snapshot is taken (it rarely carries any).
   */
  private compactWanted = false;
  private compactRoundSent = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private walError = '';
  private walErrorAt = 0;
  private lastWalErrorLog = 0;
  private readonly m;
  /** Where each request's redacted forward copy goes once it is durable (`serve --forward`); null: none is made. */
  private forward: ForwardSink | null = null;
  /**
   * Told of each batch, in seq order, once ClickHouse has confirmed it (the checkpointer,
   * chain/checkpointer.ts, set by bridge.ts). Must be cheap and must not throw.
   */
  stored: ((chainId: string, firstSeq: number, lastSeq: number, hashes: string[]) => void) | null = null;

  private constructor(
    config: PipelineConfig,
    store: Store,
    privacy: PrivacyFilter,
    log: Logger,
    metrics: Metrics,
    wal: WriteAheadLog,
    heads: Map<string, ChainHead>,
    recent: RecentIds,
    pool: IntakePool | null,
  ) {
    this.config = config;
    this.pool = pool;
    this.store = store;
    this.privacy = privacy;
    this.log = log;
    // With workers, content is sealed there (chainHeld), not at finalize.
    this.correlator = new Correlator(config.correlator, { finalizer: privacy, deferSealing: pool !== null });
    this.decided = new DecidedEvents({
      privacy,
      workers: pool,
      chain: (ready) => {
        this.chain.append(ready.map((p) => p.event));
        this.kickInserts();
      },
      onError: (err) => this.log.error('chaining failed', { error: err.message }),
    });
    this.spool = new Spool(wal, store, { budgetBytes: config.spoolBudgetBytes, memoryBytes: config.spoolMemoryBytes }, log, metrics, {
      onStored: (b) => this.stored?.(b.chainId, b.firstSeq, b.lastSeq, b.hashes),
      onWalError: (err) => this.walFailed(err),
      frame: pool ? (parts) => pool.frame(parts) : undefined,
    });
    this.chain = new ChainStep({
      chainId: config.chainId,
      batchRows: config.batchRows,
      heads,
      recent,
      spool: this.spool,
      onDuplicate: () => this.m.eventsDeduplicated.inc(),
    });
    this.m = {
      spansReceived: metrics.counter('otel_audit_spans_received_total', 'Spans received and accepted by the decoder'),
      logsReceived: metrics.counter('otel_audit_log_records_received_total', 'Log records received and accepted by the decoder'),
      spansDropped: metrics.counter('otel_audit_spans_dropped_total', 'Spans with no audit meaning (kept only as ancestry)'),
      logsDropped: metrics.counter('otel_audit_log_records_dropped_total', 'Log records with no audit content'),
      eventsDeduplicated: metrics.counter('otel_audit_events_deduplicated_total', 'Re-sent events recognized and not stored twice'),
      eventsReplayed: metrics.counter('otel_audit_events_replayed_total', 'Events recovered from the write-ahead log at start'),
      walWriteErrors: metrics.counter('otel_audit_wal_write_errors_total', 'Failed write-ahead log writes (disk full, I/O error); the requests got 503'),
      overloaded: metrics.counter('otel_audit_overloaded_total', 'Times a receiver was told to refuse a request (spool budget, pending events, log errors, log behind)'),
    };
    metrics.gauge('otel_audit_intake_jobs_in_flight', 'Requests being decoded and normalized on the intake worker threads', () => this.pool?.inFlight ?? 0);
    metrics.asyncGauge('otel_audit_intake_heap_bytes', 'V8 heap reserved by the intake worker threads, in bytes (read at the scrape before)', () => this.pool?.heapBytes() ?? null);
    metrics.gauge('otel_audit_events_pending', 'Events waiting for their context or content, or decided and waiting for the next batch', () => this.correlator.pending + this.decided.count);
    metrics.gauge('otel_audit_chain_head_seq', 'Seq of the newest chained event, per hash chain (one per risk level)', () =>
      Object.entries(this.chain.heads).map(([chain, head]): [Record<string, string>, number] => [{ chain }, head.seq]),
    );
    metrics.gauge('otel_audit_ready', '1 when ClickHouse takes inserts and the bridge takes requests (as /readyz)', () => (this.healthy.ok ? 1 : 0));
  }

  static async start(store: Store, privacy: PrivacyFilter, config: PipelineConfig, log: Logger, metrics: Metrics, forward?: ForwardSink): Promise<AuditPipeline> {
    checkPipelineConfig(config);
    const { wal, records } = await WriteAheadLog.openForReplay({
      dir: join(config.dataDir, 'wal'),
      segmentBytes: config.walSegmentBytes,
      fsync: config.fsync,
      key: config.walKey,
    });
    const heads = await store.chainHeads(`${config.chainId}-`);
    const recent = new RecentIds(config.dedupIds);
    recent.seed(await store.recentEventIds(config.dedupIds));
    const pool =
      config.intakeWorkers > 0
        ? new IntakePool(config.intakeWorkers, { policy: privacy.policy.policy, keepsRaw: privacy.keepsRaw, walKey: config.walKey }, (err) =>
            log.error('an intake worker failed; its requests got an error. It is replaced, unless workers keep failing to start: then intake runs on the main thread', { error: err.message }),
          )
        : null;
    const p = new AuditPipeline(config, store, privacy, log, metrics, wal, heads, recent, pool);
    p.forward = forward ?? null;
    try {
      await p.recover(records);
    } catch (err) {
      await pool?.close();
      throw err;
    }
    p.timer = setInterval(() => p.tick(), config.flushIntervalMs);
    p.timer.unref();
    return p;
  }

  /**
   * Takes a request: decode + intake (on a worker thread when there are some), then logs it and
   * hands its events to the correlator; resolves once it is durable. The log keeps the request
   * as it arrived (encrypted with the log key), not the events made of it: a replay decodes it again.
   */
  async ingest(raw: RawRequest, decode?: DecodeOptions): Promise<{ rejected: RejectedItem[] }> {
    const header: RequestHeader = {
      t: 'request',
      signal: raw.signal,
      encoding: raw.encoding,
      tenant: raw.tenant,
      defaultTenant: raw.defaultTenant,
      allowedTenants: raw.allowedTenants,
      principal: raw.principal,
      at: Date.now(),
      ingestTime: nanosToDateTime64(nowNanos()),
    };
    const job: IntakeJob = { raw, decode, defaultRisk: this.config.defaultRisk, now: header.at, ingestTime: header.ingestTime, forward: this.forward !== null, walHeader: header };
    const taken = this.logAndApply(this.pool?.usable ? await this.pool.run(job) : runIntake(job, this.privacy, this.config.walKey), header.at);
    if (!taken.durable) return { rejected: taken.rejected };
    try {
      await taken.durable;
    } catch (err) {
      this.walFailed(err as Error);
      throw err;
    }
    this.walError = '';
    // After the log (the audit trail never waits on a downstream); the ack waits for the forward
    // queue's own fsync, and enqueue never rejects (a copy it cannot keep is counted as dropped).
    if (taken.forward && this.forward) await this.forward.enqueue(taken.forward);
    return { rejected: taken.rejected };
  }

  /**
   * Logs a request's intake and applies it, and returns only what the ack needs: the intake
   * result (every event of the request) is not kept referenced while the log's fsync is awaited.
   */
  private logAndApply(result: IntakeResult, at: number): { durable?: Promise<unknown>; rejected: RejectedItem[]; forward?: IntakeResult['forward'] } {
    if (result.received === 0) return { rejected: result.rejected };
    // Framed where it was decoded (encoding and encryption off the main thread): appended as is.
    const f = result.walFrame!;
    const durable = this.spool.appendFramed(Buffer.from(f.buffer, f.byteOffset, f.byteLength));
    // State changes now (not after the fsync) so that a concurrent compaction snapshot covers it.
    // If the write fails, the client gets an error and re-sends: the events are deduplicated.
    this.apply(result, at);
    return { durable, rejected: result.rejected, forward: result.forward };
  }

  private walFailed(err: Error): void {
    this.m.walWriteErrors.inc();
    this.walError = err.message;
    this.walErrorAt = Date.now();
    // One line a second at most: a full disk fails every request.
    if (this.walErrorAt - this.lastWalErrorLog >= 1000) {
      this.lastWalErrorLog = this.walErrorAt;
      this.log.error('write-ahead log write failed: requests are refused with 503 until it can be written', {
        error: err.message,
        wal_write_errors: this.m.walWriteErrors.get(),
      });
    }
  }

  /**
   * Non-null when receivers must refuse requests now (503 / UNAVAILABLE with Retry-After):
   * the log could not be written a moment ago, it is over its disk budget, or too many events
   * are held in memory. Never refused silently: each answer says which.
   */
  overloaded(): { reason: string; retryAfterSeconds: number } | null {
    const o = this.overloadReason();
    if (o) this.m.overloaded.inc();
    return o;
  }

  private overloadReason(): { reason: string; retryAfterSeconds: number } | null {
    if (this.walError && Date.now() - this.walErrorAt < 1000) {
      return { reason: `the write-ahead log cannot be written: ${this.walError}`, retryAfterSeconds: 5 };
    }
    if (this.spool.walQueuedBytes > this.config.walQueueBytes) {
      return {
        reason: `the write-ahead log is behind: ${bytesText(this.spool.walQueuedBytes)} wait to be written, more than ${bytesText(this.config.walQueueBytes)} (the disk is slower than the intake); retry later`,
        retryAfterSeconds: 2,
      };
    }
    if (this.spool.full) {
      const why = this.spool.lastInsertError ? `ClickHouse inserts are failing (${this.spool.lastInsertError})` : 'ClickHouse is not keeping up';
      return {
        reason: `spool full: the write-ahead log holds ${this.spool.walBytes} bytes, its budget is ${this.spool.config.budgetBytes} (${why}); retry later`,
        retryAfterSeconds: 10,
      };
    }
    const held = this.correlator.pending + this.decided.count + this.spool.memoryEvents;
    if (held >= this.config.maxPendingEvents) {
      return { reason: `too many events waiting (${held}, limit ${this.config.maxPendingEvents}); retry later`, retryAfterSeconds: 2 };
    }
    return null;
  }

  /**
   * A request's intake → correlator (also the replay path). On replay (`chained` given) the
   * events a chained batch already holds are skipped, and nothing is counted as received again.
   */
  private apply(r: IntakeResult, at: number, chained?: Set<string>): void {
    const count = !chained;
    if (r.signal === 'traces') {
      if (count) {
        this.m.spansReceived.inc(r.received);
        this.m.spansDropped.inc(r.intake.dropped);
      }
      for (const node of r.intake.nodes) this.correlator.addSpan(node, null, at);
      for (const ev of r.intake.events) if (!chained?.has(ev.event.event_id)) this.correlator.addSpan(ev.node, ev, at);
    } else {
      if (count) {
        this.m.logsReceived.inc(r.received);
        this.m.logsDropped.inc(r.intake.dropped);
      }
      for (const [traceId, spanId, pieces] of r.intake.content) this.correlator.addContent(traceId, spanId, pieces, at);
      const spans = r.intake.spans;
      if (spans) {
        for (const node of spans.nodes) this.correlator.addSpan(node, null, at);
        for (const ev of spans.events) if (!chained?.has(ev.event.event_id)) this.correlator.addSpan(ev.node, ev, at);
      }
    }
  }

  /** Decides everything pending and waits until it is in ClickHouse (tests, shutdown). */
  async flush(): Promise<void> {
    await this.chainEverything();
    await this.waitStored();
  }

  /**
   * Decides everything pending and chains it, a batch at a time, each once the log has caught
   * up with the ones before: chained all at once, the events held under overload (up to
   * --max-pending-events) queued their rows for the log, and kept them in memory, at once.
   */
  private async chainEverything(): Promise<void> {
    const ready = this.correlator.drain(Date.now());
    for (let i = 0; i < ready.length; i += this.config.batchRows) {
      this.decided.hold(ready.slice(i, i + this.config.batchRows));
      await this.decided.chainAll();
      await this.spool.walQueuedAtMost(this.config.walQueueBytes);
    }
    await this.decided.chainAll();
  }

  /** Waits until every chained batch is confirmed by ClickHouse. */
  async waitStored(): Promise<void> {
    await this.spool.waitStored();
  }

  get healthy(): { ok: boolean; reason: string } {
    if (this.spool.lastInsertError) return { ok: false, reason: `ClickHouse inserts failing: ${this.spool.lastInsertError}` };
    const o = this.overloadReason();
    if (o) return { ok: false, reason: o.reason };
    return { ok: true, reason: '' };
  }

  /**
   * The checkpointers' Merkle hashing on the intake workers (chain/leaves.ts), or null without
   * workers. It rejects when the workers are unusable: the checkpointer then hashes itself.
   */
  get merkleWorker(): MerkleWorker | null {
    return this.pool;
  }

  /** The head of each chain, by chain id. */
  get chainHead(): Record<string, ChainHead> {
    return this.chain.heads;
  }

  /**
   * Seals everything pending and waits (up to shutdownTimeoutMs) for ClickHouse; what it has
   * not taken by then is durable in the log and inserted at the next start.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Requests still on a worker are logged and applied first (the receivers take no new ones).
    await this.pool?.close();
    if (this.timer) clearInterval(this.timer);
    await this.chainEverything();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.config.shutdownTimeoutMs);
    });
    const done = await Promise.race([this.waitStored().then(() => false), timedOut]);
    clearTimeout(timer);
    this.closed = true;
    if (done) {
      this.log.warn('shutdown: ClickHouse did not take every batch in time; they stay in the write-ahead log for the next start', {
        unstored_batches: this.spool.unstoredBatches,
        unstored_events: this.spool.spooledEvents,
      });
    }
    await this.spool.close();
  }

  private tick(): void {
    if (this.closed) return;
    try {
      const now = Date.now();
      this.decided.hold(this.correlator.takeReady(now));
      if (this.spool.compactionDue(now)) this.compactWanted = true;
      if (this.compactWanted) {
        if (!this.decided.sealing) this.prepareCompaction();
      } else if (this.spool.idle || this.decided.heldCount >= this.config.batchRows || this.decided.heldFor(now) >= this.config.maxHoldMs) {
        // Chain now when ClickHouse is idle; else let the batch grow while the insert runs, up
        // to batchRows or maxHoldMs.
        this.decided.chainHeld();
      }
      this.spool.evict();
    } catch (err) {
      this.log.error('chaining failed', { error: (err as Error).message });
    }
  }

  /**
   * With no round on the workers: first, what is held goes there as one last round (its
   * content sealed there, not here); then, once that round is chained, what was decided
   * meanwhile is chained here and the log is compacted.
   */
  private prepareCompaction(): void {
    if (!this.compactRoundSent) {
      this.compactRoundSent = true;
      this.decided.chainHeld();
      if (this.decided.sealing) return;
    }
    this.decided.chainHeld(true);
    this.compact();
    this.compactWanted = false;
    this.compactRoundSent = false;
  }

  /** Compacts the log: a snapshot of what the correlator holds, then the spool's unconfirmed batches. */
  private compact(): void {
    const record: SnapshotRecord = { t: 'snapshot', ...this.correlator.snapshot(), decided: this.decided.all() };
    this.spool.compact(record);
  }

  private kickInserts(): void {
    // ClickHouse is free: what was decided meanwhile goes now, as one batch (unless a
    // compaction is being prepared: tick chains then).
    this.spool.kick(() => {
      if (!this.compactWanted) this.decided.chainHeld();
    });
  }

  /**
   * Rebuilds the state the write-ahead log holds: re-inserts chained batches, re-queues pending
   * events. Reads the log twice, one segment at a time; chained rows are not kept in memory
   * (read back when their insert comes). Does not wait for ClickHouse: if it is down, the
   * bridge starts anyway, answers from the spool, and drains when it is back.
   */
  private async recover(records: () => Generator<WalRecord>): Promise<void> {
    // Pass 1 (the spool): unconfirmed chained batches are queued again; their events are skipped
    // by the replays below, and the chains continue after them.
    const found = this.spool.recover(records);
    if (found.records === 0) return;
    const chainedIds = found.chainedIds;
    this.chain.resumeAfter(chainedIds, found.heads);
    // Pass 2: replay requests and snapshots through the correlator, in order.
    const before = this.correlator.pending;
    for (const { payload } of records()) {
      const { header, body } = decodeRecord(payload);
      if (header.t === 'request') {
        const h = header as unknown as RequestHeader;
        let result: IntakeResult;
        try {
          const raw: RawRequest = {
            signal: h.signal,
            encoding: h.encoding,
            body: body!,
            tenant: h.tenant,
            defaultTenant: h.defaultTenant,
            allowedTenants: h.allowedTenants,
            principal: h.principal,
          };
          result = runIntake({ raw, decode: this.config.decode, defaultRisk: this.config.defaultRisk, now: h.at, ingestTime: h.ingestTime }, this.privacy);
        } catch (err) {
          // The error's message can quote the payload (JSON.parse does): log its kind only.
          this.log.error('a logged request no longer decodes; skipped', { error: (err as Error).name, signal: h.signal, encoding: h.encoding });
          continue;
        }
        this.apply(result, h.at, chainedIds);
      } else if (header.t === 'snapshot') {
        const snap = header as unknown as SnapshotRecord;
        for (const n of snap.nodes) this.correlator.addSpan(n, null, Date.now());
        for (const e of snap.pending) if (!chainedIds.has(e.event.event_id)) this.correlator.addSpan(e.node, e, e.arrivedAt);
        for (const [traceId, spanId, pieces] of snap.content) this.correlator.addContent(traceId, spanId, pieces, Date.now());
        for (const e of snap.decided ?? []) if (!chainedIds.has(e.event.event_id)) this.decided.hold([e]);
      }
    }
    const replayed = this.correlator.pending - before;
    this.m.eventsReplayed.inc(replayed + this.spool.spooledEvents);
    this.log.info('recovered from the write-ahead log', {
      records: found.records,
      pending: replayed,
      unstored_batches: found.batches,
      unstored_events: this.spool.spooledEvents,
    });
    this.kickInserts();
    this.compact();
  }
}
