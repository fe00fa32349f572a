import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff, retry, type BackoffOptions, type RetryOptions } from '../internal/retry.ts';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import { EVENT_COLUMNS } from '../store/schema.ts';
import type { RowWriter } from '../store/rowbinary.ts';
import type { Store } from '../store/store.ts';
import { decodeRecord, encodeRecord, isSnapshot, recordParts, type ChainedHeader, type RecordHeader } from './records.ts';
import { ROW_CHUNK_BYTES, RowBuffers } from './row-buffers.ts';
import type { WalRecord, WalRef, WriteAheadLog } from './wal.ts';

/** The spool's limits (`serve --spool-budget`, `--spool-memory`). */
export interface SpoolConfig {
  /** Disk budget of the write-ahead log; past it the spool is full (receivers answer 503). */
  budgetBytes: number;
  /** Chained rows waiting for ClickHouse kept in memory; the others are read back from the log. */
  memoryBytes: number;
}

export class SpoolConfigError extends Error {
  readonly code = 'SPOOL_CONFIG';
}

/** Validates the limits; throws SpoolConfigError naming the field. */
export function checkSpoolConfig(c: SpoolConfig): SpoolConfig {
  if (!(Number.isSafeInteger(c.budgetBytes) && c.budgetBytes >= 1)) {
    throw new SpoolConfigError(`spool budget must be a positive number of bytes, got ${c.budgetBytes}`);
  }
  if (!(Number.isSafeInteger(c.memoryBytes) && c.memoryBytes >= 0)) {
    throw new SpoolConfigError(`spool memory must be 0 or more bytes, got ${c.memoryBytes}`);
  }
  return c;
}

/**
 * Retries (internal/retry.ts). Inserts and log appends back off up to 5 s, so that the spool
 * drains soon after ClickHouse or the disk is back; a record moved by a compaction is read
 * again every 100 ms for up to 5 s.
 */
const INSERT_RETRY: BackoffOptions = { initialMs: 100, maxMs: 5_000 };
const WAL_RETRY: BackoffOptions = { initialMs: 100, maxMs: 5_000 };
const LOAD_RETRY: RetryOptions = { initialMs: 100, maxMs: 100, jitter: 0, maxAttempts: 51 };

/**
 * A chained batch waiting for ClickHouse. Its ids, hashes and rows stay in memory up to
 * `memoryBytes` in all; past that, the newest batches keep only their place in the log
 * (`ref`) and are read back when their turn comes.
 */
interface ChainedBatch {
  token: string;
  chainId: string;
  firstSeq: number;
  lastSeq: number;
  headHash: string;
  events: number;
  rowBytes: number;
  /** Its rows as chunks (one buffer when read back from the log). */
  full: { header: ChainedHeader; rows: readonly Buffer[] } | null;
  /** Where the log holds the batch, once written. */
  ref: WalRef | null;
  /** Settles after the first attempt to log the batch (inserts wait for it, not for its success). */
  logged: Promise<void>;
  /** Its log record, framed (on a worker when the hook frames) until it is logged. */
  framed: Promise<Buffer> | null;
  stored: boolean;
}

/** A batch ClickHouse confirmed, in seq order per chain. */
export interface StoredBatch {
  chainId: string;
  firstSeq: number;
  lastSeq: number;
  hashes: string[];
}

export interface SpoolHooks {
  /** Each confirmed batch, in order (checkpoints cover confirmed events only). Cheap; never throws. */
  onStored(b: StoredBatch): void;
  /** A log write failed (the caller refuses requests for a moment). */
  onWalError(err: Error): void;
  /**
   * Frames a record with the log's key on another thread (wal.ts frame; the intake workers):
   * encrypting a chained batch is the largest single cost left on the main thread otherwise.
   * Without it, or when it fails, the log frames on this thread.
   */
  frame?(parts: readonly Uint8Array[]): Promise<Buffer>;
}

/** What a restart found in the log: the unconfirmed batches (queued again) and their events. */
export interface SpoolRecovery {
  /** Events already chained: their requests' replays must skip them. */
  chainedIds: Set<string>;
  /** The newest chained position of each chain found in the log. */
  heads: Map<string, { seq: number; hash: string }>;
  batches: number;
  records: number;
}

/**
 * The spool (README.md): chained batches between the hash chain and ClickHouse. It logs each
 * batch (in chain order, retrying), inserts them one at a time in order (retrying with backoff
 * until ClickHouse takes them), keeps their rows in memory up to a budget, compacts the log,
 * and after a crash queues again what the log holds unconfirmed. It also logs the requests the
 * pipeline hands it. ClickHouse drops a re-inserted batch by its token, so a replay stores
 * nothing twice.
 */
export class Spool {
  readonly config: SpoolConfig;
  private readonly wal: WriteAheadLog;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly hooks: SpoolHooks;
  private unstored: ChainedBatch[] = [];
  /** Chained batches waiting to be logged, in chain order (see add). */
  private unlogged: Array<{ batch: ChainedBatch; attempted: () => void }> = [];
  private pumping: Promise<void> | null = null;
  /** Batches of the round the pump is framing or writing now. */
  private loggingNow = 0;
  private insertLoop: Promise<void> | null = null;
  private compacting = false;
  private closed = false;
  /** Aborted by close(): stops the insert loop's backoff at once. */
  private readonly stopping = new AbortController();
  private lastCompactAt = 0;
  /** Why the last insert failed; '' once one succeeds. */
  lastInsertError = '';
  /** Rows bytes and events of the unstored batches, and of those held in memory. */
  spooledBytes = 0;
  spooledEvents = 0;
  memoryBytes = 0;
  memoryEvents = 0;
  private readonly buffers: RowBuffers;
  private readonly m;

  constructor(wal: WriteAheadLog, store: Store, config: SpoolConfig, log: Logger, metrics: Metrics, hooks: SpoolHooks) {
    this.config = checkSpoolConfig(config);
    this.wal = wal;
    this.store = store;
    this.log = log;
    this.hooks = hooks;
    // Shared when another thread frames the records; up to half the memory budget kept for reuse.
    this.buffers = new RowBuffers(hooks.frame !== undefined, Math.min(this.config.memoryBytes / 2, 32 * 1024 ** 2));
    this.m = {
      eventsStored: metrics.counter('otel_audit_events_stored_total', 'Audit events written to ClickHouse'),
      insertErrors: metrics.counter('otel_audit_insert_errors_total', 'Failed ClickHouse inserts (retried)'),
    };
    metrics.gauge('otel_audit_wal_bytes', 'Bytes in the write-ahead log', () => this.wal.bytes);
    metrics.gauge('otel_audit_wal_queued_bytes', 'Bytes waiting for the next write-ahead log write and fsync', () => this.wal.queuedBytes);
    metrics.gauge('otel_audit_events_unstored', 'Chained events not yet confirmed by ClickHouse (= otel_audit_spooled_events)', () => this.spooledEvents);
    metrics.gauge('otel_audit_spooled_events', 'Chained events in the write-ahead log waiting for ClickHouse', () => this.spooledEvents);
    metrics.gauge('otel_audit_spool_unlogged_batches', 'Chained batches being framed or written to the write-ahead log (not yet durable there)', () => this.unlogged.length + this.loggingNow);
    metrics.gauge('otel_audit_spooled_bytes', 'Bytes of chained rows in the write-ahead log waiting for ClickHouse', () => this.spooledBytes);
    metrics.gauge('otel_audit_spool_memory_bytes', 'Bytes of the spooled rows also held in memory (kept under 64 MiB; the rest is read back from the log)', () => this.memoryBytes);
    metrics.gauge('otel_audit_spool_budget_bytes', 'Disk budget of the write-ahead log (--spool-budget)', () => this.config.budgetBytes);
    metrics.gauge('otel_audit_spool_full', '1 while the write-ahead log is over its budget (receivers answer 503)', () => (this.full ? 1 : 0));
  }

  /** Whether the log is over its disk budget. */
  get full(): boolean {
    return this.wal.bytes >= this.config.budgetBytes;
  }

  get walBytes(): number {
    return this.wal.bytes;
  }

  /** Bytes appended to the log and not yet written and fsynced. */
  get walQueuedBytes(): number {
    return this.wal.queuedBytes;
  }

  /** Resolves once no more than `bytes` wait to be written to the log. */
  walQueuedAtMost(bytes: number): Promise<void> {
    return this.wal.queuedAtMost(bytes);
  }

  /** Chained batches not yet confirmed by ClickHouse. */
  get unstoredBatches(): number {
    return this.unstored.length;
  }

  /** Nothing chained is waiting for ClickHouse. */
  get idle(): boolean {
    return this.unstored.length === 0;
  }

  /**
   * Whether a compaction is due: a segment's worth appended (a quarter of the budget at most),
   * or the log over budget with something to reclaim (stored batches, requests whose events
   * are chained), at most once a second.
   */
  compactionDue(now: number): boolean {
    if (this.compacting) return false;
    const budget = this.config.budgetBytes;
    const every = Math.min(this.wal.options.segmentBytes, Math.max(budget / 4, 64 * 1024));
    const reclaim = this.wal.bytes >= budget && this.wal.bytes > this.spooledBytes * 1.25 && now - this.lastCompactAt > 1000;
    return this.wal.appendedBytes > every || reclaim;
  }

  /** Appends a record (a request) to the log, encrypted; resolves once it is durable. */
  append(header: object, data?: Buffer): Promise<WalRef> {
    return this.wal.append(encodeRecord(header, data));
  }

  /** Appends a record framed elsewhere (a request framed on an intake worker, wal.ts frame). */
  appendFramed(framed: Buffer): Promise<WalRef> {
    return this.wal.appendFramed(framed);
  }

  /**
   * Memory for a batch's `n` bytes of rows, as chunks (reused; shared with the framing thread
   * when there is one): `add` takes them back once the batch no longer needs them.
   */
  rowChunks(n: number): Buffer[] {
    return this.buffers.take(n);
  }

  /**
   * Moves rows written to `w` into row chunks appended to `rows`: each chunk once it is full,
   * and with `all` the rest too. A writer drained as it goes stays about a chunk long, whatever
   * the batch (a whole batch grew it to a 32 MiB buffer kept for good).
   */
  moveRows(w: RowWriter, rows: Buffer[], all = false): void {
    while (w.pos >= ROW_CHUNK_BYTES) {
      const [chunk] = this.buffers.take(ROW_CHUNK_BYTES);
      w.spillTo(chunk);
      rows.push(chunk);
    }
    if (all && (w.pos > 0 || rows.length === 0)) {
      const rest = this.buffers.take(w.pos);
      w.moveTo(rest);
      rows.push(...rest);
    }
  }

  /**
   * Takes a chained batch: logs it, in chain order, and queues it for ClickHouse. The spool
   * keeps `rows` as given (no copy); rows in `rowChunks` are read by the thread that frames the
   * log record without a copy too, and reused after the batch.
   */
  add(header: ChainedHeader, rowBytes: Buffer | readonly Buffer[]): void {
    const rows = Buffer.isBuffer(rowBytes) ? [rowBytes] : rowBytes;
    const size = rows.reduce((n, c) => n + c.length, 0);
    const record = recordParts(header, rows);
    const batch: ChainedBatch = {
      framed: this.frameOf(record),
      token: header.token,
      chainId: header.chainId,
      firstSeq: header.firstSeq,
      lastSeq: header.lastSeq,
      headHash: header.headHash,
      events: header.eventIds.length,
      rowBytes: size,
      full: { header, rows },
      ref: null,
      logged: Promise.resolve(),
      stored: false,
    };
    batch.logged = this.logBatch(batch);
    this.unstored.push(batch);
    this.spooledBytes += size;
    this.spooledEvents += batch.events;
    this.memoryBytes += size;
    this.memoryEvents += batch.events;
  }

  /** Starts inserting what is queued (after add, or after recover). */
  kick(onIdle?: () => void): void {
    if (this.insertLoop || this.closed) return;
    this.insertLoop = this.runInserts(onIdle).finally(() => {
      this.insertLoop = null;
      if (this.unstored.length > 0 && !this.closed) this.kick(onIdle);
    });
  }

  /** Waits until every chained batch is confirmed by ClickHouse. */
  async waitStored(): Promise<void> {
    while (this.insertLoop) await this.insertLoop;
  }

  /**
   * Logging of chained batches, in rounds: everything waiting goes into the log's next group
   * commit at once, and the next round starts when that one is settled. A failed write fails
   * everything queued behind it (wal.ts), and the failed batches are retried first: a batch is
   * never durable while an earlier one is not, so a replay finds no hole in the chain. Resolves
   * after the first attempt; retries go on in the background (inserts need not wait for them).
   */
  private logBatch(batch: ChainedBatch): Promise<void> {
    let attempted!: () => void;
    const done = new Promise<void>((resolve) => (attempted = resolve));
    this.unlogged.push({ batch, attempted });
    this.pump();
    return done;
  }

  /**
   * Starts logging what is waiting, unless a round is under way. A batch added after the loop
   * saw the queue empty, but before the loop's promise settled, is taken by a new loop.
   */
  private pump(): void {
    this.pumping ??= this.pumpBatches().finally(() => {
      this.pumping = null;
      if (this.unlogged.length > 0) this.pump();
    });
  }

  private async pumpBatches(): Promise<void> {
    const backoff = new Backoff(WAL_RETRY);
    while (this.unlogged.length > 0) {
      const round = this.unlogged.splice(0);
      const live = round.filter((i) => !i.batch.stored);
      for (const i of round) if (i.batch.stored) i.attempted();
      // Encrypted too, although they hold only what ClickHouse stores: with a ClickHouse server,
      // the bridge's disk would otherwise hold content that lives only on the server's.
      // Framed elsewhere in parallel (since add), appended here in chain order.
      this.loggingNow = live.length;
      const frames = await Promise.all(live.map((i) => i.batch.framed!));
      const results = await Promise.allSettled(frames.map((f) => this.wal.appendFramed(f)));
      this.loggingNow = 0;
      const failedAt = results.findIndex((r) => r.status === 'rejected');
      const ok = failedAt === -1 ? live.length : failedAt;
      for (let k = 0; k < ok; k++) {
        live[k].batch.ref = (results[k] as PromiseFulfilledResult<WalRef>).value;
        live[k].batch.framed = null;
        live[k].attempted();
      }
      if (failedAt === -1) {
        backoff.reset();
        continue;
      }
      this.hooks.onWalError((results[failedAt] as PromiseRejectedResult).reason as Error);
      const again = live.slice(failedAt);
      for (const i of again) i.attempted();
      if (this.closed) return;
      this.unlogged.unshift(...again);
      await sleep(backoff.next());
    }
  }

  /** A record framed by the hook, or here if there is none or it fails. Never rejects. */
  private async frameOf(record: readonly Uint8Array[]): Promise<Buffer> {
    if (this.hooks.frame) {
      try {
        return await this.hooks.frame(record);
      } catch {
        // framed here below
      }
    }
    return this.wal.frame(record);
  }

  /** In order, one batch at a time, retried with backoff until ClickHouse takes it. */
  private async runInserts(onIdle?: () => void): Promise<void> {
    while (this.unstored.length > 0 && !this.closed) {
      const batch = this.unstored[0];
      await batch.logged;
      let full: { header: ChainedHeader; rows: readonly Buffer[] };
      try {
        full = await retry(
          async () => {
            const f = await this.load(batch);
            await this.store.insertRowBinary('events', EVENT_COLUMNS, f.rows, batch.token);
            return f;
          },
          {
            ...INSERT_RETRY,
            signal: this.stopping.signal,
            onRetry: (err, delayMs) => {
              this.m.insertErrors.inc();
              this.lastInsertError = (err as Error).message;
              this.log.warn('ClickHouse insert failed; will retry', { token: batch.token, error: this.lastInsertError, retry_ms: delayMs });
            },
          },
        );
      } catch {
        return; // closed (its timeout passed): the batch stays in the log for the next start
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
        // Inserted, and framed before that (inserts wait for the log): no one reads the rows now.
        this.buffers.give(batch.full.rows);
        batch.full = null;
      }
      this.m.eventsStored.inc(batch.events);
      this.hooks.onStored({ chainId: batch.chainId, firstSeq: batch.firstSeq, lastSeq: batch.lastSeq, hashes: full.header.hashes });
      this.wal.append(JSON.stringify({ t: 'stored', token: batch.token })).catch(() => {});
      // ClickHouse is free: what was decided meanwhile can go now, as one batch.
      if (this.unstored.length === 0) onIdle?.();
    }
  }

  /**
   * Reads a record back from the log (a request whose events a lost worker held), retrying
   * while a compaction moves it.
   */
  readRecord(ref: WalRef): Promise<{ header: RecordHeader; body?: Buffer }> {
    return retry(async () => decodeRecord(await this.wal.read(ref)), {
      ...LOAD_RETRY,
      classify: (err) => ({ retry: (err as NodeJS.ErrnoException).code === 'ENOENT' }),
    });
  }

  /** The batch's header and rows, from memory or read back from the log. */
  private async load(b: ChainedBatch): Promise<{ header: ChainedHeader; rows: readonly Buffer[] }> {
    return retry(
      async () => {
        if (b.full) return b.full;
        const { header, body } = decodeRecord(await this.wal.read(b.ref!));
        return { header: header as unknown as ChainedHeader, rows: [body!] };
      },
      {
        ...LOAD_RETRY,
        // A compaction may have moved the record meanwhile: its ref is updated when it is done.
        classify: (err) => ({ retry: (err as NodeJS.ErrnoException).code === 'ENOENT' }),
      },
    );
  }

  /** Drops rows from memory, newest batches first, past memoryBytes (they are in the log). */
  evict(): void {
    if (this.memoryBytes <= this.config.memoryBytes) return;
    for (let i = this.unstored.length - 1; i > 0 && this.memoryBytes > this.config.memoryBytes; i--) {
      const b = this.unstored[i];
      if (!b.full || !b.ref) continue;
      this.buffers.give(b.full.rows); // logged, so framed: no one reads the rows now
      b.full = null;
      this.memoryBytes -= b.rowBytes;
      this.memoryEvents -= b.events;
    }
  }

  /**
   * Compacts the log: the caller's snapshot record (what is pending upstream), the caller's
   * `records` still needed (requests whose events are held on intake workers; a promise for
   * one not written yet, null if it never is), then the unconfirmed batches. Batches already in the log are copied from it as they are, a few MiB
   * at a time (their refs move to the new segment); only those not yet logged are written from
   * memory. A compaction thus costs little memory, however large the spool.
   */
  compact(snapshot: object, records: ReadonlyArray<WalRef | Promise<WalRef | null>> = []): void {
    if (this.compacting) return;
    this.compacting = true;
    this.lastCompactAt = Date.now();
    const batches = [...this.unstored];
    // Batches not logged yet are carried as the frames being made for them (no second framing),
    // and the snapshot is framed like them: the log keeps the rotation's place in its queue.
    const carried = batches.map((b) => b.ref ?? (b.framed ? { framed: b.framed } : Buffer.concat(recordParts(b.full!.header, b.full!.rows))));
    this.wal
      .compact({ framed: this.frameOf([encodeRecord(snapshot)]) }, [...records, ...carried])
      .then((refs) => batches.forEach((b, i) => (b.ref = refs[records.length + i])))
      .catch((err) => this.log.error('write-ahead log compaction failed', { error: (err as Error).message }))
      .finally(() => {
        this.compacting = false;
      });
  }

  /**
   * Pass 1 of a restart: queues again the chained batches the log holds unconfirmed, in chain
   * order with their original tokens (ClickHouse drops the ones it already has). Their rows
   * are not read now: they are read back when their insert comes.
   */
  recover(records: () => Generator<WalRecord>): SpoolRecovery {
    const chained = new Map<string, ChainedBatch & { header: ChainedHeader }>();
    let count = 0;
    for (const { payload, ref } of records()) {
      count++;
      if (isSnapshot(payload)) continue;
      const { header, body } = decodeRecord(payload);
      if (header.t === 'sealed') { // the record's tag on disk (kept: logs written before read the same)
        const h = header as unknown as ChainedHeader;
        chained.set(h.token, {
          token: h.token,
          chainId: h.chainId,
          firstSeq: h.firstSeq,
          lastSeq: h.lastSeq,
          headHash: h.headHash,
          events: h.eventIds.length,
          rowBytes: body!.length,
          full: null,
          ref,
          framed: null,
          logged: Promise.resolve(),
          stored: false,
          header: h,
        });
      } else if (header.t === 'stored') {
        chained.delete(header.token as string);
      }
    }
    const out: SpoolRecovery = { chainedIds: new Set(), heads: new Map(), batches: chained.size, records: count };
    const batches = [...chained.values()].sort((a, b) => (a.chainId === b.chainId ? a.firstSeq - b.firstSeq : a.chainId < b.chainId ? -1 : 1));
    for (const { header: h, ...b } of batches) {
      for (const id of h.eventIds) out.chainedIds.add(id);
      const head = out.heads.get(b.chainId);
      if (!head || b.lastSeq > head.seq) out.heads.set(b.chainId, { seq: b.lastSeq, hash: b.headHash });
      this.unstored.push(b);
      this.spooledBytes += b.rowBytes;
      this.spooledEvents += b.events;
    }
    return out;
  }

  /**
   * Stops: waits for the chained batches' log writes (every chained batch is durable or stored
   * before the log closes: the chain has no hole), stops the insert loop, closes the log.
   * Batches ClickHouse has not taken stay in the log for the next start.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.stopping.abort(new Error('the spool is closed'));
    while (this.pumping) await this.pumping;
    await this.insertLoop?.catch(() => {});
    await this.wal.close();
  }
}
