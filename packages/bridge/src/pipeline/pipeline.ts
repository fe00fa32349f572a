import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChainWriter, type ChainHead } from '../chain/chain-writer.ts';
import { Correlator, type CorrelatorConfig } from '../correlate/correlator.ts';
import type { ContentPiece, PendingEvent, SpanNode } from '../correlate/types.ts';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import { nowNanos, nanosToDateTime64 } from '../internal/time.ts';
import { decodeRequest, type DecodedRequest, type RawRequest } from '../receive/otlp/request.ts';
import type { DecodeOptions } from '../receive/otlp/decode.ts';
import { WriteAheadLog } from '../spool/wal.ts';
import { RowWriter, rowEncoder } from '../store/rowbinary.ts';
import { EVENT_COLUMNS } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { AuditEvent } from '../model.ts';
import { intakeLogs, intakeSpans } from './intake.ts';
import { decodeRecord, encodeRecord } from './wal-records.ts';
import type { PrivacyFilter } from './privacy.ts';
import { RecentIds } from './recent-ids.ts';

export interface PipelineConfig {
  dataDir: string;
  /** This instance's hash chain. One writer per chain: give each bridge instance its own. */
  chainId: string;
  defaultRisk: string;
  correlator: Partial<CorrelatorConfig>;
  /** Most rows in one ClickHouse insert. */
  batchRows: number;
  /** How often decided events are sealed and written. */
  flushIntervalMs: number;
  walSegmentBytes: number;
  fsync: boolean;
  /** How many recent event ids are remembered to drop re-sent spans (see README, Idempotency). */
  dedupIds: number;
  /** Key that seals write-ahead log records (AES-256-GCM); see loadWalKey. */
  walKey?: Buffer;
  /** The decoder limits, so that a replay decodes requests exactly as they were first decoded. */
  decode?: DecodeOptions;
}

export const DEFAULT_PIPELINE_CONFIG: Omit<PipelineConfig, 'dataDir'> = {
  chainId: 'main',
  defaultRisk: 'medium',
  correlator: {},
  batchRows: 10_000,
  flushIntervalMs: 100,
  walSegmentBytes: 64 * 1024 * 1024,
  fsync: true,
  dedupIds: 500_000,
};

/** A chained batch: its rows as RowBinary, exactly as the log keeps them and ClickHouse gets them. */
interface SealedHeader {
  t: 'sealed';
  token: string;
  chainId: string;
  firstSeq: number;
  lastSeq: number;
  headHash: string;
  eventIds: string[];
  hashes: string[];
}
interface SealedBatch extends SealedHeader {
  rows: Buffer;
  durable: Promise<void>;
}

/** A request as received, replayed through the same decode and intake after a crash. */
interface RequestHeader {
  t: 'request';
  signal: RawRequest['signal'];
  encoding: RawRequest['encoding'];
  tenant?: string;
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
  private readonly chain: ChainWriter;
  private readonly recent: RecentIds;
  private unstored: SealedBatch[] = [];
  private insertLoop: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private compacting = false;
  private lastInsertError = '';
  private readonly m;
  /**
   * Told of each batch, in seq order, once ClickHouse has confirmed it (the checkpointer,
   * chain/checkpointer.ts, set by bridge.ts). Must be cheap and must not throw.
   */
  stored: ((firstSeq: number, lastSeq: number, hashes: string[]) => void) | null = null;
  private readonly encodeRow = rowEncoder(EVENT_COLUMNS);
  private readonly rowWriter = new RowWriter();

  private constructor(
    config: PipelineConfig,
    store: Store,
    privacy: PrivacyFilter,
    log: Logger,
    metrics: Metrics,
    wal: WriteAheadLog,
    head: ChainHead | null,
    recent: RecentIds,
  ) {
    this.config = config;
    this.store = store;
    this.privacy = privacy;
    this.log = log;
    this.wal = wal;
    this.recent = recent;
    this.correlator = new Correlator(config.correlator);
    this.chain = new ChainWriter(config.chainId, head);
    this.m = {
      spansReceived: metrics.counter('otel_audit_spans_received_total', 'Spans received and accepted by the decoder'),
      logsReceived: metrics.counter('otel_audit_log_records_received_total', 'Log records received and accepted by the decoder'),
      spansDropped: metrics.counter('otel_audit_spans_dropped_total', 'Spans with no audit meaning (kept only as ancestry)'),
      logsDropped: metrics.counter('otel_audit_log_records_dropped_total', 'Log records with no audit content'),
      eventsStored: metrics.counter('otel_audit_events_stored_total', 'Audit events written to ClickHouse'),
      eventsDeduplicated: metrics.counter('otel_audit_events_deduplicated_total', 'Re-sent events recognized and not stored twice'),
      eventsReplayed: metrics.counter('otel_audit_events_replayed_total', 'Events recovered from the write-ahead log at start'),
      insertErrors: metrics.counter('otel_audit_insert_errors_total', 'Failed ClickHouse inserts (retried)'),
    };
    metrics.gauge('otel_audit_wal_bytes', 'Bytes in the write-ahead log', () => this.wal.bytes);
    metrics.gauge('otel_audit_events_pending', 'Events waiting for their context or content', () => this.correlator.pending);
    metrics.gauge('otel_audit_events_unstored', 'Sealed events not yet confirmed by ClickHouse', () =>
      this.unstored.reduce((n, b) => n + b.eventIds.length, 0),
    );
    metrics.gauge('otel_audit_chain_head_seq', 'Sequence number of the newest sealed event', () => this.chain.current.seq);
  }

  static async start(store: Store, privacy: PrivacyFilter, config: PipelineConfig, log: Logger, metrics: Metrics): Promise<AuditPipeline> {
    const { wal, records } = await WriteAheadLog.open({
      dir: join(config.dataDir, 'wal'),
      segmentBytes: config.walSegmentBytes,
      fsync: config.fsync,
      key: config.walKey,
    });
    const head = await storedHead(store, config.chainId);
    const recent = new RecentIds(config.dedupIds);
    await recent.seed(store);
    const p = new AuditPipeline(config, store, privacy, log, metrics, wal, head, recent);
    await p.recover(records);
    p.timer = setInterval(() => p.tick(), config.flushIntervalMs);
    p.timer.unref();
    return p;
  }

  /**
   * Takes a decoded request; resolves once it is durable. The log keeps the request as it
   * arrived (sealed with the log key), not the events made of it: a replay decodes it again.
   */
  async ingest(raw: RawRequest, decoded: DecodedRequest): Promise<void> {
    const header: RequestHeader = {
      t: 'request',
      signal: raw.signal,
      encoding: raw.encoding,
      tenant: raw.tenant,
      at: Date.now(),
      ingestTime: nanosToDateTime64(nowNanos()),
    };
    const durable = this.wal.append(encodeRecord(header, raw.body));
    // State changes now (not after the fsync) so that a concurrent compaction snapshot covers it.
    this.apply(header, decoded);
    await durable;
  }

  /** Decoded telemetry → intake → correlator (also the replay path). */
  private apply(h: RequestHeader, decoded: DecodedRequest): void {
    if (decoded.signal === 'traces') {
      const spans = decoded.spans;
      const intake = intakeSpans(spans, this.privacy, {
        tenant: h.tenant,
        defaultRisk: this.config.defaultRisk,
        now: h.at,
        ingestTime: h.ingestTime,
      });
      this.m.spansReceived.inc(spans.length);
      this.m.spansDropped.inc(intake.dropped);
      for (const node of intake.nodes) this.correlator.addSpan(node, null, h.at);
      for (const ev of intake.events) this.correlator.addSpan(ev.node, ev, h.at);
    } else {
      const intake = intakeLogs(decoded.logs, this.privacy);
      this.m.logsReceived.inc(decoded.logs.length);
      this.m.logsDropped.inc(intake.dropped);
      for (const [traceId, spanId, pieces] of intake.content) this.correlator.addContent(traceId, spanId, pieces, h.at);
    }
  }

  /** Decides everything pending and waits until it is in ClickHouse (tests, shutdown). */
  async flush(): Promise<void> {
    this.seal(this.correlator.drain(Date.now()));
    await this.waitStored();
  }

  /** Waits until every sealed batch is confirmed by ClickHouse. */
  async waitStored(): Promise<void> {
    while (this.insertLoop) await this.insertLoop;
  }

  get healthy(): { ok: boolean; reason: string } {
    if (this.lastInsertError) return { ok: false, reason: `ClickHouse inserts failing: ${this.lastInsertError}` };
    return { ok: true, reason: '' };
  }

  get chainHead(): ChainHead {
    return this.chain.current;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.seal(this.correlator.drain(Date.now()));
    await this.waitStored();
    await this.wal.close();
  }

  private tick(): void {
    if (this.closed) return;
    try {
      this.seal(this.correlator.takeReady(Date.now()));
      if (this.wal.currentSegmentBytes > this.config.walSegmentBytes) this.compact();
    } catch (err) {
      this.log.error('sealing failed', { error: (err as Error).message });
    }
  }

  private compact(): void {
    if (this.compacting) return;
    this.compacting = true;
    const snap = this.correlator.snapshot();
    const record: SnapshotRecord = { t: 'snapshot', ...snap };
    // Sealed batches not yet confirmed are re-logged after the snapshot, so nothing unstored
    // lives only in the segments the compaction deletes.
    const unstored = this.unstored.map(({ rows, durable: _d, ...header }) => encodeRecord(header, rows));
    this.wal
      .compact(encodeRecord(record), unstored)
      .catch((err) => this.log.error('write-ahead log compaction failed', { error: (err as Error).message }))
      .finally(() => {
        this.compacting = false;
      });
  }

  /** Chains decided events, logs the sealed batch, and queues it for ClickHouse. */
  private seal(ready: PendingEvent[]): void {
    if (ready.length === 0) return;
    const fresh = [];
    for (const p of ready) {
      if (this.recent.has(p.event.event_id)) {
        this.m.eventsDeduplicated.inc();
        continue;
      }
      this.recent.add(p.event.event_id);
      fresh.push(p.event);
    }
    for (let i = 0; i < fresh.length; i += this.config.batchRows) {
      const events = fresh.slice(i, i + this.config.batchRows);
      this.chain.seal(events);
      for (const e of events) this.encodeRow(this.rowWriter, e as unknown as Record<string, unknown>);
      const first = events[0];
      const last = events[events.length - 1];
      const header: SealedHeader = {
        t: 'sealed',
        token: `${this.config.chainId}:${first.seq}-${last.seq}`,
        chainId: this.config.chainId,
        firstSeq: first.seq,
        lastSeq: last.seq,
        headHash: last.hash,
        eventIds: events.map((e) => e.event_id),
        hashes: events.map((e) => e.hash),
      };
      const rows = this.rowWriter.take();
      const durable = this.wal.append(encodeRecord(header, rows));
      this.unstored.push({ ...header, rows, durable });
    }
    this.kickInserts();
  }

  private kickInserts(): void {
    if (this.insertLoop) return;
    this.insertLoop = this.runInserts().finally(() => {
      this.insertLoop = null;
      if (this.unstored.length > 0 && !this.closed) this.kickInserts();
    });
  }

  /** In order, one batch at a time, retried with backoff until ClickHouse takes it. */
  private async runInserts(): Promise<void> {
    while (this.unstored.length > 0) {
      const batch = this.unstored[0];
      await batch.durable;
      let delay = 100;
      for (;;) {
        try {
          await this.store.insertRowBinary('events', EVENT_COLUMNS, batch.rows, batch.token);
          break;
        } catch (err) {
          this.m.insertErrors.inc();
          this.lastInsertError = (err as Error).message;
          this.log.warn('ClickHouse insert failed; will retry', { token: batch.token, error: this.lastInsertError, retry_ms: delay });
          await sleep(delay);
          delay = Math.min(delay * 2, 30_000);
        }
      }
      this.lastInsertError = '';
      this.unstored.shift();
      this.m.eventsStored.inc(batch.eventIds.length);
      this.stored?.(batch.firstSeq, batch.lastSeq, batch.hashes); // checkpoints cover confirmed events only
      this.wal.append(JSON.stringify({ t: 'stored', token: batch.token })).catch(() => {});
    }
  }

  /** Rebuilds the state the write-ahead log holds: re-inserts sealed batches, re-queues pending events. */
  private async recover(records: Buffer[]): Promise<void> {
    if (records.length === 0) return;
    const sealed = new Map<string, SealedBatch>();
    const sealedIds = new Set<string>();
    // Pass 1: which events were already sealed, so that their requests' replays skip them.
    const decodedRecords = records.map((r) => decodeRecord(r));
    for (const { header, body } of decodedRecords) {
      if (header.t === 'sealed') {
        const h = header as unknown as SealedHeader;
        for (const id of h.eventIds) sealedIds.add(id);
        sealed.set(h.token, { ...h, rows: body!, durable: Promise.resolve() });
      } else if (header.t === 'stored') {
        sealed.delete(header.token as string);
      }
    }
    // Sealed but unconfirmed batches go first, with their original tokens: ClickHouse drops
    // the ones it already has.
    for (const b of sealed.values()) {
      this.chain.advanceTo({ seq: b.lastSeq, hash: b.headHash });
      for (const id of b.eventIds) this.recent.add(id);
      this.unstored.push(b);
    }
    // Pass 2: replay requests and snapshots through the correlator, in order.
    const before = this.correlator.pending;
    for (const { header, body } of decodedRecords) {
      if (header.t === 'request') {
        const h = header as unknown as RequestHeader;
        let decoded: DecodedRequest;
        try {
          decoded = decodeRequest({ signal: h.signal, encoding: h.encoding, body: body!, tenant: h.tenant }, this.config.decode);
        } catch (err) {
          this.log.error('a logged request no longer decodes; skipped', { error: (err as Error).message });
          continue;
        }
        this.applyReplay(h, decoded, sealedIds);
      } else if (header.t === 'snapshot') {
        const snap = header as unknown as SnapshotRecord;
        for (const n of snap.nodes) this.correlator.addSpan(n, null, Date.now());
        for (const e of snap.pending) if (!sealedIds.has(e.event.event_id)) this.correlator.addSpan(e.node, e, e.arrivedAt);
        for (const [traceId, spanId, pieces] of snap.content) this.correlator.addContent(traceId, spanId, pieces, Date.now());
      }
    }
    const replayed = this.correlator.pending - before;
    this.m.eventsReplayed.inc(replayed + [...sealed.values()].reduce((n, b) => n + b.eventIds.length, 0));
    this.log.info('recovered from the write-ahead log', { records: records.length, pending: replayed, unstored_batches: sealed.size });
    this.kickInserts();
    await this.waitStored();
    this.compact();
  }

  /** Like apply, minus the events a sealed batch already holds. */
  private applyReplay(h: RequestHeader, decoded: DecodedRequest, sealedIds: Set<string>): void {
    if (decoded.signal === 'logs') return this.apply(h, decoded);
    const intake = intakeSpans(decoded.spans, this.privacy, { tenant: h.tenant, defaultRisk: this.config.defaultRisk, now: h.at, ingestTime: h.ingestTime });
    for (const node of intake.nodes) this.correlator.addSpan(node, null, h.at);
    for (const ev of intake.events) if (!sealedIds.has(ev.event.event_id)) this.correlator.addSpan(ev.node, ev, h.at);
  }
}

async function storedHead(store: Store, chainId: string): Promise<ChainHead | null> {
  const rows = await store.rows<{ seq: string; hash: string }>(
    `SELECT seq, hash FROM ${store.database}.events WHERE chain_id = {chain:String} ORDER BY seq DESC LIMIT 1`,
    { chain: chainId },
  );
  return rows.length ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
}
