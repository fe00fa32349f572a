/**
 * All the anchors of a bridge (anchors/config.ts), used as one by the checkpointer, verify and
 * proofs:
 *
 *  - write: every timestamp authority endorses the record first (its token goes into the
 *    record), then every anchor that stores records gets it. A checkpoint counts once at least
 *    one of them stored it; an anchor that failed (S3 unreachable, ...) gets it again at the next
 *    checkpoint, and at the next start (heal).
 *  - resumePoint: the newest record over all stores, provided they agree: a store whose newest
 *    checkpoint the leading store lacks means the stores hold different histories (re-signed), and
 *    the checkpointer must not sign on top of either.
 *  - readEach: each store's records, for verify, which compares them.
 */
import { verifyCheckpointSignature } from '../checkpoint.ts';
import type { KeyObject } from 'node:crypto';
import type { Logger } from '../../internal/logger.ts';
import { anchorRecordErrors, type AnchorFileError, type AnchorRecord, type AnchorSink } from '../anchor.ts';
import type { AnchorSpec } from './config.ts';
import { DirectoryAnchorSink } from './directory.ts';
import { TimestampAuthorityAnchor } from './rfc3161.ts';
import { S3AnchorSink } from './s3.ts';

const MAX_BACKLOG = 10_000;

/** Two anchors hold different checkpoints for the same place in a chain. */
export class AnchorConflictError extends Error {}

export interface AnchorSummary {
  url: string;
  kind: AnchorSink['kind'];
  external: boolean;
}

export interface AnchorReading {
  sink: AnchorSink;
  records: AnchorRecord[];
  errors: AnchorFileError[];
  /** Set when the anchor could not be read at all. */
  unreachable?: string;
}

export async function openAnchorSink(spec: AnchorSpec): Promise<AnchorSink> {
  switch (spec.kind) {
    case 'file':
      return new DirectoryAnchorSink(spec.dir, { external: spec.external });
    case 's3':
      return S3AnchorSink.open(spec);
    case 'rfc3161':
      return new TimestampAuthorityAnchor(spec);
  }
}

export class AnchorSet {
  readonly sinks: AnchorSink[];
  /** The anchors that hold records, in configured order (the first is read first). */
  readonly stores: AnchorSink[];
  readonly authorities: TimestampAuthorityAnchor[];
  private readonly log: Logger | null;
  private backlog: Array<{ sink: AnchorSink; record: AnchorRecord }> = [];
  private retrying: Promise<void> | null = null;

  constructor(sinks: AnchorSink[], log: Logger | null = null) {
    this.sinks = sinks;
    this.stores = sinks.filter((s) => s.holdsRecords);
    this.authorities = sinks.filter((s): s is TimestampAuthorityAnchor => s instanceof TimestampAuthorityAnchor);
    if (this.stores.length === 0) throw new Error('no anchor stores records: configure a file:// or s3:// anchor');
    this.log = log;
  }

  static async open(specs: AnchorSpec[], log: Logger | null = null): Promise<AnchorSet> {
    return new AnchorSet(await Promise.all(specs.map(openAnchorSink)), log);
  }

  /** Whether any anchor lies beyond whoever can write the data directory. */
  get external(): boolean {
    return this.sinks.some((s) => s.external);
  }

  /** The first directory anchor (the local copy), or null. */
  get localDir(): string | null {
    return this.stores.find((s): s is DirectoryAnchorSink => s instanceof DirectoryAnchorSink)?.dir ?? null;
  }

  describe(): AnchorSummary[] {
    return this.sinks.map((s) => ({ url: s.url, kind: s.kind, external: s.external }));
  }

  /** Endorses and stores one record (see the file comment). Throws only when no anchor stored it. */
  async write(record: AnchorRecord): Promise<void> {
    const cp = record.checkpoint;
    for (const tsa of this.authorities) {
      try {
        await tsa.endorse(record);
      } catch (err) {
        // Stored without this token rather than not at all; verify reports the checkpoint as
        // missing from this anchor, and the next checkpoint's token covers these events too.
        this.log?.error('checkpoint not timestamped', { chain_id: cp.chain_id, tree_size: cp.tree_size, anchor: tsa.url, error: (err as Error).message });
      }
    }
    const failed: Array<{ sink: AnchorSink; error: string }> = [];
    for (const sink of this.stores) {
      try {
        await sink.write(record);
      } catch (err) {
        failed.push({ sink, error: (err as Error).message });
      }
    }
    if (failed.length === this.stores.length) {
      throw new Error(`no anchor could store checkpoint ${cp.tree_size} of chain ${cp.chain_id}: ${failed.map((f) => f.error).join('; ')}`);
    }
    for (const f of failed) {
      // Bounded: past this, the next start heals the anchor from the others (heal).
      if (this.backlog.length >= MAX_BACKLOG) this.backlog.shift();
      this.backlog.push({ sink: f.sink, record });
      this.log?.error('anchor write failed; retried at the next checkpoint', { chain_id: cp.chain_id, tree_size: cp.tree_size, anchor: f.sink.url, error: f.error });
    }
  }

  /** Writes the records that an anchor missed before, in order; what still fails stays queued. */
  retry(): Promise<void> {
    if (this.backlog.length === 0) return Promise.resolve();
    this.retrying ??= (async () => {
      const pending = this.backlog;
      this.backlog = [];
      const failing = new Set<AnchorSink>();
      for (const item of pending) {
        if (!failing.has(item.sink)) {
          try {
            await item.sink.write(item.record);
            this.log?.info('anchor write retried', { chain_id: item.record.checkpoint.chain_id, tree_size: item.record.checkpoint.tree_size, anchor: item.sink.url });
            continue;
          } catch {
            failing.add(item.sink);
          }
        }
        this.backlog.push(item);
      }
    })().finally(() => {
      this.retrying = null;
    });
    return this.retrying;
  }

  /** Records waiting to be written to an anchor that failed. */
  get pending(): number {
    return this.backlog.length;
  }

  /**
   * The newest record over every store, for the checkpointer to resume from. An external anchor
   * that cannot be reached is skipped (logged): the bridge keeps running, and its records reach
   * that anchor later. Throws AnchorConflictError when the stores hold different histories.
   */
  async resumePoint(chainId: string): Promise<AnchorRecord | null> {
    const newest: Array<{ sink: AnchorSink; record: AnchorRecord }> = [];
    for (const sink of this.stores) {
      let record: AnchorRecord | null;
      try {
        record = await sink.latest(chainId);
      } catch (err) {
        if (/different checkpoints/.test((err as Error).message)) throw new AnchorConflictError((err as Error).message);
        if (!sink.external) throw err;
        this.log?.error('anchor unreachable at start; its newest checkpoint is not compared', { chain_id: chainId, anchor: sink.url, error: (err as Error).message });
        continue;
      }
      if (record) newest.push({ sink, record });
    }
    if (newest.length === 0) return null;
    const lead = newest.reduce((a, b) => (b.record.checkpoint.tree_size > a.record.checkpoint.tree_size ? b : a));
    for (const n of newest) {
      if (n === lead) continue;
      const size = n.record.checkpoint.tree_size;
      const at = await lead.sink.readAt(chainId, size);
      if (!at.some((x) => x.checkpoint.signature === n.record.checkpoint.signature)) {
        throw new AnchorConflictError(
          `the anchors disagree on chain ${chainId}: ${n.sink.url} ends at checkpoint ${size}, which ${lead.sink.url} ` +
            `(ending at ${lead.record.checkpoint.tree_size}) ${at.length ? 'holds with another root' : 'lacks'}. Run "otel-audit verify".`,
        );
      }
    }
    return lead.record;
  }

  /**
   * Copies to each store the records it lacks after its own newest one, from the store that has
   * them (a write that failed before a restart, or an anchor added to an existing chain). Only
   * records that are well formed and signed by `key` are copied. Call after resumePoint agreed.
   */
  async heal(chainId: string, key: KeyObject): Promise<number> {
    if (this.stores.length < 2) return 0;
    // Listings only; records are read just for what a store lacks.
    const sizes = await Promise.all(this.stores.map((s) => s.sizes(chainId).catch(() => null)));
    let lead = -1;
    for (let i = 0; i < sizes.length; i++) {
      if (sizes[i] && (lead < 0 || (sizes[i]!.at(-1) ?? 0) > (sizes[lead]!.at(-1) ?? 0))) lead = i;
    }
    if (lead < 0) return 0;
    let copied = 0;
    for (let i = 0; i < this.stores.length; i++) {
      if (i === lead || !sizes[i]) continue;
      const have = sizes[i]!.at(-1) ?? 0;
      for (const size of sizes[lead]!.filter((n) => n > have)) {
        try {
          const found = await this.stores[lead].readAt(chainId, size);
          // Two versions at one size: not ours to choose; verify reports it.
          if (found.length !== 1) break;
          const rec = found[0];
          if (anchorRecordErrors(rec).length || !verifyCheckpointSignature(rec.checkpoint, key)) break;
          await this.stores[i].write(rec);
          copied++;
        } catch (err) {
          this.log?.error('anchor not healed; tried again at the next start', { chain_id: chainId, anchor: this.stores[i].url, error: (err as Error).message });
          break;
        }
      }
    }
    if (copied) this.log?.warn('copied checkpoints to anchors that lacked them', { chain_id: chainId, records: copied });
    return copied;
  }

  /** Every store's records of a chain (verify compares them). */
  async readEach(chainId: string): Promise<AnchorReading[]> {
    return Promise.all(
      this.stores.map(async (sink) => {
        try {
          return { sink, ...(await sink.readAll(chainId)) };
        } catch (err) {
          return { sink, records: [], errors: [], unreachable: (err as Error).message };
        }
      }),
    );
  }

  /** Tree sizes with a record in the first store that answers (the local copy, when there is one). */
  async sizes(chainId: string): Promise<number[]> {
    let last: unknown;
    for (const s of this.stores) {
      try {
        return await s.sizes(chainId);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  /** The record at a size, from the first store that holds it. */
  async read(chainId: string, treeSize: number): Promise<AnchorRecord> {
    for (const s of this.stores) {
      const found = await s.readAt(chainId, treeSize).catch((err) => {
        if (!s.external) throw err;
        return [];
      });
      if (found.length) return found[0];
    }
    throw new Error(`no anchor holds checkpoint ${treeSize} of chain ${chainId}`);
  }
}
