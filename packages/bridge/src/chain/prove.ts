/**
 * Inclusion proofs from the store. The bundle is proof.ts's (PROOF_BUNDLE_FORMAT), but its audit
 * path is computed while streaming the chain's hashes in seq order with O(log n) memory:
 * proof.ts buildProofBundle() wants every hash of the tree in an array, which for a 10M-event
 * chain is ~1 GB of strings. The cost is still O(tree size) per proof (~6 s per million events,
 * mostly reading the hashes in seq order); see README, "Proof cost".
 */
import type { KeyObject } from 'node:crypto';
import type { Store } from '../store/store.ts';
import { anchorRecordErrors, type AnchorRecord } from './anchor.ts';
import type { AnchorSet } from './anchors/set.ts';
import { eventHash } from './canonical.ts';
import { eventLeafHash, verifyCheckpointSignature, type Checkpoint } from './checkpoint.ts';
import type { Checkpointer } from './checkpointer.ts';
import { MerkleAccumulator } from './merkle.ts';
import { PROOF_BUNDLE_FORMAT, verifyProofBundle, type InclusionProofBundle } from './proof.ts';
import { chainRows } from './source.ts';

function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The [start, end) leaf ranges whose roots form the audit path of `index` in a tree of `size`, lowest level first. */
export function auditPathRanges(index: number, size: number): Array<[number, number]> {
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new RangeError(`leaf index ${index} out of range for tree size ${size}`);
  const ranges: Array<[number, number]> = [];
  let start = 0;
  let end = size;
  let m = index;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (m < k) {
      ranges.push([start + k, end]);
      end = start + k;
    } else {
      ranges.push([start, start + k]);
      start += k;
      m -= k;
    }
  }
  return ranges.reverse();
}

/** Thrown when the stored chain cannot produce a valid proof (a gap, a changed hash...). */
export class ProofUnavailableError extends Error {}

/**
 * Builds the bundle for a stored event row against a checkpoint covering it, reading the chain's
 * hashes 1..tree_size from the store. Checks the result with the offline verifier before
 * returning it, so a tampered store yields an error, never a bundle that fails later.
 */
export async function buildInclusionBundle(
  store: Store,
  event: Record<string, unknown>,
  checkpoint: Checkpoint,
  publicKey: KeyObject,
): Promise<InclusionProofBundle> {
  const seq = Number(event.seq);
  const index = seq - 1;
  const size = checkpoint.tree_size;
  if (!(index >= 0 && index < size)) throw new ProofUnavailableError(`event seq ${seq} is not covered by checkpoint ${size}`);
  const ranges = auditPathRanges(index, size);
  const order = ranges.map((r, i) => ({ r, i })).sort((a, b) => a.r[0] - b.r[0]);
  const roots: Buffer[] = new Array(ranges.length);
  let cur = 0;
  let acc = new MerkleAccumulator();
  let expect = 1;
  for await (const row of chainRows<{ seq: string; hash: string }>(store, { chainId: checkpoint.chain_id, from: 1, to: size, columns: 'seq, hash' })) {
    const s = Number(row.seq);
    if (s !== expect) {
      throw new ProofUnavailableError(
        `the stored chain ${checkpoint.chain_id} is not continuous at seq ${s < expect ? s : expect} (a duplicate or a gap): run "otel-audit verify"`,
      );
    }
    expect++;
    const p = s - 1;
    if (p === index) {
      if (row.hash !== event.hash) throw new ProofUnavailableError(`the stored hash at seq ${s} changed while building the proof`);
      continue;
    }
    while (cur < order.length && p >= order[cur].r[1]) cur++;
    const slot = order[cur];
    if (!slot || p < slot.r[0]) throw new Error(`internal: leaf ${p} outside the audit path ranges`);
    acc.append(eventLeafHash(row.hash));
    if (p === slot.r[1] - 1) {
      roots[slot.i] = acc.root();
      acc = new MerkleAccumulator();
    }
  }
  if (expect !== size + 1) {
    throw new ProofUnavailableError(`checkpoint ${size} covers ${size} events but only ${expect - 1} are stored: run "otel-audit verify"`);
  }
  const bundle: InclusionProofBundle = {
    format: PROOF_BUNDLE_FORMAT,
    event,
    event_hash: String(event.hash),
    leaf_index: index,
    tree_size: size,
    audit_path: roots.map((h) => h.toString('hex')),
    checkpoint,
  };
  const check = verifyProofBundle(bundle, publicKey, eventHash);
  if (!check.ok) {
    throw new ProofUnavailableError(`the stored events do not reproduce checkpoint ${size}: ${check.errors.join(' ')} Run "otel-audit verify".`);
  }
  return bundle;
}

/** The event is newer than every checkpoint of its chain, and none could be made now. */
export class NotCoveredError extends Error {}

export interface ProveOptions {
  /** The bridge's anchors (every checkpointer's, configured alike). */
  anchors: AnchorSet;
  publicKey: KeyObject;
  /** The event's own chain's checkpointer (none for a legacy chain): checkpoints now if needed. */
  checkpointer: Checkpointer | null;
}

/**
 * The inclusion proof bundle of a stored event row (every column) against the newest anchored
 * checkpoint of its chain, checkpointing first when the event is newer than it. Throws
 * NotCoveredError (no checkpoint covers it yet) or ProofUnavailableError (the store or the
 * anchor does not give a valid proof: run verify).
 */
export async function proveStoredEvent(store: Store, event: Record<string, unknown>, o: ProveOptions): Promise<InclusionProofBundle> {
  const chainId = String(event.chain_id);
  const seq = Number(event.seq);
  let sizes = await o.anchors.sizes(chainId);
  if ((sizes.at(-1) ?? 0) < seq && o.checkpointer) {
    await o.checkpointer.checkpointNow();
    sizes = await o.anchors.sizes(chainId);
  }
  const newest = sizes.at(-1) ?? 0;
  if (newest < seq) {
    const halted = o.checkpointer ? o.checkpointer.status().halted : null;
    throw new NotCoveredError(`event ${String(event.event_id)} (chain ${chainId}, seq ${seq}) is not covered by a checkpoint yet${halted ? `: the checkpointer is halted (${halted})` : ''}`);
  }
  let record: AnchorRecord;
  try {
    record = await o.anchors.read(chainId, newest);
  } catch (err) {
    throw new ProofUnavailableError(`cannot read the newest anchor of chain ${chainId}: ${(err as Error).message}`);
  }
  if (anchorRecordErrors(record).length || !verifyCheckpointSignature(record.checkpoint, o.publicKey)) {
    throw new ProofUnavailableError(`the newest anchored checkpoint of chain ${chainId} (${newest}) is not valid for this bridge's key: run "otel-audit verify"`);
  }
  return buildInclusionBundle(store, event, record.checkpoint, o.publicKey);
}
