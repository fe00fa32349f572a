/**
 * The checkpointer: every N stored events or T seconds, signs the chain head and the RFC 6962
 * Merkle root over the event hashes, and writes the checkpoint to the external anchor (first)
 * and to the `checkpoints` table.
 *
 * Cheap on the hot path: it keeps a MerkleAccumulator (O(log n) hashes) fed in seq order with
 * the batches ClickHouse has CONFIRMED (the pipeline calls stored() after each successful insert),
 * so a checkpoint only ever covers events that are in ClickHouse. Each anchor record carries the
 * accumulator state, so a restart resumes from the newest anchor and reads back from ClickHouse
 * only the events stored after it.
 *
 * It refuses to sign (and logs an error; `status().halted` says why) when the stored chain does
 * not extend its newest anchor: signing over a truncated or forked log would launder it.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../internal/logger.ts';
import { chainRows, checkpointRows, insertCheckpoint, newestCheckpointSize, storedChainHead } from '../store/chain-queries.ts';
import type { Store } from '../store/store.ts';
import { ANCHOR_FORMAT, anchorRecordErrors, type AnchorRecord } from './anchor.ts';
import type { AnchorSpec } from './anchors/config.ts';
import { AnchorConflictError, AnchorSet } from './anchors/set.ts';
import { GENESIS_HASH } from './canonical.ts';
import { loadOrCreateSigningKey, signCheckpoint, type Checkpoint, type SigningKey } from './checkpoint.ts';
import { appendEventHashes, consistencyProofHex, type AppendedLeaves } from './leaves.ts';
import { MerkleAccumulator, type MerkleAccumulatorState } from './merkle.ts';

/**
 * The checkpointer's long Merkle work run elsewhere, on an intake worker (`IntakePool`): the
 * pure functions of leaves.ts. Either may reject; the checkpointer then does the work itself.
 */
export interface MerkleWorker {
  appendLeaves(state: MerkleAccumulatorState, hashes: string[], keepLeaves: boolean): Promise<AppendedLeaves>;
  consistencyProof(old: MerkleAccumulatorState, leaves: Uint8Array): Promise<string[]>;
}

/** Leaf hashes in the runs they were appended in, 32 bytes a leaf. */
interface LeafRuns {
  runs: Uint8Array[];
  count: number;
}

/** Runs of fewer event hashes (or leaves) are hashed here: a worker's round trip costs more than they do. */
const OFFLOAD_MIN_HASHES = 256;

export interface CheckpointConfig {
  /** Checkpoint once this many events were stored since the last one. */
  everyEvents: number;
  /** ... or once this much time passed with new events. */
  intervalMs: number;
  /** The anchors (anchors/config.ts: `serve --anchor`); bridge config always sets them. */
  anchors?: AnchorSpec[];
  /** Without `anchors`: one directory anchor, <anchorDir>/<chain_id>/<tree_size>.json (tests, bench). */
  anchorDir?: string;
  /** PKCS#8 PEM Ed25519 key file; default <dataDir>/keys/signing-key.pem (created on first start). */
  signingKeyFile?: string;
  /** The key itself (OTEL_AUDIT_SIGNING_KEY); wins over the file. */
  signingKeyPem?: string;
}

export const DEFAULT_CHECKPOINT_EVERY_EVENTS = 10_000;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 60_000;

/** Leaves kept for the next consistency proof; past this the anchor record goes without one. */
const MAX_PENDING_LEAVES = 1_000_000;
/** Leaves appended per turn of the event loop. */
const APPEND_SLICE = 2048;

/** What the pipeline calls after each confirmed insert. */
export type StoredHook = (firstSeq: number, lastSeq: number, hashes: string[]) => void;

export interface CheckpointerStatus {
  chain_id: string;
  key_id: string;
  /** The local directory anchor, if any. */
  anchor_dir: string | null;
  /** Every anchor, by URL. */
  anchors: string[];
  /** Records an anchor failed to take, waiting for the next try. */
  anchor_backlog: number;
  /** Events covered by the accumulator (confirmed stored). */
  stored_seq: number;
  latest_checkpoint: { tree_size: number; root_hash: string; created_at: string } | null;
  /** Set when the checkpointer refuses to sign; says why. */
  halted: string | null;
}

export class Checkpointer {
  readonly chainId: string;
  readonly key: SigningKey;
  readonly anchors: AnchorSet;
  private readonly store: Store;
  private readonly config: CheckpointConfig;
  private readonly log: Logger;
  private acc = new MerkleAccumulator();
  private head = { seq: 0, hash: GENESIS_HASH };
  private last: AnchorRecord | null = null;
  /**
   * Leaf hashes since the last checkpoint, for its consistency proof: the runs as they came
   * (32 bytes a leaf; one view per run, not one object per leaf), and how many; null once too many.
   */
  private sinceLast: LeafRuns | null = { runs: [], count: 0 };
  /** Checkpoints anchored but not yet in the table (the insert failed); retried. */
  private tableBacklog: Checkpoint[] = [];
  /** Dedup-token suffix for re-inserts of checkpoints the table lost (healTable). */
  private healToken = '';
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private halted: string | null = null;
  private closed = false;
  /** Where long runs of leaves and long proofs are hashed (`start`'s `merkle`); here when null or when it fails. */
  private merkle: MerkleWorker | null = null;

  private constructor(store: Store, chainId: string, key: SigningKey, config: CheckpointConfig, anchors: AnchorSet, log: Logger) {
    this.store = store;
    this.chainId = chainId;
    this.key = key;
    this.config = config;
    this.log = log;
    this.anchors = anchors;
  }

  /**
   * Loads the key, resumes from the newest anchor and catches up with what ClickHouse holds.
   * Call after the pipeline recovered its write-ahead log; `attach` receives the hook for
   * `pipeline.stored`.
   */
  static async start(
    store: Store,
    opts: CheckpointConfig & { chainId: string; dataDir: string },
    log: Logger,
    attach?: (hook: StoredHook) => void,
    merkle?: MerkleWorker | null,
  ): Promise<Checkpointer> {
    const key = loadOrCreateSigningKey({ keyFile: opts.signingKeyFile, envPem: opts.signingKeyPem, dataDir: opts.dataDir });
    if (key.created) log.info('created a checkpoint signing key', { key_id: key.keyId, data_dir: opts.dataDir });
    const specs: AnchorSpec[] = opts.anchors ?? [{ kind: 'file', url: pathToFileURL(opts.anchorDir ?? '').href, dir: opts.anchorDir ?? '', external: false }];
    if (!opts.anchors && !opts.anchorDir) throw new Error('Checkpointer: no anchors configured');
    const cp = new Checkpointer(store, opts.chainId, key, opts, await AnchorSet.open(specs, log), log);
    cp.merkle = merkle ?? null;
    // Attached before resuming: batches confirmed meanwhile queue up behind the catch-up.
    attach?.((first, last, hashes) => cp.stored(first, last, hashes));
    await cp.enqueue(() => cp.resume());
    if (cp.config.intervalMs > 0) {
      cp.timer = setInterval(() => {
        cp.enqueue(() => cp.maybeCheckpoint(1)).catch(() => {});
      }, cp.config.intervalMs);
      cp.timer.unref();
    }
    return cp;
  }

  /**
   * Hot path hook, called by the pipeline in seq order once ClickHouse confirmed a batch.
   * `hashes` are the batch's event hashes in seq order.
   */
  stored(firstSeq: number, lastSeq: number, hashes: string[]): void {
    if (this.closed) return;
    this.enqueue(async () => {
      if (this.halted || lastSeq <= this.acc.size) return;
      if (firstSeq > this.acc.size + 1) await this.catchUp(firstSeq - 1);
      if (hashes.length !== lastSeq - firstSeq + 1) {
        // Should not happen; the store is the truth, so read it back from there.
        this.log.warn('checkpointer: batch does not match its seq range; reading it back from ClickHouse', { first_seq: firstSeq, last_seq: lastSeq });
        await this.catchUp(lastSeq);
      } else {
        await this.appendHashes(hashes.slice(this.acc.size + 1 - firstSeq), lastSeq);
      }
      await this.maybeCheckpoint(this.config.everyEvents);
    }).catch((err) => this.log.error('checkpointer failed', { error: (err as Error).message }));
  }

  /** Writes a checkpoint now if events were stored since the last one; returns the newest checkpoint. */
  async checkpointNow(): Promise<Checkpoint | null> {
    await this.enqueue(() => this.maybeCheckpoint(1));
    return this.last?.checkpoint ?? null;
  }

  /** The newest anchored checkpoint. */
  get latest(): AnchorRecord | null {
    return this.last;
  }

  status(): CheckpointerStatus {
    const c = this.last?.checkpoint;
    return {
      chain_id: this.chainId,
      key_id: this.key.keyId,
      anchor_dir: this.anchors.localDir,
      anchors: this.anchors.sinks.map((s) => s.url),
      anchor_backlog: this.anchors.pending,
      stored_seq: this.acc.size,
      latest_checkpoint: c ? { tree_size: c.tree_size, root_hash: c.root_hash, created_at: c.created_at } : null,
      halted: this.halted,
    };
  }

  /** Final checkpoint over everything stored; call after the pipeline closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.enqueue(() => this.maybeCheckpoint(1)).catch((err) =>
      this.log.error('final checkpoint failed', { error: (err as Error).message }),
    );
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => {});
    return run;
  }

  private halt(reason: string): void {
    this.halted = reason;
    this.log.error('checkpointer halted: no new checkpoints will be signed', { chain_id: this.chainId, reason });
  }

  private async resume(): Promise<void> {
    let latest: AnchorRecord | null;
    try {
      latest = await this.anchors.resumePoint(this.chainId);
    } catch (err) {
      if (!(err instanceof AnchorConflictError)) throw err;
      this.halt(err.message);
      return;
    }
    if (latest) {
      const errors = anchorRecordErrors(latest);
      if (errors.length) {
        this.halt(`the newest anchor (tree size ${latest.checkpoint?.tree_size}) is unusable: ${errors.join('; ')}`);
        return;
      }
      if (latest.checkpoint.key_id !== this.key.keyId) {
        this.log.warn('the newest anchor was signed by another key (key rotation?)', { anchor_key_id: latest.checkpoint.key_id, key_id: this.key.keyId });
      }
      this.last = latest;
      this.acc = MerkleAccumulator.fromJSON(latest.accumulator);
      this.head = { seq: latest.checkpoint.head_seq, hash: latest.checkpoint.head_hash };
    }
    const stored = await storedChainHead(this.store, this.chainId);
    const storedSeq = stored?.seq ?? 0;
    if (storedSeq < this.acc.size) {
      this.halt(
        `ClickHouse holds ${storedSeq} events of chain ${this.chainId} but checkpoint ${this.acc.size} is anchored: ` +
          'the newest events were removed or the store was replaced. Run "otel-audit verify".',
      );
      return;
    }
    if (stored && storedSeq === this.acc.size && this.last && stored.hash !== this.last.checkpoint.head_hash) {
      this.halt(`the stored event ${storedSeq} does not match the anchored head hash: run "otel-audit verify".`);
      return;
    }
    const t0 = Date.now();
    const from = this.acc.size;
    await this.catchUp(storedSeq);
    if (this.halted) return;
    await this.anchors.heal(this.chainId, this.key.publicKey);
    await this.healTable();
    this.log.info('checkpointer ready', {
      chain_id: this.chainId,
      key_id: this.key.keyId,
      anchored_tree_size: this.last?.checkpoint.tree_size ?? 0,
      caught_up_events: this.acc.size - from,
      catch_up_ms: Date.now() - t0,
    });
  }

  /** Reads events (acc.size, toSeq] back from ClickHouse, checking seq continuity and links. */
  private async catchUp(toSeq: number): Promise<void> {
    if (this.halted || toSeq <= this.acc.size) return;
    let hashes: string[] = [];
    let expect = this.acc.size + 1;
    let prev = this.head.hash;
    for await (const r of chainRows<{ seq: string; prev_hash: string; hash: string }>(this.store, {
      chainId: this.chainId,
      from: expect,
      to: toSeq,
      columns: 'seq, prev_hash, hash',
    })) {
      const seq = Number(r.seq);
      if (seq !== expect || r.prev_hash !== prev) {
        this.halt(`the stored chain breaks at seq ${seq} (expected seq ${expect} linking to ${prev.slice(0, 12)}…): run "otel-audit verify".`);
        return;
      }
      hashes.push(r.hash);
      prev = r.hash;
      expect++;
      if (hashes.length >= 50_000) {
        await this.appendHashes(hashes, seq);
        hashes = [];
      }
    }
    if (hashes.length) await this.appendHashes(hashes, expect - 1);
    if (this.acc.size !== toSeq) this.halt(`ClickHouse returned events up to ${this.acc.size}, expected ${toSeq}.`);
  }

  private async appendHashes(hashes: string[], lastSeq: number): Promise<void> {
    if (hashes.length === 0) return;
    // Leaves are only needed for the next consistency proof, which needs a previous checkpoint.
    const keepLeaves = this.sinceLast !== null && this.last !== null;
    // A long run on a worker; here a short one, or a run whose worker failed (a bad hash then
    // fails here too, with its own message), in slices between which the event loop runs.
    const elsewhere = this.merkle && hashes.length >= OFFLOAD_MIN_HASHES ? await this.merkle.appendLeaves(this.acc.toJSON(), hashes, keepLeaves).catch(() => null) : null;
    if (elsewhere) this.takeLeaves(elsewhere, hashes.length);
    else {
      for (let i = 0; i < hashes.length; i += APPEND_SLICE) {
        if (i > 0) await yieldToLoop();
        const slice = hashes.slice(i, i + APPEND_SLICE);
        this.takeLeaves(appendEventHashes(this.acc.toJSON(), slice, keepLeaves), slice.length);
      }
    }
    this.head = { seq: lastSeq, hash: hashes[hashes.length - 1] };
  }

  /** Takes the accumulator's new state, and keeps the `n` leaves for the next consistency proof (bounded). */
  private takeLeaves(appended: AppendedLeaves, n: number): void {
    this.acc = MerkleAccumulator.fromJSON(appended.state);
    const leaves = appended.leaves;
    if (!leaves || !this.sinceLast) return;
    if (this.sinceLast.count + n > MAX_PENDING_LEAVES) {
      this.sinceLast = null;
      return;
    }
    this.sinceLast.runs.push(leaves.subarray(0, n * 32));
    this.sinceLast.count += n;
  }

  private async maybeCheckpoint(minNew: number): Promise<void> {
    if (this.halted) return;
    const covered = this.last?.checkpoint.tree_size ?? 0;
    await this.anchors.retry();
    if (this.acc.size - covered < Math.max(1, minNew)) {
      if (this.tableBacklog.length) await this.flushTableBacklog();
      return;
    }
    const prev = this.last;
    const checkpoint = signCheckpoint(
      {
        version: 1,
        chain_id: this.chainId,
        tree_size: this.acc.size,
        root_hash: this.acc.root().toString('hex'),
        head_seq: this.head.seq,
        head_hash: this.head.hash,
        created_at: new Date().toISOString(),
        prev_tree_size: prev?.checkpoint.tree_size ?? 0,
        prev_root_hash: prev?.checkpoint.root_hash ?? '',
      },
      this.key.privateKey,
    );
    const record: AnchorRecord = { format: ANCHOR_FORMAT, checkpoint, accumulator: this.acc.toJSON() };
    if (prev && this.sinceLast && prev.checkpoint.tree_size > 0) {
      const proof = await this.consistencyProof(prev.accumulator as MerkleAccumulatorState, this.sinceLast);
      record.consistency = { from_tree_size: prev.checkpoint.tree_size, proof };
    }
    // The anchors first: they are the copies an attacker on the database cannot reach.
    await this.anchors.write(record);
    this.last = record;
    this.sinceLast = { runs: [], count: 0 };
    this.tableBacklog.push(checkpoint);
    await this.flushTableBacklog();
    this.log.debug('checkpoint written', { chain_id: this.chainId, tree_size: checkpoint.tree_size });
  }

  /** The proof from `old` over `leaves`: on the worker when there are many, else (or if it fails) here. */
  private async consistencyProof(old: MerkleAccumulatorState, leaves: LeafRuns): Promise<string[]> {
    const flat = Buffer.concat(leaves.runs);
    const there = this.merkle && leaves.count >= OFFLOAD_MIN_HASHES ? await this.merkle.consistencyProof(old, flat).catch(() => null) : null;
    return there ?? consistencyProofHex(old, flat);
  }

  private async flushTableBacklog(): Promise<void> {
    while (this.tableBacklog.length) {
      const cp = this.tableBacklog[0];
      try {
        await insertCheckpointRow(this.store, cp, this.healToken);
      } catch (err) {
        this.log.warn('checkpoint anchored but not yet in the checkpoints table; will retry', {
          tree_size: cp.tree_size,
          error: (err as Error).message,
        });
        return;
      }
      this.tableBacklog.shift();
    }
  }

  /** Puts anchored checkpoints the table lacks (newer than its newest) back into the table. */
  private async healTable(): Promise<void> {
    const tableMax = await newestCheckpointSize(this.store, this.chainId);
    for (const size of await this.anchors.sizes(this.chainId)) {
      if (size <= tableMax) continue;
      const r = await this.anchors.read(this.chainId, size);
      if (anchorRecordErrors(r).length === 0) this.tableBacklog.push(r.checkpoint);
    }
    if (this.tableBacklog.length) {
      this.log.warn('re-inserting anchored checkpoints missing from the checkpoints table', { count: this.tableBacklog.length });
      this.healToken = `:heal-${Date.now()}`;
      await this.flushTableBacklog();
      this.healToken = '';
    }
  }
}

/** ISO 8601 (the signed form) → ClickHouse DateTime64(3) text, and back. */
export function isoToClickHouse(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/, '');
}
export function clickHouseToIso(text: string): string {
  const [date, time = '00:00:00'] = String(text).split(' ');
  const [hms, frac = ''] = time.split('.');
  return `${date}T${hms}.${frac.padEnd(3, '0').slice(0, 3)}Z`;
}

/** `attempt` distinguishes a deliberate re-insert (healing) from a retry, which dedup must drop. */
export async function insertCheckpointRow(store: Store, cp: Checkpoint, attempt = ''): Promise<void> {
  const row = { ...cp, created_at: isoToClickHouse(cp.created_at) } as Record<string, unknown>;
  delete row.version;
  await insertCheckpoint(store, row, `checkpoint:${cp.chain_id}:${cp.tree_size}:${cp.signature}${attempt}`);
}

/** The `checkpoints` table rows of a chain, ascending by tree size, in the signed shape. */
export async function tableCheckpoints(store: Store, chainId: string): Promise<Checkpoint[]> {
  const rows = await checkpointRows(store, chainId);
  return rows.map((r) => ({
    version: 1,
    chain_id: r.chain_id,
    tree_size: Number(r.tree_size),
    root_hash: r.root_hash,
    head_seq: Number(r.head_seq),
    head_hash: r.head_hash,
    created_at: clickHouseToIso(r.created_at),
    prev_tree_size: Number(r.prev_tree_size),
    prev_root_hash: r.prev_root_hash,
    key_id: r.key_id,
    signature: r.signature,
  }));
}
