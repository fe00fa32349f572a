import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChainWriter, riskChainId, riskChainIds, type ChainHead } from '../chain/chain-writer.ts';
import { Correlator, type CorrelatorConfig } from '../correlate/correlator.ts';
import type { ContentPiece, PendingEvent, SpanNode } from '../correlate/types.ts';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import { nowNanos, nanosToDateTime64 } from '../internal/time.ts';
import type { RawRequest } from '../receive/otlp/request.ts';
import type { DecodeOptions, RejectedItem } from '../receive/otlp/decode.ts';
import { WriteAheadLog, type WalRecord, type WalRef } from '../spool/wal.ts';
import { RowWriter } from '../store/rowbinary.ts';
import { EVENT_COLUMNS } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { AuditEvent } from '../model.ts';
import { defaultIntakeWorkers, IntakePool, runIntake, type IntakeJob, type IntakeResult } from './intake-pool.ts';
import { decodeRecord, encodeRecord } from './wal-records.ts';
import type { PrivacyFilter } from './privacy.ts';
import { RecentIds } from './recent-ids.ts';

export interface PipelineConfig {
  dataDir: string;
  /**
   * This instance's chain id. Events are sealed into one chain per risk level,
   * `<chainId>-low|medium|high` (see chain/README.md). One writer per chain: give each bridge
   * instance its own id.
   */
  chainId: string;
  defaultRisk: string;
  correlator: Partial<CorrelatorConfig>;
  /** Most rows in one ClickHouse insert. */
  batchRows: number;
  /** How often decided events are sealed and written. */
  flushIntervalMs: number;
  /** Longest a decided event waits for an insert in flight before it is sealed anyway. */
  maxHoldMs: number;
  walSegmentBytes: number;
  fsync: boolean;
  /** How many recent event ids are remembered to drop re-sent spans (see README, Idempotency). */
  dedupIds: number;
  /** Key that seals write-ahead log records (AES-256-GCM); see loadWalKey. */
  walKey?: Buffer;
  /** The decoder limits, so that a replay decodes requests exactly as they were first decoded. */
  decode?: DecodeOptions;
  /**
   * Disk budget of the write-ahead log. Past it (ClickHouse down or slower than the intake),
   * `overloaded()` says so and receivers answer 503 / UNAVAILABLE with a retry hint.
   */
  spoolBudgetBytes: number;
  /** Sealed rows waiting for ClickHouse kept in memory; the others are read back from the log. */
  spoolMemoryBytes: number;
  /** Events held in memory (waiting for their context, or sealed and in memory) past which receivers answer 503. */
  maxPendingEvents: number;
  /** How long shutdown waits for ClickHouse; what it has not taken by then stays in the log for the next start. */
  shutdownTimeoutMs: number;
  /** Worker threads for decode + intake (intake-pool.ts); 0 runs them on the main thread. */
  intakeWorkers: number;
}

export const DEFAULT_PIPELINE_CONFIG: Omit<PipelineConfig, 'dataDir'> = {
  chainId: 'main',
  defaultRisk: 'medium',
  correlator: {},
  batchRows: 10_000,
  flushIntervalMs: 100,
  maxHoldMs: 1_000,
  walSegmentBytes: 64 * 1024 * 1024,
  fsync: true,
  dedupIds: 500_000,
  spoolBudgetBytes: 1024 ** 3,
  spoolMemoryBytes: 64 * 1024 ** 2,
  maxPendingEvents: 200_000,
  shutdownTimeoutMs: 10_000,
  intakeWorkers: defaultIntakeWorkers(),
};

/** A chained batch: its rows as RowBinary, exactly as the log keeps them and ClickHouse gets them. */
interface SealedHeader {
  t: 'sealed';
  /**
   * ClickHouse's insert_deduplication_token: `<chain>:<first>-<last>:<hash of the last event>`.
   * The hash chains over every row before it, so the token names the content: a replay of this
   * batch (same rows) is dropped, but other events sealed at the same seqs (after the newest
   * rows were deleted) are not. A replay reuses the token logged here.
   */
  token: string;
  chainId: string;
  firstSeq: number;
  lastSeq: number;
  headHash: string;
  eventIds: string[];
  hashes: string[];
}
/**
 * A sealed batch waiting for ClickHouse. Its ids, hashes and rows stay in memory up to
 * `spoolMemoryBytes` in all; past that, the newest batches keep only their place in the log
 * (`ref`) and are read back when their turn comes.
 */
interface SealedBatch {
  token: string;
  chainId: string;
  firstSeq: number;
  lastSeq: number;
  headHash: string;
  events: number;
  rowBytes: number;
  full: { header: SealedHeader; rows: Buffer } | null;
  /** Where the log holds the batch, once written. */
  ref: WalRef | null;
  /** Settles after the first attempt to log the batch (inserts wait for it, not for its success). */
  logged: Promise<void>;
  stored: boolean;
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
}

export interface IngestResult {
  accepted: number;
  dropped: number;
}

/**
 * The write path after decoding: intake (normalize + privacy) → write-ahead log → correlate →
 * seal into the hash chain → write-ahead log → ClickHouse. A request is acknowledged once its
 * intake record is fsynced; everything after that is replayed from the log after a crash.
 */
export class AuditPipeline {
  readonly config: PipelineConfig;
  readonly correlator: Correlator;
  private readonly store: Store;
  private readonly privacy: PrivacyFilter;
  private readonly log: Logger;
  private readonly wal: WriteAheadLog;
  private readonly pool: IntakePool | null;
  /** One writer per chain id (the risk chains; a legacy chain only to finish a replay). */
  private readonly chains = new Map<string, ChainWriter>();
  private readonly recent: RecentIds;
  private unstored: SealedBatch[] = [];
  /**
   * Decided events not sealed yet: while an insert is in flight, events wait here, so that the
   * next batch is as large as the insert's duration allows (fewer, larger inserts: less
   * per-insert work and fewer parts for ClickHouse to merge). Sealed before any compaction, so
   * they never live only in the segments it deletes.
   */
  private held: PendingEvent[] = [];
  private heldSince = 0;
  private insertLoop: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private compacting = false;
  private lastInsertError = '';
  /** Sealed batches waiting to be logged, in chain order (see logSealed). */
  private unlogged: Array<{ batch: SealedBatch; record: Buffer; attempted: () => void }> = [];
  private pumping: Promise<void> | null = null;
  private walError = '';
  private walErrorAt = 0;
  private lastWalErrorLog = 0;
  private lastCompactAt = 0;
  /** Rows bytes and events of the unstored batches, and of those held in memory. */
  private spooledBytes = 0;
  private spooledEvents = 0;
  private memoryBytes = 0;
  private memoryEvents = 0;
  private readonly m;
  /**
   * Told of each batch, in seq order, once ClickHouse has confirmed it (the checkpointer,
   * chain/checkpointer.ts, set by bridge.ts). Must be cheap and must not throw.
   */
  stored: ((chainId: string, firstSeq: number, lastSeq: number, hashes: string[]) => void) | null = null;
  private readonly rowWriter = new RowWriter();

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
    this.wal = wal;
    this.recent = recent;
    this.correlator = new Correlator(config.correlator);
    for (const id of riskChainIds(config.chainId)) this.chains.set(id, new ChainWriter(id, heads.get(id) ?? null));
    this.m = {
      spansReceived: metrics.counter('otel_audit_spans_received_total', 'Spans received and accepted by the decoder'),
      logsReceived: metrics.counter('otel_audit_log_records_received_total', 'Log records received and accepted by the decoder'),
      spansDropped: metrics.counter('otel_audit_spans_dropped_total', 'Spans with no audit meaning (kept only as ancestry)'),
      logsDropped: metrics.counter('otel_audit_log_records_dropped_total', 'Log records with no audit content'),
      eventsStored: metrics.counter('otel_audit_events_stored_total', 'Audit events written to ClickHouse'),
      eventsDeduplicated: metrics.counter('otel_audit_events_deduplicated_total', 'Re-sent events recognized and not stored twice'),
      eventsReplayed: metrics.counter('otel_audit_events_replayed_total', 'Events recovered from the write-ahead log at start'),
      insertErrors: metrics.counter('otel_audit_insert_errors_total', 'Failed ClickHouse inserts (retried)'),
      walWriteErrors: metrics.counter('otel_audit_wal_write_errors_total', 'Failed write-ahead log writes (disk full, I/O error); the requests got 503'),
      overloaded: metrics.counter('otel_audit_overloaded_total', 'Times a receiver was told to refuse a request (spool budget, pending events, log errors)'),
    };
    metrics.gauge('otel_audit_intake_jobs_in_flight', 'Requests being decoded and normalized on the intake worker threads', () => this.pool?.inFlight ?? 0);
    metrics.gauge('otel_audit_wal_bytes', 'Bytes in the write-ahead log', () => this.wal.bytes);
    metrics.gauge('otel_audit_wal_queued_bytes', 'Bytes waiting for the next write-ahead log write and fsync', () => this.wal.queuedBytes);
    metrics.gauge('otel_audit_events_pending', 'Events waiting for their context or content, or decided and waiting for the next batch', () => this.correlator.pending + this.held.length);
    metrics.gauge('otel_audit_events_unstored', 'Sealed events not yet confirmed by ClickHouse (= otel_audit_spooled_events)', () => this.spooledEvents);
    metrics.gauge('otel_audit_chain_head_seq', 'Seq of the newest sealed event, per hash chain (one per risk level)', () =>
      [...this.chains].map(([chain, w]): [Record<string, string>, number] => [{ chain }, w.current.seq]),
    );
    metrics.gauge('otel_audit_spooled_events', 'Sealed events in the write-ahead log waiting for ClickHouse', () => this.spooledEvents);
    metrics.gauge('otel_audit_spooled_bytes', 'Bytes of sealed rows in the write-ahead log waiting for ClickHouse', () => this.spooledBytes);
    metrics.gauge('otel_audit_spool_memory_bytes', 'Bytes of the spooled rows also held in memory (kept under 64 MiB; the rest is read back from the log)', () => this.memoryBytes);
    metrics.gauge('otel_audit_spool_budget_bytes', 'Disk budget of the write-ahead log (--spool-budget)', () => this.config.spoolBudgetBytes);
    metrics.gauge('otel_audit_spool_full', '1 while the write-ahead log is over its budget (receivers answer 503)', () =>
      this.wal.bytes >= this.config.spoolBudgetBytes ? 1 : 0,
    );
    metrics.gauge('otel_audit_ready', '1 when ClickHouse takes inserts and the bridge takes requests (as /readyz)', () => (this.healthy.ok ? 1 : 0));
  }

  static async start(store: Store, privacy: PrivacyFilter, config: PipelineConfig, log: Logger, metrics: Metrics): Promise<AuditPipeline> {
    const { wal, records } = await WriteAheadLog.openForReplay({
      dir: join(config.dataDir, 'wal'),
      segmentBytes: config.walSegmentBytes,
      fsync: config.fsync,
      key: config.walKey,
    });
    const heads = await storedHeads(store, config.chainId);
    const recent = new RecentIds(config.dedupIds);
    await recent.seed(store);
    const pool =
      config.intakeWorkers > 0
        ? new IntakePool(config.intakeWorkers, { policy: privacy.policy.policy, keepsRaw: privacy.keepsRaw }, (err) =>
            log.error('an intake worker failed; its requests got an error. It is replaced, unless workers keep failing to start: then intake runs on the main thread', { error: err.message }),
          )
        : null;
    const p = new AuditPipeline(config, store, privacy, log, metrics, wal, heads, recent, pool);
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
   * as it arrived (sealed with the log key), not the events made of it: a replay decodes it again.
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
    const job: IntakeJob = { raw, decode, defaultRisk: this.config.defaultRisk, now: header.at, ingestTime: header.ingestTime };
    const result = this.pool?.usable ? await this.pool.run(job) : runIntake(job, this.privacy);
    if (result.received === 0) return { rejected: result.rejected };
    const durable = this.wal.append(encodeRecord(header, raw.body));
    // State changes now (not after the fsync) so that a concurrent compaction snapshot covers it.
    // If the write fails, the client gets an error and re-sends: the events are deduplicated.
    this.apply(result, header.at);
    try {
      await durable;
    } catch (err) {
      this.walFailed(err as Error);
      throw err;
    }
    this.walError = '';
    return { rejected: result.rejected };
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
    const budget = this.config.spoolBudgetBytes;
    if (this.wal.bytes >= budget) {
      const why = this.lastInsertError ? `ClickHouse inserts are failing (${this.lastInsertError})` : 'ClickHouse is not keeping up';
      return {
        reason: `spool full: the write-ahead log holds ${this.wal.bytes} bytes, its budget is ${budget} (${why}); retry later`,
        retryAfterSeconds: 10,
      };
    }
    const held = this.correlator.pending + this.held.length + this.memoryEvents;
    if (held >= this.config.maxPendingEvents) {
      return { reason: `too many events waiting (${held}, limit ${this.config.maxPendingEvents}); retry later`, retryAfterSeconds: 2 };
    }
    return null;
  }

  /**
   * A request's intake → correlator (also the replay path). On replay (`sealed` given) the
   * events a sealed batch already holds are skipped, and nothing is counted as received again.
   */
  private apply(r: IntakeResult, at: number, sealed?: Set<string>): void {
    const count = !sealed;
    if (r.signal === 'traces') {
      if (count) {
        this.m.spansReceived.inc(r.received);
        this.m.spansDropped.inc(r.intake.dropped);
      }
      for (const node of r.intake.nodes) this.correlator.addSpan(node, null, at);
      for (const ev of r.intake.events) if (!sealed?.has(ev.event.event_id)) this.correlator.addSpan(ev.node, ev, at);
    } else {
      if (count) {
        this.m.logsReceived.inc(r.received);
        this.m.logsDropped.inc(r.intake.dropped);
      }
      for (const [traceId, spanId, pieces] of r.intake.content) this.correlator.addContent(traceId, spanId, pieces, at);
    }
  }

  /** Decides everything pending and waits until it is in ClickHouse (tests, shutdown). */
  async flush(): Promise<void> {
    this.hold(this.correlator.drain(Date.now()));
    this.sealHeld();
    await this.waitStored();
  }

  /** Waits until every sealed batch is confirmed by ClickHouse. */
  async waitStored(): Promise<void> {
    while (this.insertLoop) await this.insertLoop;
  }

  get healthy(): { ok: boolean; reason: string } {
    if (this.lastInsertError) return { ok: false, reason: `ClickHouse inserts failing: ${this.lastInsertError}` };
    const o = this.overloadReason();
    if (o) return { ok: false, reason: o.reason };
    return { ok: true, reason: '' };
  }

  /** The head of each chain, by chain id. */
  get chainHead(): Record<string, ChainHead> {
    const out: Record<string, ChainHead> = {};
    for (const [id, w] of this.chains) out[id] = w.current;
    return out;
  }

  private writer(chainId: string): ChainWriter {
    let w = this.chains.get(chainId);
    if (!w) this.chains.set(chainId, (w = new ChainWriter(chainId, null)));
    return w;
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
    this.hold(this.correlator.drain(Date.now()));
    this.sealHeld();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.config.shutdownTimeoutMs);
    });
    const done = await Promise.race([this.waitStored().then(() => false), timedOut]);
    clearTimeout(timer);
    this.closed = true;
    if (done) {
      this.log.warn('shutdown: ClickHouse did not take every batch in time; they stay in the write-ahead log for the next start', {
        unstored_batches: this.unstored.length,
        unstored_events: this.spooledEvents,
      });
    }
    // Every sealed batch is durable (or stored) before the log closes: the chain has no hole.
    while (this.pumping) await this.pumping;
    await this.insertLoop?.catch(() => {});
    await this.wal.close();
  }

  private tick(): void {
    if (this.closed) return;
    try {
      const now = Date.now();
      this.hold(this.correlator.takeReady(now));
      const budget = this.config.spoolBudgetBytes;
      // Compact once a segment's worth was appended (a quarter of the budget at most), and when
      // over budget with something to reclaim (stored batches, replayed requests).
      const every = Math.min(this.config.walSegmentBytes, Math.max(budget / 4, 64 * 1024));
      const reclaim = this.wal.bytes >= budget && this.wal.bytes > this.spooledBytes * 1.25 && now - this.lastCompactAt > 1000;
      const compactDue = this.wal.appendedBytes > every || reclaim;
      // Seal now when ClickHouse is idle; else let the batch grow while the insert runs, up to
      // batchRows or maxHoldMs.
      if (compactDue || this.unstored.length === 0 || this.held.length >= this.config.batchRows || now - this.heldSince >= this.config.maxHoldMs) {
        this.sealHeld();
      }
      this.evict();
      if (compactDue) this.compact();
    } catch (err) {
      this.log.error('sealing failed', { error: (err as Error).message });
    }
  }

  private compact(): void {
    if (this.compacting) return;
    this.compacting = true;
    this.lastCompactAt = Date.now();
    const snap = this.correlator.snapshot();
    const record: SnapshotRecord = { t: 'snapshot', ...snap };
    // Sealed batches not yet confirmed are re-logged after the snapshot, so nothing unstored
    // lives only in the segments the compaction deletes. Batches already in the log are copied
    // from it as they are, a few MiB at a time (their refs move to the new segment); only those
    // not yet logged are written from memory. A compaction thus costs little memory, however
    // large the spool.
    const batches = [...this.unstored];
    const carried = batches.map((b) => b.ref ?? encodeRecord(b.full!.header, b.full!.rows));
    this.wal
      .compact(encodeRecord(record), carried)
      .then((refs) => batches.forEach((b, i) => (b.ref = refs[i])))
      .catch((err) => this.log.error('write-ahead log compaction failed', { error: (err as Error).message }))
      .finally(() => {
        this.compacting = false;
      });
  }

  /** Drops rows from memory, newest batches first, past spoolMemoryBytes (they are in the log). */
  private evict(): void {
    if (this.memoryBytes <= this.config.spoolMemoryBytes) return;
    for (let i = this.unstored.length - 1; i > 0 && this.memoryBytes > this.config.spoolMemoryBytes; i--) {
      const b = this.unstored[i];
      if (!b.full || !b.ref) continue;
      b.full = null;
      this.memoryBytes -= b.rowBytes;
      this.memoryEvents -= b.events;
    }
  }

  /** The batch's header and rows, from memory or read back from the log. */
  private async load(b: SealedBatch): Promise<{ header: SealedHeader; rows: Buffer }> {
    for (let attempt = 0; ; attempt++) {
      if (b.full) return b.full;
      try {
        const { header, body } = decodeRecord(await this.wal.read(b.ref!));
        return { header: header as unknown as SealedHeader, rows: body! };
      } catch (err) {
        // A compaction may have moved the record meanwhile: its ref is updated when it is done.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 50) throw err;
        await sleep(100);
      }
    }
  }

  private hold(ready: PendingEvent[]): void {
    if (ready.length === 0) return;
    if (this.held.length === 0) {
      this.heldSince = Date.now();
      this.held = ready;
    } else {
      for (const p of ready) this.held.push(p);
    }
  }

  private sealHeld(): void {
    if (this.held.length === 0) return;
    const ready = this.held;
    this.held = [];
    this.seal(ready);
  }

  /** Chains decided events, logs the sealed batch, and queues it for ClickHouse. */
  private seal(ready: PendingEvent[]): void {
    if (ready.length === 0) return;
    // One chain per risk level: events are grouped by chain, keeping their order in each.
    const groups = new Map<string, AuditEvent[]>();
    for (const p of ready) {
      if (this.recent.has(p.event.event_id)) {
        this.m.eventsDeduplicated.inc();
        continue;
      }
      this.recent.add(p.event.event_id);
      const chainId = riskChainId(this.config.chainId, p.event.risk);
      let g = groups.get(chainId);
      if (!g) groups.set(chainId, (g = []));
      g.push(p.event);
    }
    for (const [chainId, fresh] of groups) this.sealChain(chainId, fresh);
    this.kickInserts();
  }

  private sealChain(chainId: string, fresh: AuditEvent[]): void {
    const chain = this.writer(chainId);
    for (let i = 0; i < fresh.length; i += this.config.batchRows) {
      const events = fresh.slice(i, i + this.config.batchRows);
      // One serialization: the row bytes its hash covers are the bytes inserted.
      chain.seal(events, this.rowWriter);
      const first = events[0];
      const last = events[events.length - 1];
      const header: SealedHeader = {
        t: 'sealed',
        token: `${chainId}:${first.seq}-${last.seq}:${last.hash}`,
        chainId,
        firstSeq: first.seq,
        lastSeq: last.seq,
        headHash: last.hash,
        eventIds: events.map((e) => e.event_id),
        hashes: events.map((e) => e.hash),
      };
      // One copy of the rows: the log record, whose tail the batch keeps as its rows.
      const taken = this.rowWriter.take();
      const record = encodeRecord(header, taken);
      const rows = record.subarray(record.length - taken.length);
      const batch: SealedBatch = {
        token: header.token,
        chainId,
        firstSeq: header.firstSeq,
        lastSeq: header.lastSeq,
        headHash: header.headHash,
        events: events.length,
        rowBytes: rows.length,
        full: { header, rows },
        ref: null,
        logged: Promise.resolve(),
        stored: false,
      };
      batch.logged = this.logSealed(batch, record);
      this.unstored.push(batch);
      this.spooledBytes += rows.length;
      this.spooledEvents += events.length;
      this.memoryBytes += rows.length;
      this.memoryEvents += events.length;
    }
  }

  /**
   * Logs a sealed batch, in chain order, retrying until it is durable or stored. Batches are
   * appended in rounds: everything waiting goes into the log's next group commit at once, and
   * the next round starts when that one is settled. A failed write fails everything queued
   * behind it (spool/wal.ts), and the failed batches are retried first: a batch is never
   * durable while an earlier one is not, so a replay finds no hole in the chain. Resolves after
   * the first attempt; retries go on in the background (inserts need not wait for them).
   */
  private logSealed(batch: SealedBatch, record: Buffer): Promise<void> {
    let attempted!: () => void;
    const done = new Promise<void>((resolve) => (attempted = resolve));
    this.unlogged.push({ batch, record, attempted });
    this.pumping ??= this.pumpSealed().finally(() => {
      this.pumping = null;
    });
    return done;
  }

  private async pumpSealed(): Promise<void> {
    let delay = 100;
    while (this.unlogged.length > 0) {
      const round = this.unlogged.splice(0);
      const live = round.filter((i) => !i.batch.stored);
      for (const i of round) if (i.batch.stored) i.attempted();
      const results = await Promise.allSettled(live.map((i) => this.wal.append(i.record)));
      const failedAt = results.findIndex((r) => r.status === 'rejected');
      const ok = failedAt === -1 ? live.length : failedAt;
      for (let k = 0; k < ok; k++) {
        live[k].batch.ref = (results[k] as PromiseFulfilledResult<WalRef>).value;
        live[k].attempted();
      }
      if (failedAt === -1) {
        delay = 100;
        continue;
      }
      this.walFailed((results[failedAt] as PromiseRejectedResult).reason as Error);
      const retry = live.slice(failedAt);
      for (const i of retry) i.attempted();
      if (this.closed) return;
      this.unlogged.unshift(...retry);
      await sleep(delay);
      delay = Math.min(delay * 2, 5_000);
    }
  }

  private kickInserts(): void {
    if (this.insertLoop) return;
    this.insertLoop = this.runInserts().finally(() => {
      this.insertLoop = null;
      if (this.unstored.length > 0 && !this.closed) this.kickInserts();
    });
  }

  /**
   * In order, one batch at a time, retried with backoff until ClickHouse takes it. The backoff
   * stops at 5 s so that the spool drains soon after ClickHouse is back. After close() (its
   * timeout passed) the loop gives up: the batches stay in the log for the next start.
   */
  private async runInserts(): Promise<void> {
    while (this.unstored.length > 0 && !this.closed) {
      const batch = this.unstored[0];
      await batch.logged;
      let delay = 100;
      let full: { header: SealedHeader; rows: Buffer };
      for (;;) {
        try {
          full = await this.load(batch);
          await this.store.insertRowBinary('events', EVENT_COLUMNS, full.rows, batch.token);
          break;
        } catch (err) {
          this.m.insertErrors.inc();
          this.lastInsertError = (err as Error).message;
          this.log.warn('ClickHouse insert failed; will retry', { token: batch.token, error: this.lastInsertError, retry_ms: delay });
          if (this.closed) return;
          await sleep(delay);
          if (this.closed) return;
          delay = Math.min(delay * 2, 5_000);
        }
      }
      if (this.lastInsertError) this.log.info('ClickHouse inserts work again', { token: batch.token, unstored_batches: this.unstored.length - 1 });
      this.lastInsertError = '';
      batch.stored = true;
      this.unstored.shift();
      this.spooledBytes -= batch.rowBytes;
      this.spooledEvents -= batch.events;
      if (batch.full) {
        this.memoryBytes -= batch.rowBytes;
        this.memoryEvents -= batch.events;
        batch.full = null;
      }
      this.m.eventsStored.inc(batch.events);
      this.stored?.(batch.chainId, batch.firstSeq, batch.lastSeq, full.header.hashes); // checkpoints cover confirmed events only
      this.wal.append(JSON.stringify({ t: 'stored', token: batch.token })).catch(() => {});
      // ClickHouse is free: what was decided meanwhile goes now, as one batch.
      if (this.unstored.length === 0) this.sealHeld();
    }
  }

  /**
   * Rebuilds the state the write-ahead log holds: re-inserts sealed batches, re-queues pending
   * events. Reads the log twice, one segment at a time; sealed rows are not kept in memory
   * (read back when their insert comes). Does not wait for ClickHouse: if it is down, the
   * bridge starts anyway, answers from the spool, and drains when it is back.
   */
  private async recover(records: () => Generator<WalRecord>): Promise<void> {
    const sealed = new Map<string, SealedBatch & { header: SealedHeader }>();
    const sealedIds = new Set<string>();
    let count = 0;
    // Pass 1: which events were already sealed, so that their requests' replays skip them.
    for (const { payload, ref } of records()) {
      count++;
      if (payload[0] !== 0x01 && payload.subarray(0, 16).toString('latin1') === '{"t":"snapshot",') continue; // pass 2
      const { header, body } = decodeRecord(payload);
      if (header.t === 'sealed') {
        const h = header as unknown as SealedHeader;
        sealed.set(h.token, {
          token: h.token,
          chainId: h.chainId,
          firstSeq: h.firstSeq,
          lastSeq: h.lastSeq,
          headHash: h.headHash,
          events: h.eventIds.length,
          rowBytes: body!.length,
          full: null,
          ref,
          logged: Promise.resolve(),
          stored: false,
          header: h,
        });
      } else if (header.t === 'stored') {
        sealed.delete(header.token as string);
      }
    }
    if (count === 0) return;
    // Sealed but unconfirmed batches go first, in chain order, with their original tokens:
    // ClickHouse drops the ones it already has.
    const batches = [...sealed.values()].sort((a, b) => (a.chainId === b.chainId ? a.firstSeq - b.firstSeq : a.chainId < b.chainId ? -1 : 1));
    for (const { header: h, ...b } of batches) {
      for (const id of h.eventIds) {
        sealedIds.add(id);
        this.recent.add(id);
      }
      this.writer(b.chainId).advanceTo({ seq: b.lastSeq, hash: b.headHash });
      this.unstored.push(b);
      this.spooledBytes += b.rowBytes;
      this.spooledEvents += b.events;
    }
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
        this.apply(result, h.at, sealedIds);
      } else if (header.t === 'snapshot') {
        const snap = header as unknown as SnapshotRecord;
        for (const n of snap.nodes) this.correlator.addSpan(n, null, Date.now());
        for (const e of snap.pending) if (!sealedIds.has(e.event.event_id)) this.correlator.addSpan(e.node, e, e.arrivedAt);
        for (const [traceId, spanId, pieces] of snap.content) this.correlator.addContent(traceId, spanId, pieces, Date.now());
      }
    }
    const replayed = this.correlator.pending - before;
    this.m.eventsReplayed.inc(replayed + this.spooledEvents);
    this.log.info('recovered from the write-ahead log', {
      records: count,
      pending: replayed,
      unstored_batches: batches.length,
      unstored_events: this.spooledEvents,
    });
    this.kickInserts();
    this.compact();
  }
}

/** The stored head of each of this instance's chains (`<chainId>-…`), in one query. */
async function storedHeads(store: Store, chainId: string): Promise<Map<string, ChainHead>> {
  // Aliases differ from the column names: ClickHouse would resolve `seq` in argMax to the alias.
  const rows = await store.rows<{ chain_id: string; head_seq: string; head_hash: string }>(
    `SELECT chain_id, max(seq) AS head_seq, argMax(hash, seq) AS head_hash FROM ${store.database}.events WHERE startsWith(chain_id, {p:String}) GROUP BY chain_id`,
    { p: `${chainId}-` },
  );
  const heads = new Map<string, ChainHead>();
  for (const r of rows) heads.set(r.chain_id, { seq: Number(r.head_seq), hash: r.head_hash });
  return heads;
}
