/**
 * The integrity of individual stored events, for the reviewer's desk (GET /api/v1/events/:id,
 * case pages): what `verify` establishes for a whole chain, answered for the rows at hand.
 *
 * For each row:
 *  1. hash: its stored columns' canonical hash (canonical.ts) equals its `hash`;
 *  2. inclusion: when a signed, anchored checkpoint covers its seq (the smallest anchored tree
 *     size N >= seq), its hash is the leaf N committed to at that position. Checked per
 *     checkpoint interval (M, N], M = N's signed prev_tree_size: the compact range of M (from
 *     M's anchor record) plus the stored hashes of seq M+1..N must reproduce N's signed root
 *     (Merkle roots bind every leaf to its position), and then those hashes are the committed
 *     leaves. One interval read serves every row in it; the committed leaves (32 bytes each) are
 *     kept in a bounded cache, so the next page of the same interval costs nothing. The
 *     signature is checked with the bridge's key, the records come from the configured anchors.
 *     When the stored hashes do not reproduce the root, the hashes the next events link to are
 *     put back where they differ (a row re-hashed in place leaves its successor linking to the
 *     original); if that reproduces the root, the interval is established and the re-hashed rows
 *     are found exactly;
 *  3. links, for rows no checkpoint vouches for (newer than the newest one, or in an interval
 *     that does not reproduce its root): prev_hash equals the hash of seq - 1, and the next
 *     event still links to this one's hash (a recomputed hash leaves the next link pointing at
 *     the original).
 *
 * A status per row: `verified` (1 and 2), `unanchored` (1 and 3, no checkpoint yet), `unchecked`
 * (1, and the interval was beyond this request's budget of leaves), `modified` (the row, or its
 * hash, was changed), `broken` (a neighbour is missing or changed, or its interval does not
 * reproduce the signed root). Reasons name seqs and checkpoints, never another event's id (the
 * chain holds every tenant's events).
 */
import type { KeyObject } from 'node:crypto';
import { chainLinksAt, chainRows, type ChainLink } from '../store/chain-queries.ts';
import type { Store } from '../store/store.ts';
import { anchorRecordErrors, type AnchorRecord } from './anchor.ts';
import { eventHash, GENESIS_HASH } from './canonical.ts';
import { verifyCheckpointSignature } from './checkpoint.ts';
import { leafHash, MerkleAccumulator, type MerkleAccumulatorState } from './merkle.ts';

export type IntegrityStatus = 'verified' | 'unanchored' | 'unchecked' | 'modified' | 'broken';

export interface CheckpointRef {
  chain_id: string;
  tree_size: number;
  created_at: string;
}

export interface EventIntegrity {
  status: IntegrityStatus;
  hash_ok: boolean;
  /** prev_hash matches the hash of seq - 1 (null: not checked, or not needed). */
  link_ok: boolean | null;
  /** Its hash is the leaf the covering checkpoint committed to (null: no checkpoint, or not checked). */
  included: boolean | null;
  checkpoint: CheckpointRef | null;
  reason?: string;
}

/** What the checker needs of the anchors (chain/anchors/set.ts AnchorSet). */
export interface AnchorReader {
  sizes(chainId: string): Promise<number[]>;
  read(chainId: string, treeSize: number): Promise<AnchorRecord>;
}

export interface IntegrityOptions {
  anchors: AnchorReader;
  /** The key checkpoints must be signed with (the bridge's). */
  publicKey: KeyObject;
  /** Leaves read from the store per check() (default 300,000, a few hundred ms). */
  leafBudget?: number;
  /** Committed leaves kept between requests, in bytes (default 64 MiB). */
  cacheBytes?: number;
  /** How long a chain's list of anchored sizes is reused (default 2 s). */
  sizesTtlMs?: number;
}

/** How many leaves a check may still read; shared by the calls of one request. */
export interface LeafBudget {
  leaves: number;
}

type Row = Record<string, unknown>;

/** An interval (M, N] of a chain, and what the store showed for it. */
interface Interval {
  chainId: string;
  from: number;
  to: number;
  checkpoint: CheckpointRef;
  /** The committed leaves' event hashes (32 bytes each, seq M+1 first), when the interval reproduced the signed root. */
  leaves: Buffer | null;
  /** Why the interval could not be established (leaves null). */
  problem: string | null;
  /** Not read: beyond the budget. */
  unchecked?: boolean;
  /** The hash of seq M as checkpoint M signed it (its head), for seq M+1's link. */
  prevHead?: string;
}

export class IntegrityChecker {
  private readonly store: Store;
  private readonly o: Required<IntegrityOptions>;
  private readonly sizesCache = new Map<string, { at: number; sizes: Promise<number[]> }>();
  private readonly records = new Map<string, Promise<AnchorRecord | string>>();
  /** Established intervals, least recently used first. */
  private readonly intervals = new Map<string, Interval>();
  private cachedBytes = 0;

  constructor(store: Store, o: IntegrityOptions) {
    this.store = store;
    this.o = { leafBudget: 300_000, cacheBytes: 64 * 1024 * 1024, sizesTtlMs: 2000, ...o };
  }

  /** A fresh budget for one request. */
  budget(): LeafBudget {
    return { leaves: this.o.leafBudget };
  }

  /** The integrity of each row (full rows: every column, as read with JSONEachRow). */
  async check(rows: Row[], budget: LeafBudget = this.budget()): Promise<EventIntegrity[]> {
    const out: EventIntegrity[] = new Array(rows.length);
    const byChain = new Map<string, number[]>();
    rows.forEach((r, i) => {
      const c = String(r.chain_id);
      let list = byChain.get(c);
      if (!list) byChain.set(c, (list = []));
      list.push(i);
    });
    for (const [chainId, idx] of byChain) {
      let sizes: number[];
      let anchorsDown: string | null = null;
      try {
        sizes = await this.sizes(chainId);
      } catch (err) {
        sizes = [];
        anchorsDown = `the anchors cannot be read (${(err as Error).message}), so no checkpoint was checked`;
      }
      // The covering checkpoint of each row, and the intervals they need, lowest first.
      const covering = idx.map((i) => coveringSize(sizes, Number(rows[i].seq)));
      const needed = [...new Set(covering.filter((n): n is number => n !== null))].sort((a, b) => a - b);
      const intervals = new Map<number, Interval>();
      for (const n of needed) intervals.set(n, await this.interval(chainId, n, budget));
      // Rows no checkpoint vouches for get their links checked against their neighbours.
      const linkRows = idx.filter((i, k) => {
        const iv = covering[k] === null ? null : intervals.get(covering[k]!)!;
        return !iv?.leaves;
      });
      const neighbours = linkRows.length ? await this.neighbours(chainId, linkRows.map((i) => Number(rows[i].seq))) : new Map<number, ChainLink[]>();
      idx.forEach((i, k) => {
        const iv = covering[k] === null ? null : intervals.get(covering[k]!)!;
        out[i] = judge(rows[i], iv, neighbours, anchorsDown);
      });
    }
    return out;
  }

  /** Tree sizes with an anchor record, ascending (cached briefly). */
  private sizes(chainId: string): Promise<number[]> {
    const hit = this.sizesCache.get(chainId);
    if (hit && Date.now() - hit.at < this.o.sizesTtlMs) return hit.sizes;
    const sizes = this.o.anchors.sizes(chainId);
    this.sizesCache.set(chainId, { at: Date.now(), sizes });
    sizes.catch(() => this.sizesCache.delete(chainId));
    return sizes;
  }

  /** The anchor record at a size, checked (structure and signature), or why it is unusable. */
  private record(chainId: string, size: number): Promise<AnchorRecord | string> {
    const key = `${chainId}:${size}`;
    let r = this.records.get(key);
    if (!r) {
      r = this.o.anchors.read(chainId, size).then(
        (rec) => {
          const errors = anchorRecordErrors(rec);
          if (errors.length) return `the anchored checkpoint ${size} of chain ${chainId} is malformed: ${errors[0]}`;
          if (!verifyCheckpointSignature(rec.checkpoint, this.o.publicKey)) return `the anchored checkpoint ${size} of chain ${chainId} is not signed with this bridge's key`;
          return rec;
        },
        (err: Error) => `the anchored checkpoint ${size} of chain ${chainId} cannot be read: ${err.message}`,
      );
      this.records.set(key, r);
      if (this.records.size > 4096) this.records.delete(this.records.keys().next().value!);
      // An unreadable record may be readable later (an anchor back up): not kept.
      void r.then((v) => typeof v === 'string' && this.records.delete(key));
    }
    return r;
  }

  /** The interval ending at checkpoint n: from the cache, or established from the store now. */
  private async interval(chainId: string, n: number, budget: LeafBudget): Promise<Interval> {
    const key = `${chainId}:${n}`;
    const hit = this.intervals.get(key);
    if (hit) {
      this.intervals.delete(key);
      this.intervals.set(key, hit);
      return hit;
    }
    const rec = await this.record(chainId, n);
    const fallback: CheckpointRef = { chain_id: chainId, tree_size: n, created_at: '' };
    if (typeof rec === 'string') return { chainId, from: 0, to: n, checkpoint: fallback, leaves: null, problem: rec };
    const cp = rec.checkpoint;
    const ref: CheckpointRef = { chain_id: chainId, tree_size: n, created_at: cp.created_at };
    const m = cp.prev_tree_size;
    if (n - m > budget.leaves) return { chainId, from: m, to: n, checkpoint: ref, leaves: null, problem: null, unchecked: true };
    budget.leaves -= n - m;
    let start: MerkleAccumulatorState | null = null;
    let prevHead = GENESIS_HASH;
    if (m > 0) {
      const prev = await this.record(chainId, m);
      if (typeof prev === 'string') return { chainId, from: m, to: n, checkpoint: ref, leaves: null, problem: prev };
      start = prev.accumulator;
      prevHead = prev.checkpoint.head_hash;
    }
    // seq M+1..N, and N+1 for the link to N's hash.
    const hashes = Buffer.alloc(32 * (n - m));
    const prevHashes = Buffer.alloc(32 * (n - m + 1));
    let expect = m + 1;
    let problem: string | null = null;
    for await (const row of chainRows<{ seq: string; prev_hash: string; hash: string }>(this.store, { chainId, from: m + 1, to: n + 1, columns: 'seq, prev_hash, hash' })) {
      const s = Number(row.seq);
      if (s !== expect) {
        problem = s < expect ? `seq ${s} is stored more than once` : `seq ${expect}${s - 1 > expect ? `-${s - 1}` : ''} is missing`;
        break;
      }
      if (!HEX64.test(row.hash) || !HEX64.test(row.prev_hash)) {
        problem = `the stored hashes at seq ${s} are malformed`;
        break;
      }
      if (s <= n) hashes.write(row.hash, (s - m - 1) * 32, 'hex');
      prevHashes.write(row.prev_hash, (s - m - 1) * 32, 'hex');
      expect++;
    }
    if (!problem && expect <= n) problem = `seq ${expect}${expect < n ? `-${n}` : ''} ${expect === n ? 'is' : 'are'} missing`;
    let leaves: Buffer | null = null;
    if (!problem) {
      const hasNext = expect === n + 2;
      if (rootOf(start, hashes) === cp.root_hash) leaves = hashes;
      else {
        // A row re-hashed in place leaves the next event linking to its original hash: put the
        // linked hashes back, and if that reproduces the signed root, those are the committed
        // leaves (and the re-hashed rows show as such).
        const linked = Buffer.from(hashes);
        for (let i = 0; i < n - m; i++) {
          if (i === n - m - 1 && !hasNext) break;
          if (!prevHashes.subarray((i + 1) * 32, (i + 2) * 32).equals(hashes.subarray(i * 32, (i + 1) * 32))) prevHashes.copy(linked, i * 32, (i + 1) * 32, (i + 2) * 32);
        }
        if (!linked.equals(hashes) && rootOf(start, linked) === cp.root_hash) leaves = linked;
        else problem = `the stored events of seq ${m + 1}-${n} do not reproduce the root checkpoint ${n} signed: events in it were changed, removed or re-hashed`;
      }
    }
    const iv: Interval = { chainId, from: m, to: n, checkpoint: ref, leaves, problem, prevHead };
    // Only an established interval is kept: a failing one is read again next time.
    if (!problem) this.remember(key, iv);
    return iv;
  }

  private remember(key: string, iv: Interval): void {
    const bytes = iv.leaves?.length ?? 0;
    if (bytes > this.o.cacheBytes) return;
    this.intervals.set(key, iv);
    this.cachedBytes += bytes;
    for (const [k, v] of this.intervals) {
      if (this.cachedBytes <= this.o.cacheBytes) break;
      this.intervals.delete(k);
      this.cachedBytes -= v.leaves?.length ?? 0;
    }
  }

  /** The rows at seq - 1 and seq + 1 of each seq, by seq (several when a seq is duplicated). */
  private async neighbours(chainId: string, seqs: number[]): Promise<Map<number, ChainLink[]>> {
    const want = [...new Set(seqs.flatMap((s) => [s - 1, s, s + 1]).filter((s) => s >= 1))];
    const out = new Map<number, ChainLink[]>();
    for (const r of await chainLinksAt(this.store, chainId, want)) {
      const list = out.get(r.seq);
      if (list) list.push(r);
      else out.set(r.seq, [r]);
    }
    return out;
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The Merkle root of a compact range (or the empty tree) extended by event hashes (32 bytes each). */
function rootOf(start: MerkleAccumulatorState | null, hashes: Buffer): string {
  const acc = start ? MerkleAccumulator.fromJSON(start) : new MerkleAccumulator();
  for (let i = 0; i < hashes.length; i += 32) acc.append(leafHash(hashes.subarray(i, i + 32)));
  return acc.root().toString('hex');
}

/** The smallest anchored size >= seq, or null. */
function coveringSize(sizes: number[], seq: number): number | null {
  let lo = 0;
  let hi = sizes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sizes[mid] < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo < sizes.length ? sizes[lo] : null;
}

function judge(row: Row, iv: Interval | null, neighbours: Map<number, ChainLink[]>, anchorsDown: string | null): EventIntegrity {
  const seq = Number(row.seq);
  let hashOk: boolean;
  try {
    hashOk = eventHash(row) === row.hash;
  } catch {
    hashOk = false;
  }
  const checkpoint = iv ? iv.checkpoint : null;
  const committed = (s: number) => (iv?.leaves && s > iv.from && s <= iv.to ? iv.leaves.toString('hex', (s - iv.from - 1) * 32, (s - iv.from) * 32) : null);
  if (iv?.leaves) {
    const leaf = committed(seq)!;
    const included = leaf === row.hash;
    const before = seq === iv.from + 1 ? (iv.prevHead ?? null) : committed(seq - 1);
    const linkOk = before === null ? null : row.prev_hash === before;
    if (!hashOk) return { status: 'modified', hash_ok: false, link_ok: linkOk, included, checkpoint, reason: 'its stored columns no longer hash to its hash: the row was changed after it was chained' };
    if (!included) {
      return {
        status: 'modified',
        hash_ok: true,
        link_ok: linkOk,
        included: false,
        checkpoint,
        reason: `its hash is not the one checkpoint ${iv.to} of chain ${iv.chainId} signed for seq ${seq}: the row was rewritten and re-hashed`,
      };
    }
    return { status: 'verified', hash_ok: true, link_ok: linkOk, included: true, checkpoint };
  }
  // No checkpoint vouches for the row: its links tell what they can.
  const here = neighbours.get(seq) ?? [];
  const prev = neighbours.get(seq - 1) ?? [];
  const next = neighbours.get(seq + 1) ?? [];
  let linkOk: boolean | null = null;
  let problem: { status: 'modified' | 'broken'; reason: string } | null = null;
  if (!hashOk) problem = { status: 'modified', reason: 'its stored columns no longer hash to its hash: the row was changed after it was chained' };
  else if (here.length > 1) problem = { status: 'broken', reason: `seq ${seq} of chain ${row.chain_id} is stored more than once` };
  if (seq === 1) linkOk = row.prev_hash === GENESIS_HASH;
  else if (prev.length === 1) linkOk = row.prev_hash === prev[0].hash;
  else if (prev.length === 0) {
    linkOk = false;
    problem ??= { status: 'broken', reason: `the event before it (seq ${seq - 1} of chain ${row.chain_id}) is missing` };
  }
  if (linkOk === false) problem ??= { status: 'broken', reason: `it does not link to the event before it (seq ${seq - 1} of chain ${row.chain_id}): one of the two was changed` };
  if (!problem && next.length === 1 && next[0].prev_hash !== row.hash) {
    problem = { status: 'modified', reason: `its hash was recomputed: the next event (seq ${seq + 1}) still links to the original` };
  }
  if (problem) return { ...problem, hash_ok: hashOk, link_ok: linkOk, included: null, checkpoint };
  if (iv?.unchecked) {
    return {
      status: 'unchecked',
      hash_ok: true,
      link_ok: linkOk,
      included: null,
      checkpoint,
      reason: `checkpoint ${iv.to} covers it, but its interval (${iv.to - iv.from} events) was not read in this request: run "otel-audit verify"`,
    };
  }
  if (iv?.problem) return { status: 'broken', hash_ok: true, link_ok: linkOk, included: null, checkpoint, reason: iv.problem };
  if (anchorsDown) return { status: 'unchecked', hash_ok: true, link_ok: linkOk, included: null, checkpoint: null, reason: anchorsDown };
  return { status: 'unanchored', hash_ok: true, link_ok: linkOk, included: null, checkpoint: null, reason: 'newer than the newest signed checkpoint of its chain: the hash chain vouches for it, no signature yet' };
}

export interface IntegritySummary {
  status: 'verified' | 'unanchored' | 'unchecked' | 'broken';
  /** A sentence: "verified up to checkpoint N of chain C (time)", or what is broken. */
  summary: string;
  counts: Record<IntegrityStatus, number>;
  /** The newest checkpoint covering events of the set, per chain. */
  checkpoints: CheckpointRef[];
  /** The first problems found (modified, broken), up to 20. */
  problems: Array<{ event_id: string; chain_id: string; seq: number; status: IntegrityStatus; reason: string }>;
}

/** Folds per-event results into a set's summary (a case). */
export class IntegrityTally {
  readonly counts: Record<IntegrityStatus, number> = { verified: 0, unanchored: 0, unchecked: 0, modified: 0, broken: 0 };
  private readonly newest = new Map<string, CheckpointRef>();
  readonly problems: IntegritySummary['problems'] = [];

  add(row: Row, r: EventIntegrity): void {
    this.counts[r.status]++;
    if (r.status === 'verified' && r.checkpoint) {
      const cur = this.newest.get(r.checkpoint.chain_id);
      if (!cur || cur.tree_size < r.checkpoint.tree_size) this.newest.set(r.checkpoint.chain_id, r.checkpoint);
    }
    if ((r.status === 'modified' || r.status === 'broken') && this.problems.length < 20) {
      this.problems.push({ event_id: String(row.event_id), chain_id: String(row.chain_id), seq: Number(row.seq), status: r.status, reason: r.reason ?? '' });
    }
  }

  summary(): IntegritySummary {
    const c = this.counts;
    const checkpoints = [...this.newest.values()].sort((a, b) => a.chain_id.localeCompare(b.chain_id));
    const upTo = checkpoints.map((cp) => `checkpoint ${cp.tree_size} of chain ${cp.chain_id} (${cp.created_at})`).join(', ');
    const total = c.verified + c.unanchored + c.unchecked + c.modified + c.broken;
    let status: IntegritySummary['status'];
    let summary: string;
    if (c.modified + c.broken > 0) {
      status = 'broken';
      const first = this.problems[0];
      summary =
        `${c.modified + c.broken} of ${total} events fail their integrity check (${c.modified} modified, ${c.broken} broken)` +
        (first ? `; first: seq ${first.seq} of chain ${first.chain_id}: ${first.reason}` : '') +
        '. Run "otel-audit verify".';
    } else if (c.unchecked > 0) {
      status = 'unchecked';
      summary = `${c.verified} of ${total} events verified${upTo ? ` up to ${upTo}` : ''}; ${c.unchecked} not checked in this request: run "otel-audit verify"`;
    } else if (c.unanchored > 0) {
      status = 'unanchored';
      summary =
        (c.verified ? `${c.verified} events verified up to ${upTo}; ` : '') +
        `${c.unanchored} newer event${c.unanchored === 1 ? '' : 's'} not yet covered by a signed checkpoint (hash chain intact)`;
    } else {
      status = 'verified';
      summary = total ? `all ${total} events verified up to ${upTo}` : 'no events';
    }
    return { status, summary, counts: { ...c }, checkpoints, problems: this.problems };
  }
}
