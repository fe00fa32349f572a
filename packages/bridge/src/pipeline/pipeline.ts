import { join } from 'node:path';
import type { ChainHead, MerkleWorker } from '../chain/index.ts';
import { Correlator, finalizeEvent, isHeld, type ContentPiece, type HeldEvent, type PendingEvent, type SpanNode, type WaitingEvent } from '../correlate/index.ts';
import type { AuditContext } from '../normalize/index.ts';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import { nowNanos, nanosToDateTime64 } from '../internal/time.ts';
import { bytesText } from '../internal/bytes.ts';
import type { RawRequest, DecodeOptions, RejectedItem } from '../otlp/index.ts';
import { Spool, WriteAheadLog, decodeRecord, type WalRecord, type WalRef } from '../spool/index.ts';
import type { Store } from '../store/store.ts';
import { IntakePool, runIntake, type IntakeJob, type IntakeResult } from '../intake/index.ts';
import type { PrivacyFilter } from '../policy/privacy.ts';
import type { ForwardSink } from '../forward/index.ts';
import { ChainStep } from './chain-step.ts';
import { DecidedEvents } from './decided.ts';
import { RecentIds } from './recent-ids.ts';
import { checkPipelineConfig, type PipelineConfig } from './config.ts';

/** What a replay knows besides the records: the decided contexts of events that were held on workers. */
interface Replay {
  decisions: Map<string, [ancestors: AuditContext[], pieces: ContentPiece[]]>;
}

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
  /**
   * Events held on intake workers, decided and not chained yet: their decided context, and the
   * content that joined them here. Their requests follow the snapshot in the log; a replay
   * finalizes these events with this context as it makes them again.
   */
  heldDecided?: Array<[eventId: string, ancestors: AuditContext[], pieces: ContentPiece[]]>;
}

/**
 * A logged request whose events intake workers hold (pipeline/README.md, "Where an event
 * lives"): a compaction keeps it in the log while they are not chained, and if their worker
 * is lost they are made again from it.
 */
interface LoggedRequest {
  /** Where it is in the log once written (moved in place by compactions). */
  ref: WalRef | null;
  /** Resolves once it is written; null if it could not be. */
  written: Promise<WalRef | null>;
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
        this.chain.append(ready.map((p) => (isHeld(p) ? p : p.event)));
        this.kickInserts();
      },
      materialize: (events) => this.materialize(events),
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
        ? new IntakePool(config.intakeWorkers, { policy: privacy.policy.policy, keepsRaw: privacy.keepsRaw, walKey: config.walKey, finalizer: privacy.finalizerSettings() }, (err) =>
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
    // On a worker, the worker keeps the events (intake/held.ts) and this thread gets stubs.
    const taken = this.logAndApply(this.pool?.usable ? await this.pool.run({ ...job, hold: true }) : runIntake(job, this.privacy, this.config.walKey), header.at);
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
    let request: LoggedRequest | undefined;
    if (result.worker !== undefined) {
      const r: LoggedRequest = { ref: null, written: durable.then((ref) => (r.ref = ref), () => null) };
      request = r;
    }
    // State changes now (not after the fsync) so that a concurrent compaction snapshot covers it.
    // If the write fails, the client gets an error and re-sends: the events are deduplicated.
    const noted = this.apply(result, at, undefined, request);
    return { durable: noted ? Promise.all([durable, noted]) : durable, rejected: result.rejected, forward: result.forward };
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
   * A request's intake → correlator (also the replay path). On replay (`replay` given) the
   * events chained already (stored, or in a chained batch of the log) are skipped, those a snapshot gave a decided context
   * are finalized with it, and nothing is counted as received again. Events a worker holds
   * (`r.worker`) are noted with their logged `request`. Returns the promise that the request's
   * new tenants are recorded (`noteTenants`), or null when it names none new.
   */
  private apply(r: IntakeResult, at: number, replay?: Replay, request?: LoggedRequest): Promise<void> | null {
    const count = !replay;
    let spans;
    if (r.signal === 'traces') {
      if (count) {
        this.m.spansReceived.inc(r.received);
        this.m.spansDropped.inc(r.intake.dropped);
      }
      spans = r.intake;
    } else {
      if (count) {
        this.m.logsReceived.inc(r.received);
        this.m.logsDropped.inc(r.intake.dropped);
      }
      for (const [traceId, spanId, pieces] of r.intake.content) this.correlator.addContent(traceId, spanId, pieces, at);
      spans = r.intake.spans;
    }
    if (!spans) return null;
    const noted = this.noteTenants(spans.nodes, spans.events);
    for (const node of spans.nodes) this.correlator.addSpan(node, null, at);
    const dropped: number[] = [];
    for (const ev of spans.events) {
      if (isHeld(ev)) {
        ev.held.worker = r.worker!;
        ev.held.request = request;
        if (!this.correlator.addSpan(ev.node, ev, at)) dropped.push(ev.held.handle);
        continue;
      }
      const id = ev.event.event_id;
      // Chained already (stored, or in a chained batch of the log): it would be dropped as re-sent
      // at the chain step, and until then a compaction would carry it again.
      if (replay && this.chain.chained(id)) continue;
      const decided = replay?.decisions.get(id);
      if (decided) {
        replay!.decisions.delete(id);
        for (const piece of decided[1]) ev.pieces.push(piece);
        finalizeEvent(ev, decided[0], this.privacy, this.pool !== null);
        this.decided.hold([ev]);
        continue;
      }
      this.correlator.addSpan(ev.node, ev, at);
    }
    if (dropped.length > 0) this.pool?.dropHeld(r.worker!, dropped);
    return noted;
  }

  /**
   * Records the tenants a request's spans name, so that an erasure without a tenant covers
   * those with nothing stored yet (their events pending, or chained and not inserted).
   */
  private noteTenants(nodes: readonly SpanNode[], events: ReadonlyArray<{ node: SpanNode }>): Promise<void> | null {
    const vault = this.privacy.vault;
    if (!vault) return null;
    // Per request, on the main thread: nothing is gathered unless a tenant is new.
    let fresh: string[] | null = null;
    let last: string | undefined;
    const see = (t: string | undefined): void => {
      if (!t || t === last) return;
      last = t;
      if (!vault.listsTenant(t)) (fresh ??= []).push(t);
    };
    for (const node of nodes) see(node.context.tenant);
    for (const ev of events) see(ev.node.context.tenant);
    return fresh && vault.noteTenants(fresh);
  }

  /**
   * Makes events a lost worker held local again: each request they were made of is read back
   * from the log and its intake run here; decided ones are finalized with their decided
   * context. One whose request cannot be read stays held without a row (the round drops it).
   */
  private async materialize(events: HeldEvent[]): Promise<void> {
    const byRequest = new Map<LoggedRequest | undefined, HeldEvent[]>();
    for (const h of events) {
      if (!isHeld(h)) continue; // made local by an earlier call
      const req = h.held.request as LoggedRequest | undefined;
      let list = byRequest.get(req);
      if (!list) byRequest.set(req, (list = []));
      list.push(h);
    }
    for (const [req, list] of byRequest) {
      const made = new Map<string, PendingEvent>();
      try {
        const ref = req ? (req.ref ?? (await req.written)) : null;
        if (!ref) throw new Error('its request is not in the write-ahead log');
        const { header, body } = await this.spool.readRecord(ref);
        const r = this.intakeOfLogged(header as unknown as RequestHeader, body!);
        const spans = r.signal === 'traces' ? r.intake : r.intake.spans;
        for (const ev of spans?.events ?? []) made.set(ev.event.event_id, ev);
      } catch (err) {
        this.log.error('events an intake worker held could not be made again from the write-ahead log; they are not stored', { events: list.length, error: (err as Error).message });
        continue;
      }
      let remade = 0;
      for (const h of list) {
        const p = made.get(h.eventId);
        if (!p) continue;
        const ancestors = h.ancestors;
        const local = makeLocal(h, p);
        if (ancestors) finalizeEvent(local, ancestors, this.privacy, true);
        remade++;
      }
      this.log.warn('events a lost intake worker held were made again from the write-ahead log', { events: remade, missing: list.length - remade });
    }
  }

  /** A logged request's intake, run here (replays, and events a lost worker held). */
  private intakeOfLogged(h: RequestHeader, body: Buffer): IntakeResult<PendingEvent> {
    const raw: RawRequest = {
      signal: h.signal,
      encoding: h.encoding,
      body,
      tenant: h.tenant,
      defaultTenant: h.defaultTenant,
      allowedTenants: h.allowedTenants,
      principal: h.principal,
    };
    return runIntake({ raw, decode: this.config.decode, defaultRisk: this.config.defaultRisk, now: h.at, ingestTime: h.ingestTime }, this.privacy);
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
    // Requests still on a worker are logged and applied first (the receivers take no new ones);
    // the workers stop once what they hold is chained.
    await this.pool?.settled();
    if (this.timer) clearInterval(this.timer);
    await this.chainEverything();
    await this.pool?.close();
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
      if (this.spool.compactionDue(now)) this.compact();
      if (this.spool.idle || this.decided.heldCount >= this.config.batchRows || this.decided.heldFor(now) >= this.config.maxHoldMs) {
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
   * Compacts the log: a snapshot of what the correlator and the decided events hold, the
   * requests of the events intake workers hold (not chained yet), then the spool's
   * unconfirmed batches. Events chained after the snapshot are skipped by a replay (their
   * batches follow it in the log).
   */
  private compact(): void {
    // Events decided and not taken yet are in neither the correlator's snapshot nor the decided
    // events: taken first, or a compaction at the end of a replay lost them with their requests.
    this.decided.hold(this.correlator.takeReady(Date.now()));
    const { nodes, pending, held, content } = this.correlator.snapshot();
    const requests = new Set<LoggedRequest>();
    for (const h of held) if (h.held.request) requests.add(h.held.request as LoggedRequest);
    const decided: PendingEvent[] = [];
    const heldDecided: NonNullable<SnapshotRecord['heldDecided']> = [];
    for (const p of this.decided.all()) {
      if (!isHeld(p)) decided.push(p);
      else {
        heldDecided.push([p.eventId, p.ancestors ?? [], p.pieces]);
        if (p.held.request) requests.add(p.held.request as LoggedRequest);
      }
    }
    const record: SnapshotRecord = { t: 'snapshot', nodes, pending, content, decided, heldDecided };
    this.spool.compact(record, [...requests].map((r) => r.ref ?? r.written));
  }

  private kickInserts(): void {
    // ClickHouse is free: what was decided meanwhile goes now, as one batch.
    this.spool.kick(() => this.decided.chainHeld());
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
    const before = this.correlator.pending + this.decided.count;
    const replay: Replay = { decisions: new Map() };
    // Tenants replayed: listed before their requests were acknowledged, unless the log is older than the list.
    const noted: Array<Promise<void>> = [];
    for (const { payload } of records()) {
      const { header, body } = decodeRecord(payload);
      if (header.t === 'request') {
        const h = header as unknown as RequestHeader;
        let result: IntakeResult;
        try {
          result = this.intakeOfLogged(h, body!);
        } catch (err) {
          // The error's message can quote the payload (JSON.parse does): log its kind only.
          this.log.error('a logged request no longer decodes; skipped', { error: (err as Error).name, signal: h.signal, encoding: h.encoding });
          continue;
        }
        const listed = this.apply(result, h.at, replay);
        if (listed) noted.push(listed);
      } else if (header.t === 'snapshot') {
        const snap = header as unknown as SnapshotRecord;
        const listed = this.noteTenants(snap.nodes, [...snap.pending, ...(snap.decided ?? [])]);
        if (listed) noted.push(listed);
        for (const n of snap.nodes) this.correlator.addSpan(n, null, Date.now());
        for (const e of snap.pending) if (!this.chain.chained(e.event.event_id)) this.correlator.addSpan(e.node, e, e.arrivedAt);
        for (const [traceId, spanId, pieces] of snap.content) this.correlator.addContent(traceId, spanId, pieces, Date.now());
        for (const e of snap.decided ?? []) if (!this.chain.chained(e.event.event_id)) this.decided.hold([e]);
        for (const [id, ancestors, pieces] of snap.heldDecided ?? []) replay.decisions.set(id, [ancestors, pieces]);
      }
    }
    await Promise.all(noted);
    const replayed = this.correlator.pending + this.decided.count - before;
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

/**
 * Turns a held event's stub into the event made again here (`made`), in place: the correlator
 * and the decided events keep the same object. Content that joined the stub here joins it.
 */
function makeLocal(h: HeldEvent, made: PendingEvent): PendingEvent {
  const p = h as unknown as PendingEvent & Partial<HeldEvent>;
  const joined = h.pieces;
  delete p.held;
  delete p.eventId;
  delete p.row;
  delete p.ancestors;
  p.event = made.event;
  p.pieces = [...made.pieces, ...joined];
  if (made.rawAttributes) p.rawAttributes = made.rawAttributes;
  return p;
}
