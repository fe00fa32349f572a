import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChainWriter, type ChainHead } from '../chain/chain-writer.ts';
import { Correlator, type CorrelatorConfig } from '../correlate/correlator.ts';
import type { ContentPiece, PendingEvent, SpanNode } from '../correlate/types.ts';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import { nowNanos, nanosToDateTime64 } from '../internal/time.ts';
import type { TelemetryLog, TelemetrySpan } from '../model.ts';
import { WriteAheadLog } from '../spool/wal.ts';
import type { Store } from '../store/store.ts';
import { intakeLogs, intakeSpans } from './intake.ts';
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

interface SealedBatch {
  token: string;
  chainId: string;
  firstSeq: number;
  lastSeq: number;
  headHash: string;
  body: string;
  eventIds: string[];
  durable: Promise<void>;
}

interface IntakeRecord {
  t: 'intake';
  nodes: SpanNode[];
  events: PendingEvent[];
  content: Array<[string, string, ContentPiece[]]>;
}
interface SnapshotRecord {
  t: 'snapshot';
  nodes: SpanNode[];
  pending: PendingEvent[];
  content: Array<[string, string, ContentPiece[]]>;
  unstored: Array<Omit<SealedBatch, 'durable' | 'eventIds'>>;
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

  /** Resolves once the spans' events are durable (in the write-ahead log). */
  async ingestSpans(spans: TelemetrySpan[], tenant?: string): Promise<IngestResult> {
    const now = Date.now();
    const intake = intakeSpans(spans, this.privacy, {
      tenant,
      defaultRisk: this.config.defaultRisk,
      now,
      ingestTime: nanosToDateTime64(nowNanos()),
    });
    this.m.spansReceived.inc(spans.length);
    this.m.spansDropped.inc(intake.dropped);
    const record: IntakeRecord = { t: 'intake', nodes: intake.nodes, events: intake.events, content: [] };
    const durable = this.wal.append(JSON.stringify(record));
    // State changes now (not after the fsync) so that a concurrent compaction snapshot covers it.
    for (const node of intake.nodes) this.correlator.addSpan(node, null, now);
    for (const ev of intake.events) this.correlator.addSpan(ev.node, ev, now);
    await durable;
    return { accepted: intake.events.length, dropped: intake.dropped };
  }

  async ingestLogs(logs: TelemetryLog[]): Promise<IngestResult> {
    const now = Date.now();
    const intake = intakeLogs(logs, this.privacy);
    this.m.logsReceived.inc(logs.length);
    this.m.logsDropped.inc(intake.dropped);
    if (intake.content.length === 0) return { accepted: 0, dropped: intake.dropped };
    const record: IntakeRecord = { t: 'intake', nodes: [], events: [], content: intake.content };
    const durable = this.wal.append(JSON.stringify(record));
    for (const [traceId, spanId, pieces] of intake.content) this.correlator.addContent(traceId, spanId, pieces, now);
    await durable;
    return { accepted: intake.content.length, dropped: intake.dropped };
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
    const record: SnapshotRecord = {
      t: 'snapshot',
      ...snap,
      unstored: this.unstored.map(({ durable: _d, eventIds: _e, ...rest }) => rest),
    };
    this.wal
      .compact(JSON.stringify(record))
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
      const first = events[0];
      const last = events[events.length - 1];
      const body = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
      const batch: Omit<SealedBatch, 'durable' | 'eventIds'> = {
        token: `${this.config.chainId}:${first.seq}-${last.seq}`,
        chainId: this.config.chainId,
        firstSeq: first.seq,
        lastSeq: last.seq,
        headHash: last.hash,
        body,
      };
      const durable = this.wal.append(sealedPayload(batch));
      this.unstored.push({ ...batch, eventIds: events.map((e) => e.event_id), durable });
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
          await this.store.insertJsonEachRow('events', batch.body, batch.token);
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
      this.wal.append(JSON.stringify({ t: 'stored', token: batch.token })).catch(() => {});
    }
  }

  /** Rebuilds the state the write-ahead log holds: re-inserts sealed batches, re-queues pending events. */
  private async recover(records: string[]): Promise<void> {
    const nodes = new Map<string, SpanNode>();
    const pending = new Map<string, PendingEvent>();
    const content: Array<[string, string, ContentPiece[]]> = [];
    const sealed = new Map<string, Omit<SealedBatch, 'durable'>>();
    const sealedIds = new Set<string>();
    const addSealed = (b: Omit<SealedBatch, 'durable' | 'eventIds'>) => {
      const eventIds = b.body
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { event_id: string }).event_id);
      for (const id of eventIds) sealedIds.add(id);
      sealed.set(b.token, { ...b, eventIds });
    };
    for (const raw of records) {
      if (raw.startsWith('{"t":"sealed"')) {
        const nl = raw.indexOf('\n');
        addSealed({ ...JSON.parse(raw.slice(0, nl)), body: raw.slice(nl + 1) });
        continue;
      }
      const r = JSON.parse(raw) as IntakeRecord | SnapshotRecord | { t: 'stored'; token: string };
      if (r.t === 'stored') sealed.delete(r.token);
      else if (r.t === 'intake' || r.t === 'snapshot') {
        for (const n of r.nodes) nodes.set(`${n.traceId}/${n.spanId}`, n);
        for (const e of r.t === 'intake' ? r.events : r.pending) pending.set(e.event.event_id, e);
        content.push(...r.content);
        if (r.t === 'snapshot') for (const b of r.unstored) addSealed(b);
      }
    }
    if (records.length === 0) return;
    const now = Date.now();
    // Sealed but unconfirmed batches go first, with their original tokens: ClickHouse drops
    // the ones it already has.
    for (const b of sealed.values()) {
      this.chain.advanceTo({ seq: b.lastSeq, hash: b.headHash });
      for (const id of b.eventIds) this.recent.add(id);
      this.unstored.push({ ...b, durable: Promise.resolve() });
    }
    let replayed = 0;
    for (const n of nodes.values()) this.correlator.addSpan(n, null, now);
    for (const e of pending.values()) {
      if (sealedIds.has(e.event.event_id)) continue;
      this.correlator.addSpan(e.node, e, now);
      replayed++;
    }
    for (const [traceId, spanId, pieces] of content) this.correlator.addContent(traceId, spanId, pieces, now);
    this.m.eventsReplayed.inc(replayed + [...sealed.values()].reduce((n, b) => n + b.eventIds.length, 0));
    this.log.info('recovered from the write-ahead log', { records: records.length, pending: replayed, unstored_batches: sealed.size });
    this.kickInserts();
    await this.waitStored();
    this.compact();
  }
}

function sealedPayload(b: Omit<SealedBatch, 'durable' | 'eventIds'>): string {
  const { body, ...header } = b;
  return JSON.stringify({ t: 'sealed', ...header }) + '\n' + body;
}

async function storedHead(store: Store, chainId: string): Promise<ChainHead | null> {
  const rows = await store.rows<{ seq: string; hash: string }>(
    `SELECT seq, hash FROM ${store.database}.events WHERE chain_id = {chain:String} ORDER BY seq DESC LIMIT 1`,
    { chain: chainId },
  );
  return rows.length ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
}
