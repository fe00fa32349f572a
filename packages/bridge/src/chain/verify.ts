/**
 * verifyChain: checks one chain's stored events against its signed, externally anchored
 * checkpoints, in one pass over the rows in seq order with bounded memory.
 *
 *  1. Checkpoints, before any row: each anchored checkpoint's signature, its compact range
 *     (must reproduce the signed root), its link to the previous one (prev_tree_size /
 *     prev_root_hash) and its consistency proof from the previous one; then the ClickHouse
 *     `checkpoints` table against the anchors (missing or forged rows).
 *  2. Rows: each row's hash is recomputed from its columns (canonical.ts), seqs must be gap-free
 *     and each prev_hash must be the hash of the event before. This localizes a break to the
 *     exact seq. At each anchored checkpoint the Merkle root over the stored hashes of the
 *     interval since the previous checkpoint (resumed from the anchor's compact range) and the
 *     head hash must match the signed ones: this catches a chain rewritten with recomputed hashes
 *     and localizes it to the checkpoint interval.
 *  3. The end: events a checkpoint covers that are no longer stored were truncated.
 *
 * One pass (rows with every column, in seq order) or two (verify-store.ts): scanContent() over
 * the rows in any order, then verifyChain() over (seq, prev_hash, hash, event_id) in seq order
 * with `content`, which answers "does this row hash where it is?" from the first pass.
 *
 * Classification (README, "What verify reports"):
 *   modified   the row's columns no longer hash to its stored hash (or the hash was recomputed
 *              after a change: the next event still links to the original hash);
 *   deleted    a gap in seq;
 *   inserted   an extra row: a second row with the same seq, or a row that links to neither
 *              neighbour, or a last row that does not link to the one before;
 *   reordered  a row whose seq was changed: it hashes correctly at the seq its own prev_hash
 *              points to, not where it is now;
 *   truncated  the newest events, covered by a checkpoint, are gone;
 *   rewritten  the rows of a checkpoint interval link to each other but do not reproduce the
 *              signed root or head (hashes recomputed from some event in the interval on);
 *   missing_checkpoint / forged_checkpoint  see checkpoint checks above;
 *   conflicting_checkpoint  two different validly signed checkpoints for one tree size (across
 *              the anchors and the table): history rewritten and signed again;
 *   late_checkpoint  an RFC 3161 timestamp long after the events the checkpoint newly covers.
 *
 * With several anchors (verify-store.ts), each anchor's records are checked on their own, then
 * compared with each other and with the table (checkpointFindings); the rows are checked against
 * the first external anchor's series.
 */
import { hash, type KeyObject, type X509Certificate } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { anchorRecordErrors, type AnchorFileError, type AnchorRecord } from './anchor.ts';
import { eventHash, GENESIS_HASH } from './canonical.ts';
import { checkAnchorTimestamp, checkTimestampToken } from './anchors/rfc3161.ts';
import { checkpointFieldErrors, eventLeafHash, keyId, verifyCheckpointSignature, type Checkpoint } from './checkpoint.ts';
import { MerkleAccumulator, verifyConsistency } from './merkle.ts';

export const FINDING_KINDS = [
  'modified',
  'deleted',
  'inserted',
  'reordered',
  'truncated',
  'rewritten',
  'missing_checkpoint',
  'forged_checkpoint',
  'conflicting_checkpoint',
  'late_checkpoint',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Finding {
  kind: FindingKind;
  /** The event position (or first of a range). */
  seq?: number;
  /** Last position of a range (deleted, truncated, rewritten). */
  seq_to?: number;
  event_id?: string;
  /** For checkpoint findings. */
  tree_size?: number;
  /** For checkpoint findings: which copy is missing or forged. */
  where?: 'anchor' | 'table';
  /** Which anchor, when several are configured (its URL). */
  anchor?: string;
  detail: string;
}

export interface VerifyProgress {
  events_checked: number;
  seq: number;
  /** Two-pass mode (verify-store.ts): hashing rows, or checking their order. */
  phase?: 'content' | 'order';
}

export interface VerifyOptions {
  chainId: string;
  /** First seq to check (default 1). Above 1, the link into `from` is trusted only when `from - 1` is an anchored checkpoint. */
  from?: number;
  /** Last seq to check (default: the head). */
  to?: number;
  /** The `checkpoints` table rows of the chain; omitted: the table is not compared. */
  tableCheckpoints?: Checkpoint[];
  /** Anchor files that could not be parsed (DirectoryAnchorSink.readAll().errors). */
  anchorErrors?: AnchorFileError[];
  /** Several anchors' copies (verify-store.ts); replaces `anchors` and `anchorErrors`. */
  sources?: AnchorSource[];
  /** Check the RFC 3161 timestamps in the records. */
  timestamps?: TimestampChecks;
  onProgress?: (p: VerifyProgress) => void;
  /** Rows between progress calls; default 50,000. */
  progressEvery?: number;
  /** Findings kept in the report (all are counted); default 1,000. */
  maxFindings?: number;
  /**
   * The result of scanContent() over the same rows in any order. With it, `rows` need only
   * seq, prev_hash, hash and event_id (the two-pass mode: see scanContent).
   */
  content?: ContentScan;
}

/**
 * Pass 1 of the two-pass mode: every row's hash recomputed from its columns, in any order (the
 * table's storage order needs no sort). Keeps the rows that do not hash (bounded) and a
 * multiset digest of (seq, prev_hash, hash, event_id) to prove that pass 2 saw the same rows.
 */
export interface ContentScan {
  /** rowKey → the full row (null past the first MAX_SUSPICIOUS_ROWS) of each row that does not hash. */
  suspicious: Map<string, Row | null>;
  count: number;
  digest: bigint;
}

export interface VerifyReport {
  ok: boolean;
  chain_id: string;
  from_seq: number;
  to_seq: number | null;
  first_seq: number | null;
  last_seq: number | null;
  events_checked: number;
  checkpoints: {
    /** Anchored checkpoints that passed the signature and structure checks. */
    anchored: number;
    in_table: number | null;
    /** Checkpoints whose Merkle root and head were reproduced from the stored rows. */
    verified: number;
    latest_tree_size: number;
  };
  /** Stored events after the newest anchored checkpoint (covered by the hash chain only). */
  unanchored_events: number;
  findings: Finding[];
  findings_total: number;
  counts: Partial<Record<FindingKind, number>>;
  notes: string[];
  /** The anchors checked (verify-store.ts): whether any lies outside the data directory matters. */
  anchors?: Array<{ url: string; kind: string; external: boolean }>;
  duration_ms: number;
}

/**
 * What an OK says about the anchors: with none outside the data directory, whoever can write it
 * can rewrite events, checkpoints and anchor records together, and verify would still say OK.
 */
export function anchorCaveat(anchors: VerifyReport['anchors']): string {
  if (!anchors) return '';
  if (!anchors.some((a) => a.external)) {
    return '; the only anchor is inside the data directory: this does not protect against anyone with write access to it (add an external anchor: serve --anchor s3://… or rfc3161+https://…)';
  }
  if (!anchors.some((a) => a.external && a.kind !== 'rfc3161')) {
    return '; anchor records are kept only inside the data directory: timestamps catch history signed again later, not the removal of the newest events with their checkpoints (add serve --anchor s3://… or a file:// anchor on storage the database admin cannot write)';
  }
  return '';
}

type Row = Record<string, unknown>;

interface Pos {
  row: Row;
  seq: number;
  hash: string;
  prev: string;
  id: string;
}

interface Interval {
  /** Tree size at which the interval starts (the checkpoint before it), or null if unknown. */
  start: number | null;
  /** Accumulator over leaves [0, start + appended); null once it cannot be kept aligned. */
  acc: MerkleAccumulator | null;
  findings: number;
}

const MAX_REMEMBERED = 100_000;
const MAX_PENDING = 10_000;

function toPos(row: Row): Pos {
  return {
    row,
    seq: Number(row.seq),
    hash: String(row.hash ?? ''),
    prev: String(row.prev_hash ?? ''),
    id: String(row.event_id ?? ''),
  };
}

const MAX_SUSPICIOUS_ROWS = 10_000;
const DIGEST_MASK = (1n << 128n) - 1n;

export function rowKey(row: Row): string {
  return `${String(row.seq)}\u0000${String(row.hash)}\u0000${String(row.event_id)}`;
}

function rowDigest(row: Row): bigint {
  const h = hash('sha256', `${String(row.seq)}\n${String(row.prev_hash)}\n${String(row.hash)}\n${String(row.event_id)}`, 'hex');
  return BigInt(`0x${h.slice(0, 32)}`);
}

function hashesAt(row: Row, hash: string, seq: number): boolean {
  try {
    return eventHash(String(row.seq) === String(seq) ? row : { ...row, seq: String(seq) }) === hash;
  } catch {
    return false;
  }
}

/** Pass 1 (see ContentScan). `rows` in any order, every column. */
export async function scanContent(
  rows: AsyncIterable<Row> | Iterable<Row>,
  opts: { onProgress?: (p: VerifyProgress) => void; progressEvery?: number } = {},
): Promise<ContentScan> {
  const scan: ContentScan = { suspicious: new Map(), count: 0, digest: 0n };
  const every = opts.progressEvery ?? 50_000;
  for await (const row of rows as AsyncIterable<Row>) {
    if (!Number.isSafeInteger(Number(row.seq))) continue; // skipped by verifyChain too (reported as a gap)
    scan.count++;
    scan.digest = (scan.digest + rowDigest(row)) & DIGEST_MASK;
    if (!hashesAt(row, String(row.hash), Number(row.seq))) {
      scan.suspicious.set(rowKey(row), scan.suspicious.size < MAX_SUSPICIOUS_ROWS ? row : null);
    }
    if (scan.count % every === 0) opts.onProgress?.({ events_checked: scan.count, seq: Number(row.seq) });
    if (scan.count % 1024 === 0) await yieldToLoop();
  }
  return scan;
}

const CHECKPOINT_FIELDS = [
  'chain_id',
  'tree_size',
  'root_hash',
  'head_seq',
  'head_hash',
  'created_at',
  'prev_tree_size',
  'prev_root_hash',
  'key_id',
  'signature',
] as const;

class ChainWalker {
  readonly findings: Finding[] = [];
  findingsTotal = 0;
  readonly counts: Partial<Record<FindingKind, number>> = {};
  private readonly maxFindings: number;
  private readonly from: number;
  private readonly to: number | undefined;
  /** Anchored checkpoints to check against, ascending, within [from, to]. */
  private readonly bounds: AnchorRecord[];
  private bIdx = 0;
  expect: number;
  private prevKnown = false;
  /** Stored hash → the seq where that event belongs (bounded, oldest forgotten first). */
  private readonly origSeq = new Map<string, number>();
  /** Insertion order of origSeq, for eviction (Map.keys().next() past many deletes is O(n) in V8). */
  private readonly ring: string[] = new Array(MAX_REMEMBERED);
  private ringAt = 0;
  /** Rows that do not hash where they are and whose predecessor has not been seen yet, by prev_hash. */
  private readonly pending = new Map<string, { pos: Pos; at: number }>();
  private prevRow: { seq: number; id: string; hash: string; foreign: boolean } | null = null;
  private interval: Interval;
  private lastClosed: { T: number; verified: boolean; rewritten: Finding | null } | null = null;
  verified = 0;
  checked = 0;
  firstSeq: number | null = null;
  lastSeq: number | null = null;

  private readonly content: ContentScan | undefined;
  /** Pass-2 digest, compared with the content scan's. */
  digest = 0n;

  constructor(bounds: AnchorRecord[], from: number, to: number | undefined, maxFindings: number, content?: ContentScan) {
    this.content = content;
    this.from = from;
    this.to = to;
    this.maxFindings = maxFindings;
    this.expect = from;
    const seed = bounds.find((b) => b.checkpoint.tree_size === from - 1);
    this.bounds = bounds.filter((b) => b.checkpoint.tree_size >= from && (to === undefined || b.checkpoint.tree_size <= to));
    if (from === 1) {
      this.prevKnown = true;
      this.interval = { start: 0, acc: new MerkleAccumulator(), findings: 0 };
    } else if (seed) {
      // Resume from a trusted (signed, anchored) checkpoint: its head hash is the expected link,
      // its compact range the Merkle state. This is how a chain stays verifiable after its
      // oldest partitions were dropped.
      this.prevKnown = true;
      this.remember(seed.checkpoint.head_hash, from - 1);
      this.interval = { start: from - 1, acc: MerkleAccumulator.fromJSON(seed.accumulator), findings: 0 };
    } else {
      this.interval = { start: null, acc: null, findings: 0 };
    }
  }

  /** Does this row hash correctly when placed at `seq`? */
  private rehashes(p: Pos, seq: number): boolean {
    if (!this.content) return hashesAt(p.row, p.hash, seq);
    const full = this.content.suspicious.get(rowKey(p.row));
    if (full === undefined) return seq === p.seq; // it hashed where it is stored (pass 1)
    return full !== null && seq !== p.seq && hashesAt(full, p.hash, seq);
  }

  add(f: Finding): Finding {
    this.findingsTotal++;
    this.counts[f.kind] = (this.counts[f.kind] ?? 0) + 1;
    if (f.seq !== undefined) this.interval.findings++;
    if (this.findings.length < this.maxFindings) this.findings.push(f);
    return f;
  }

  private drop(f: Finding): void {
    const i = this.findings.indexOf(f);
    if (i < 0) return;
    this.findings.splice(i, 1);
    this.findingsTotal--;
    this.counts[f.kind] = (this.counts[f.kind] ?? 1) - 1;
    if (this.counts[f.kind] === 0) delete this.counts[f.kind];
  }

  private remember(hash: string, seq: number): void {
    const old = this.ring[this.ringAt];
    if (old !== undefined && old !== hash) this.origSeq.delete(old);
    this.ring[this.ringAt] = hash;
    this.ringAt = (this.ringAt + 1) % MAX_REMEMBERED;
    this.origSeq.set(hash, seq);
    // A row waiting for its predecessor: it belongs right after `seq`.
    const waiting = this.pending.get(hash);
    if (waiting) {
      this.pending.delete(hash);
      this.resolveMoved(waiting.pos, seq + 1);
    }
  }

  /** A row that does not hash at its position; `x` is where its prev_hash says it belongs. */
  private resolveMoved(p: Pos, x: number): void {
    if (x !== p.seq && this.rehashes(p, x)) {
      this.add({
        kind: 'reordered',
        seq: p.seq,
        event_id: p.id,
        detail: `event ${p.id} is stored at seq ${p.seq} but was chained at seq ${x} (its seq was changed)`,
      });
      this.remember(p.hash, x);
    } else {
      this.addModified(p);
      this.remember(p.hash, p.seq);
    }
  }

  private addModified(p: Pos): void {
    this.add({
      kind: 'modified',
      seq: p.seq,
      event_id: p.id,
      detail: `event ${p.id} at seq ${p.seq}: its stored columns no longer hash to its stored hash`,
    });
  }

  private linkState(p: Pos): 'ok' | 'broken' | 'unknown' {
    if (p.seq === 1) return p.prev === GENESIS_HASH ? 'ok' : 'broken';
    if (this.origSeq.get(p.prev) === p.seq - 1) return 'ok';
    return this.prevKnown ? 'broken' : 'unknown';
  }

  /** One position: every row stored with this seq. `next` is the first row after it, if any. */
  group(rows: Row[], nextRow: Row | null): void {
    const group = rows.map(toPos);
    const next = nextRow ? toPos(nextRow) : null;
    if (this.content) for (const r of rows) this.digest = (this.digest + rowDigest(r)) & DIGEST_MASK;
    const s = group[0].seq;
    this.checked += group.length;
    this.firstSeq ??= s;
    this.lastSeq = s;
    if (s > this.expect) {
      this.add({
        kind: 'deleted',
        seq: this.expect,
        ...(s - 1 > this.expect ? { seq_to: s - 1 } : {}),
        detail:
          s - 1 > this.expect
            ? `events at seq ${this.expect}..${s - 1} are missing`
            : `the event at seq ${this.expect} is missing`,
      });
      this.prevKnown = false;
    }
    this.closeBoundaries(s - 1);
    let r = group[0];
    if (group.length > 1) {
      const score = (p: Pos) =>
        (this.rehashes(p, s) ? 1 : 0) + (this.linkState(p) === 'ok' ? 1 : 0) + (next && next.seq === s + 1 && next.prev === p.hash ? 2 : 0);
      r = group.reduce((best, p) => (score(p) > score(best) ? p : best), group[0]);
      for (const p of group) {
        if (p === r) continue;
        this.add({
          kind: 'inserted',
          seq: s,
          event_id: p.id,
          detail: `event ${p.id} is an extra row at seq ${s} (the chain's event there is ${r.id})`,
        });
      }
    }
    this.position(r, next);
    this.expect = s + 1;
  }

  private position(r: Pos, next: Pos | null): void {
    const s = r.seq;
    let leaf: string | null = r.hash;
    let foreign = false;
    if (this.rehashes(r, s)) {
      this.remember(r.hash, s);
      if (this.linkState(r) === 'broken' && !this.prevRow?.foreign) foreign = this.linkBreak(r, next);
    } else {
      const q = r.prev === GENESIS_HASH ? 0 : this.origSeq.get(r.prev);
      if (q !== undefined) {
        this.resolveMoved(r, q + 1);
        foreign = q + 1 !== s;
        if (foreign) leaf = null;
      } else if (!this.prevKnown) {
        this.addModified(r);
        this.remember(r.hash, s);
      } else {
        // Its predecessor may come later (a row moved backwards); decided when it does.
        this.pending.set(r.prev, { pos: r, at: this.checked });
        if (this.pending.size > MAX_PENDING) {
          const [k, v] = this.pending.entries().next().value as [string, { pos: Pos }];
          this.pending.delete(k);
          this.addModified(v.pos);
        }
        foreign = true;
        leaf = null;
      }
    }
    this.appendLeaf(s, leaf);
    this.prevRow = { seq: s, id: r.id, hash: r.hash, foreign };
    this.prevKnown = true;
  }

  /** Row r hashes correctly but its prev_hash is not the hash of the event before. Returns true if r is foreign. */
  private linkBreak(r: Pos, next: Pos | null): boolean {
    const s = r.seq;
    const atEnd = next === null && (this.to === undefined || s < this.to);
    if (atEnd || (next && next.seq === s + 1 && next.prev !== r.hash)) {
      this.add({
        kind: 'inserted',
        seq: s,
        event_id: r.id,
        detail: atEnd
          ? `event ${r.id} at seq ${s} (the last one) does not link to the event at seq ${s - 1}: it was added by someone else`
          : `event ${r.id} at seq ${s} links to neither neighbour: it does not belong to the chain`,
      });
      return true;
    }
    const lc = this.lastClosed;
    if (!this.prevRow || this.prevRow.seq !== s - 1) {
      // The first row checked: it must link to the genesis hash or the trusted checkpoint head.
      this.add({
        kind: 'modified',
        seq: s,
        event_id: r.id,
        detail: `event ${r.id} at seq ${s}: its prev_hash is not ${s === 1 ? 'the genesis hash' : `the head hash of checkpoint ${s - 1}`} (rewritten and rehashed)`,
      });
      return false;
    }
    if (lc && lc.T === s - 1 && lc.verified) {
      this.add({
        kind: 'modified',
        seq: s,
        event_id: r.id,
        detail: `event ${r.id} at seq ${s}: its prev_hash does not match the checkpointed event ${s - 1} (rewritten and rehashed)`,
      });
      return false;
    }
    const p = this.prevRow;
    if (lc && lc.T === s - 1 && lc.rewritten) this.drop(lc.rewritten);
    this.add({
      kind: 'modified',
      seq: p.seq,
      event_id: p.id,
      detail: `event ${p.id} at seq ${p.seq} was changed and its hash recomputed: the event after it still links to the original hash`,
    });
    return false;
  }

  private appendLeaf(s: number, hash: string | null): void {
    const iv = this.interval;
    if (iv.acc && hash && iv.acc.size === s - 1) {
      try {
        iv.acc.append(eventLeafHash(hash));
        return;
      } catch {
        /* a malformed stored hash: reported as modified already */
      }
    }
    iv.acc = null;
  }

  /** Checks every anchored checkpoint with tree_size <= upTo not yet checked. */
  closeBoundaries(upTo: number): void {
    while (this.bIdx < this.bounds.length && this.bounds[this.bIdx].checkpoint.tree_size <= upTo) {
      this.closeOne(this.bounds[this.bIdx++]);
    }
  }

  private closeOne(rec: AnchorRecord): void {
    const cp = rec.checkpoint;
    const T = cp.tree_size;
    const iv = this.interval;
    let verified = false;
    let rewritten: Finding | null = null;
    if (iv.acc && iv.acc.size === T && this.prevRow?.seq === T) {
      const rootOk = iv.acc.root().toString('hex') === cp.root_hash;
      const headOk = this.prevRow.hash === cp.head_hash;
      verified = rootOk && headOk;
      if (verified) this.verified++;
      else if (iv.findings === 0) {
        const lo = (iv.start ?? 0) + 1;
        rewritten = this.add({
          kind: 'rewritten',
          seq: lo,
          seq_to: T,
          tree_size: T,
          detail:
            `events ${lo}..${T} link to each other but do not reproduce checkpoint ${T}` +
            `${rootOk ? '' : "'s Merkle root"}${!rootOk && !headOk ? ' or' : ''}${headOk ? '' : ' head hash'}: ` +
            'an event in this interval was changed and the hashes after it recomputed',
        });
      }
    }
    this.lastClosed = { T, verified, rewritten };
    this.interval = { start: T, acc: MerkleAccumulator.fromJSON(rec.accumulator), findings: 0 };
  }

  finish(maxAnchored: number): void {
    const last = this.lastSeq ?? this.from - 1;
    this.closeBoundaries(last);
    for (const { pos } of this.pending.values()) this.addModified(pos);
    this.pending.clear();
    const expectedEnd = Math.min(this.to ?? Infinity, maxAnchored);
    if (expectedEnd > last) {
      this.add({
        kind: 'truncated',
        seq: last + 1,
        ...(expectedEnd > last + 1 ? { seq_to: expectedEnd } : {}),
        tree_size: maxAnchored,
        detail: `events ${last + 1}..${expectedEnd} are covered by checkpoint ${maxAnchored} but no longer stored: the newest events were removed`,
      });
    }
  }
}

/** One anchor's copy of a chain's checkpoints (verify-store.ts reads every configured anchor). */
export interface AnchorSource {
  /** The anchor's URL (file:///…, s3://…), named in findings when there are several. */
  url: string;
  external: boolean;
  records: AnchorRecord[];
  errors: AnchorFileError[];
}

/** The RFC 3161 checks (anchors/rfc3161.ts): which authorities, how late is too late. */
export interface TimestampChecks {
  authorities: Array<{ url: string; endpoint: string; trusted?: X509Certificate[] }>;
  /** A checkpoint timestamped later than this after its oldest new event (or its created_at) is late. */
  toleranceMs: number;
  /** seq → ingest time (epoch ms) of the first event of each checkpoint interval (prev_tree_size + 1). */
  eventTimes?: Map<number, number>;
}

export const DEFAULT_TIMESTAMP_TOLERANCE_MS = 3_600_000;

const iso = (ms: number) => new Date(ms).toISOString();
const minutes = (ms: number) => (ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`);

function checkpointFindings(
  sources: AnchorSource[],
  key: KeyObject,
  opts: VerifyOptions,
): { valid: AnchorRecord[]; findings: Finding[]; notes: string[] } {
  const findings: Finding[] = [];
  const notes: string[] = [];
  const seen = new Set<string>();
  const several = sources.length > 1;
  // One finding per checkpoint, copy and kind, however many checks noticed it.
  const push = (f: Finding) => {
    const k = `${f.kind}:${f.tree_size}:${f.where}:${f.anchor ?? ''}`;
    if (!seen.has(k)) findings.push(f);
    seen.add(k);
  };
  const tag = (url: string) => (several ? { anchor: url } : {});
  const forged = (tree_size: number | undefined, where: 'anchor' | 'table', detail: string, anchor?: string) =>
    push({ kind: 'forged_checkpoint', ...(tree_size !== undefined ? { tree_size } : {}), where, ...(anchor ? tag(anchor) : {}), detail });
  const missing = (tree_size: number, where: 'anchor' | 'table', detail: string, anchor?: string) =>
    push({ kind: 'missing_checkpoint', tree_size, where, ...(anchor ? tag(anchor) : {}), detail });
  const inAnchor = (url: string) => (several ? ` (${url})` : '');

  const expectedKey = keyId(key);
  /** Each source's records that pass the signature and structure checks, ascending. */
  const validBy = new Map<AnchorSource, AnchorRecord[]>();
  /** Each source's tree sizes holding any record, valid or not. */
  const sizesBy = new Map<AnchorSource, Set<number>>();
  for (const src of sources) {
    for (const e of src.errors) forged(e.tree_size ?? undefined, 'anchor', `anchor file ${e.file}: ${e.error}`, src.url);
    const sorted = [...src.records].sort((a, b) => a.checkpoint.tree_size - b.checkpoint.tree_size);
    sizesBy.set(src, new Set([...sorted.map((r) => r.checkpoint?.tree_size), ...src.errors.map((e) => e.tree_size ?? -1)]));
    const valid: AnchorRecord[] = [];
    for (const r of sorted) {
      const errors = anchorRecordErrors(r);
      if (r.checkpoint?.chain_id !== opts.chainId) errors.push(`it belongs to chain ${JSON.stringify(r.checkpoint?.chain_id)}`);
      if (errors.length === 0 && !verifyCheckpointSignature(r.checkpoint, key)) {
        errors.push(
          r.checkpoint.key_id === expectedKey
            ? 'its signature is not valid'
            : `it names key ${r.checkpoint.key_id}, not the given public key ${expectedKey}`,
        );
      }
      if (errors.length) forged(r.checkpoint?.tree_size, 'anchor', `anchored checkpoint ${r.checkpoint?.tree_size}${inAnchor(src.url)}: ${errors.join('; ')}`, src.url);
      else valid.push(r);
    }
    validBy.set(src, valid);

    // Successive checkpoints of this anchor must link and be consistent (no rollback, no fork).
    // Two records for one size (re-signed history) are reported below as a conflict; the links
    // are followed through the first of them.
    const series = valid.filter((r, i) => i === 0 || valid[i - 1].checkpoint.tree_size !== r.checkpoint.tree_size);
    const bySize = new Map(series.map((r) => [r.checkpoint.tree_size, r]));
    let prev: AnchorRecord | null = null;
    for (const r of series) {
      const cp = r.checkpoint;
      if (cp.prev_tree_size === 0) {
        if (prev) forged(cp.tree_size, 'anchor', `checkpoint ${cp.tree_size} claims to be the first of the chain but follows checkpoint ${prev.checkpoint.tree_size}${inAnchor(src.url)}: a restarted or forked chain`, src.url);
      } else {
        const ref = bySize.get(cp.prev_tree_size);
        if (!ref) {
          missing(cp.prev_tree_size, 'anchor', `checkpoint ${cp.tree_size} follows checkpoint ${cp.prev_tree_size}, which the anchor${inAnchor(src.url)} lacks`, src.url);
        } else if (ref.checkpoint.root_hash !== cp.prev_root_hash) {
          forged(cp.tree_size, 'anchor', `checkpoint ${cp.tree_size} names a different root for checkpoint ${cp.prev_tree_size} than the anchored one${inAnchor(src.url)}: a fork or a replaced checkpoint`, src.url);
        } else if (r.consistency) {
          const ok =
            r.consistency.from_tree_size === cp.prev_tree_size &&
            verifyConsistency(
              cp.prev_tree_size,
              cp.tree_size,
              (r.consistency.proof ?? []).map((h) => Buffer.from(String(h), 'hex')),
              Buffer.from(ref.checkpoint.root_hash, 'hex'),
              Buffer.from(cp.root_hash, 'hex'),
            );
          if (!ok) forged(cp.tree_size, 'anchor', `checkpoint ${cp.tree_size} is not an extension of checkpoint ${cp.prev_tree_size} (consistency proof fails)${inAnchor(src.url)}: a rollback or fork`, src.url);
        }
        if (prev && ref && prev !== ref) {
          // A valid checkpoint between them that nobody references: two series interleaved.
          forged(prev.checkpoint.tree_size, 'anchor', `checkpoint ${prev.checkpoint.tree_size} is skipped by checkpoint ${cp.tree_size}'s link to ${cp.prev_tree_size}${inAnchor(src.url)}`, src.url);
        }
      }
      prev = r;
    }
  }

  // The reference: the first external anchor (the copy an insider cannot reach), else the first.
  const ref = sources.find((s) => s.external) ?? sources[0];
  const table = opts.tableCheckpoints;
  const tableValid = (t: Checkpoint) => checkpointFieldErrors(t).length === 0 && t.chain_id === opts.chainId && verifyCheckpointSignature(t, key);

  // The ClickHouse table against the reference anchor, field by field.
  if (table && ref) {
    const anchoredAll = new Map(ref.records.map((r) => [r.checkpoint?.tree_size, r]));
    for (const t of table) {
      const a = anchoredAll.get(t.tree_size);
      if (!a) {
        if (!tableValid(t)) forged(t.tree_size, 'table', `checkpoint ${t.tree_size} in the checkpoints table is not in the anchor and its signature is not valid`);
        continue;
      }
      const differing = CHECKPOINT_FIELDS.filter((f) => String(t[f]) !== String(a.checkpoint[f]));
      // Both validly signed yet different: a conflict, reported below.
      if (differing.length && !(tableValid(t) && validBy.get(ref)!.includes(a))) {
        forged(t.tree_size, 'table', `checkpoint ${t.tree_size} in the checkpoints table differs from the anchored one in ${differing.join(', ')}`);
      }
    }
  }

  // Every validly signed version of each checkpoint, and who holds it: the anchors and the table.
  const versions = new Map<number, Map<string, { cp: Checkpoint; record: AnchorRecord | null; where: string[] }>>();
  const hold = (cp: Checkpoint, record: AnchorRecord | null, where: string) => {
    let bySig = versions.get(cp.tree_size);
    if (!bySig) versions.set(cp.tree_size, (bySig = new Map()));
    const v = bySig.get(cp.signature) ?? { cp, record, where: [] };
    v.record ??= record;
    if (!v.where.includes(where)) v.where.push(where);
    bySig.set(cp.signature, v);
  };
  for (const src of sources) for (const r of validBy.get(src)!) hold(r.checkpoint, r, src.url);
  for (const t of table ?? []) if (tableValid(t)) hold(t, null, 'table');
  const tableSizes = new Set((table ?? []).map((t) => t.tree_size));
  const named = (w: string[]) => w.map((x) => (x === 'table' ? 'the checkpoints table' : x)).join(', ');

  for (const size of [...versions.keys()].sort((a, b) => a - b)) {
    const vs = [...versions.get(size)!.values()].sort((a, b) => (a.cp.created_at < b.cp.created_at ? -1 : 1));
    if (vs.length > 1) {
      push({
        kind: 'conflicting_checkpoint',
        tree_size: size,
        detail:
          `checkpoint ${size} exists in ${vs.length} different signed versions: ` +
          vs.map((v) => `root ${v.cp.root_hash.slice(0, 12)}… created ${v.cp.created_at} (in ${named(v.where)})`).join(' and ') +
          ': history was rewritten and signed again',
      });
      continue;
    }
    const v = vs[0];
    for (const src of sources) {
      if (v.where.includes(src.url) || sizesBy.get(src)!.has(size)) continue;
      missing(
        size,
        'anchor',
        v.where.length === 1 && v.where[0] === 'table'
          ? `checkpoint ${size} is in the checkpoints table, validly signed, but not in the anchor${inAnchor(src.url)}`
          : `checkpoint ${size} (in ${named(v.where)}) is missing from the anchor ${src.url}: ` +
            (src.external
              ? 'this anchor never received it (signed by a bridge without this anchor, or while it was unreachable)'
              : 'it was removed from this copy'),
        src.url,
      );
    }
    if (table && !tableSizes.has(size)) missing(size, 'table', `anchored checkpoint ${size}${several ? ` (in ${named(v.where)})` : ''} is missing from the checkpoints table`);
  }

  // The series the rows are checked against: the reference anchor's, one record per size (of
  // two versions, the one the most copies hold; a conflict is reported above either way).
  const refValid = ref ? validBy.get(ref)! : [];
  const valid: AnchorRecord[] = [];
  for (const r of refValid) {
    const last = valid.at(-1);
    if (last?.checkpoint.tree_size !== r.checkpoint.tree_size) {
      valid.push(r);
      continue;
    }
    const copies = (x: AnchorRecord) => versions.get(x.checkpoint.tree_size)?.get(x.checkpoint.signature)?.where.length ?? 0;
    if (copies(r) > copies(last)) valid[valid.length - 1] = r;
  }

  if (opts.timestamps) timestampFindings(versions, opts.timestamps, push, notes);
  return { valid, findings, notes };
}

/** The RFC 3161 tokens in every version of every checkpoint (anchors/rfc3161.ts). */
function timestampFindings(
  versions: Map<number, Map<string, { cp: Checkpoint; record: AnchorRecord | null; where: string[] }>>,
  ts: TimestampChecks,
  push: (f: Finding) => void,
  notes: string[],
): void {
  const records = [...versions.keys()]
    .sort((a, b) => a - b)
    .flatMap((size) => [...versions.get(size)!.values()].map((v) => v.record).filter((r): r is AnchorRecord => r !== null));
  const configured = new Map(ts.authorities.map((a) => [a.endpoint, a]));
  for (const a of ts.authorities) {
    const first = records.findIndex((r) => r.timestamps?.some((t) => t.authority === a.endpoint));
    if (first < 0) {
      if (records.length) notes.push(`no checkpoint carries a timestamp from ${a.url} yet: it covers the checkpoints signed from now on`);
      continue;
    }
    if (first > 0) notes.push(`checkpoints up to ${records[first - 1].checkpoint.tree_size} predate ${a.url} and carry no timestamp from it`);
    for (const r of records.slice(first)) {
      if (!r.timestamps?.some((t) => t.authority === a.endpoint)) {
        push({
          kind: 'missing_checkpoint',
          tree_size: r.checkpoint.tree_size,
          where: 'anchor',
          anchor: a.url,
          detail: `checkpoint ${r.checkpoint.tree_size} has no timestamp from ${a.endpoint} (the authority was unreachable when it was signed, or it was signed by a bridge without it)`,
        });
      }
    }
    if (!a.trusted) {
      const signer = records.flatMap((r) => r.timestamps ?? []).find((t) => t.authority === a.endpoint);
      const info = signer ? checkTimestampToken(Buffer.from(signer.token, 'base64'), { imprint: Buffer.alloc(32) }).info : null;
      if (info) notes.push(`${a.url}: the TSA certificate is not pinned (?ca=FILE); tokens were checked against the one they carry: ${info.signer.subject} (SHA-256 ${info.signer.fingerprint256})`);
    }
  }
  for (const r of records) {
    const cp = r.checkpoint;
    for (const t of r.timestamps ?? []) {
      const a = configured.get(t.authority);
      const where = a?.url ?? `rfc3161+${t.authority}`;
      const check = checkAnchorTimestamp(t, cp, a?.trusted);
      if (check.errors.length || !check.info) {
        push({ kind: 'forged_checkpoint', tree_size: cp.tree_size, where: 'anchor', anchor: where, detail: `the timestamp of checkpoint ${cp.tree_size} from ${t.authority} is not valid: ${check.errors.join('; ')}` });
        continue;
      }
      const gen = check.info.genTime.getTime();
      const created = Date.parse(cp.created_at);
      const firstEvent = ts.eventTimes?.get(cp.prev_tree_size + 1);
      if (firstEvent !== undefined && gen - firstEvent > ts.toleranceMs) {
        push({
          kind: 'late_checkpoint',
          tree_size: cp.tree_size,
          seq: cp.prev_tree_size + 1,
          seq_to: cp.tree_size,
          anchor: where,
          detail:
            `checkpoint ${cp.tree_size} was timestamped at ${iso(gen)}, ${minutes(gen - firstEvent)} after the first event it newly covers ` +
            `(seq ${cp.prev_tree_size + 1}, ingested ${iso(firstEvent)}; tolerance ${minutes(ts.toleranceMs)}): these events were signed late, ` +
            'as when history is rewritten and signed again (or the store was down that long: see the bridge log)',
        });
      } else if (gen - created > ts.toleranceMs) {
        push({ kind: 'late_checkpoint', tree_size: cp.tree_size, anchor: where, detail: `checkpoint ${cp.tree_size} says it was created at ${cp.created_at} but was timestamped only at ${iso(gen)}` });
      } else if (created - gen > ts.toleranceMs) {
        push({ kind: 'forged_checkpoint', tree_size: cp.tree_size, where: 'anchor', anchor: where, detail: `checkpoint ${cp.tree_size} says it was created at ${cp.created_at}, after its own timestamp ${iso(gen)}: its created_at is false (or the bridge's clock is off)` });
      }
    }
  }
}

/**
 * Verifies one chain. `rows` must be the chain's rows ordered by seq (duplicates adjacent),
 * restricted to [from, to]; `anchors` the chain's anchor records (the trusted copy), `key` the
 * public key the checkpoints must be signed with. Memory stays bounded whatever the row count.
 */
export async function verifyChain(
  rows: AsyncIterable<Row> | Iterable<Row>,
  anchors: AnchorRecord[],
  key: KeyObject,
  opts: VerifyOptions,
): Promise<VerifyReport> {
  const t0 = Date.now();
  const from = opts.from ?? 1;
  if (!Number.isSafeInteger(from) || from < 1) throw new RangeError(`from must be a positive integer, got ${from}`);
  if (opts.to !== undefined && (!Number.isSafeInteger(opts.to) || opts.to < from)) throw new RangeError(`to must be an integer >= from`);
  const sources = opts.sources ?? [{ url: 'anchor', external: false, records: anchors, errors: opts.anchorErrors ?? [] }];
  const { valid, findings: cpFindings, notes: cpNotes } = checkpointFindings(sources, key, opts);
  const walker = new ChainWalker(valid, from, opts.to, opts.maxFindings ?? 1000, opts.content);
  for (const f of cpFindings) walker.add(f);

  const every = opts.progressEvery ?? 50_000;
  let group: Row[] = [];
  let groupSeq = -1;
  let n = 0;
  for await (const row of rows as AsyncIterable<Row>) {
    const seq = Number(row.seq);
    if (!Number.isSafeInteger(seq) || seq < from || (opts.to !== undefined && seq > opts.to)) continue;
    if (seq < groupSeq) throw new Error(`rows are not ordered by seq (${seq} after ${groupSeq})`);
    if (seq === groupSeq) {
      group.push(row);
      continue;
    }
    if (group.length) walker.group(group, row);
    group = [row];
    groupSeq = seq;
    n++;
    if (n % every === 0) opts.onProgress?.({ events_checked: walker.checked, seq });
    // The bridge keeps serving while it verifies: hand the event loop back now and then.
    if (n % 1024 === 0) await yieldToLoop();
  }
  if (group.length) walker.group(group, null);
  if (opts.content && (walker.checked !== opts.content.count || walker.digest !== opts.content.digest)) {
    throw new Error(
      `the chain changed between the two passes (${opts.content.count} rows hashed, ${walker.checked} rows ordered): ` +
        'rows at or below the head were added, removed or altered while verify ran. Run verify again.',
    );
  }
  const maxAnchored = valid.length ? valid[valid.length - 1].checkpoint.tree_size : 0;
  walker.finish(maxAnchored);
  opts.onProgress?.({ events_checked: walker.checked, seq: walker.lastSeq ?? 0 });

  const notes: string[] = [...cpNotes];
  if (valid.length === 0) notes.push('no valid anchored checkpoint: only the hash chain was checked, so truncation and recomputed hashes go unnoticed');
  if (from > 1 && !valid.some((r) => r.checkpoint.tree_size === from - 1)) {
    notes.push(`seq ${from - 1} is not an anchored checkpoint: the link into seq ${from} is not checked`);
  }
  if (walker.firstSeq !== null && walker.firstSeq > from && from === 1) {
    notes.push(`the oldest stored event is seq ${walker.firstSeq}; if older partitions were dropped on purpose, verify from a checkpoint boundary with --from`);
  }
  const last = walker.lastSeq;
  // Checkpoint findings first, then by position (a reorder is resolved at the later row).
  const bySeq = walker.findings.filter((f) => f.seq !== undefined).sort((a, b) => a.seq! - b.seq!);
  const findings = [...walker.findings.filter((f) => f.seq === undefined), ...bySeq];
  return {
    ok: walker.findingsTotal === 0,
    chain_id: opts.chainId,
    from_seq: from,
    to_seq: opts.to ?? null,
    first_seq: walker.firstSeq,
    last_seq: last,
    events_checked: walker.checked,
    checkpoints: {
      anchored: valid.length,
      in_table: opts.tableCheckpoints ? opts.tableCheckpoints.length : null,
      verified: walker.verified,
      latest_tree_size: maxAnchored,
    },
    unanchored_events: last !== null && last > maxAnchored ? last - Math.max(maxAnchored, from - 1) : 0,
    findings,
    findings_total: walker.findingsTotal,
    counts: walker.counts,
    notes,
    duration_ms: Date.now() - t0,
  };
}

/** A short text rendering of a report, for the CLI and logs. */
export function formatReport(r: VerifyReport): string {
  const lines: string[] = [];
  const range = r.last_seq === null ? 'no events' : `seq ${r.first_seq}..${r.last_seq}`;
  lines.push(
    `${r.ok ? 'OK' : 'BROKEN'}: chain ${r.chain_id}, ${r.events_checked} events checked (${range}), ` +
      `${r.checkpoints.verified}/${r.checkpoints.anchored} anchored checkpoints reproduced` +
      (r.checkpoints.in_table !== null ? `, ${r.checkpoints.in_table} in the table` : '') +
      `, ${(r.duration_ms / 1000).toFixed(1)} s` +
      (r.ok ? anchorCaveat(r.anchors) : ''),
  );
  if (r.unanchored_events > 0) lines.push(`${r.unanchored_events} newest events are not yet covered by a checkpoint (hash chain only)`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  if (!r.ok) {
    lines.push(
      `${r.findings_total} finding(s): ` +
        Object.entries(r.counts)
          .map(([k, v]) => `${v} ${k}`)
          .join(', '),
    );
    for (const f of r.findings) {
      const where = f.seq !== undefined ? `seq ${f.seq}${f.seq_to !== undefined ? `..${f.seq_to}` : ''}` : `checkpoint ${f.tree_size}`;
      const id = f.event_id ? ` event ${f.event_id}` : '';
      const copy = f.where || f.anchor ? ` (${[f.where, f.anchor].filter(Boolean).join(': ')})` : '';
      lines.push(`  ${f.kind.padEnd(18)} ${where}${id}${copy}: ${f.detail}`);
    }
    if (r.findings_total > r.findings.length) lines.push(`  ... and ${r.findings_total - r.findings.length} more`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Several chains verified together (`verify` without `--chain`: every chain of an instance,
 * one per risk level). The totals keep the single-chain report's fields, so that readers of
 * `ok`, `events_checked`, `findings` and `counts` need not know; `chains` holds each report.
 * Findings carry their chain_id.
 */
export interface MultiChainReport extends VerifyReport {
  chains: VerifyReport[];
}

export function combineReports(instanceChainId: string, reports: VerifyReport[], opts: { from?: number; to?: number } = {}): MultiChainReport {
  const counts: Partial<Record<FindingKind, number>> = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.counts)) counts[k as FindingKind] = (counts[k as FindingKind] ?? 0) + (v ?? 0);
  const sum = (f: (r: VerifyReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const inTable = reports.map((r) => r.checkpoints.in_table);
  return {
    ok: reports.every((r) => r.ok),
    chain_id: instanceChainId,
    from_seq: opts.from ?? 1,
    to_seq: opts.to ?? null,
    first_seq: null,
    last_seq: null,
    events_checked: sum((r) => r.events_checked),
    checkpoints: {
      anchored: sum((r) => r.checkpoints.anchored),
      in_table: inTable.some((n) => n === null) ? null : sum((r) => r.checkpoints.in_table ?? 0),
      verified: sum((r) => r.checkpoints.verified),
      latest_tree_size: Math.max(0, ...reports.map((r) => r.checkpoints.latest_tree_size)),
    },
    unanchored_events: sum((r) => r.unanchored_events),
    findings: reports.flatMap((r) => r.findings.map((f) => ({ ...f, chain_id: r.chain_id }))),
    findings_total: sum((r) => r.findings_total),
    counts,
    notes: reports.flatMap((r) => r.notes.map((n) => `${r.chain_id}: ${n}`)),
    ...(reports[0]?.anchors ? { anchors: reports[0].anchors } : {}),
    duration_ms: sum((r) => r.duration_ms),
    chains: reports,
  };
}

/** formatReport for a combined report: a summary line, then each chain's report. */
export function formatMultiReport(r: MultiChainReport): string {
  const per = r.chains.map((c) => `${c.chain_id} ${c.events_checked}`).join(', ');
  const head =
    `${r.ok ? 'OK' : 'BROKEN'}: chain ${r.chain_id}, ${r.events_checked} events checked in ${r.chains.length} chains (${per}), ` +
    `${r.findings_total} finding(s), ${(r.duration_ms / 1000).toFixed(1)} s${r.ok ? anchorCaveat(r.anchors) : ''}\n`;
  return head + r.chains.map((c) => formatReport({ ...c, anchors: undefined })).join('');
}
