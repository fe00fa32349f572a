import { eventLeafHash } from './checkpoint.ts';
import { consistencyProofFromCompactRange } from './compact-range.ts';
import { MerkleAccumulator, type MerkleAccumulatorState } from './merkle.ts';

/** A Merkle accumulator's new state after a run of event hashes, and their leaves when asked for. */
export interface AppendedLeaves {
  state: MerkleAccumulatorState;
  /** The leaf hashes, 32 bytes each in seq order (`keepLeaves`), or null. */
  leaves: Uint8Array | null;
}

/**
 * Appends event hashes (seq order) to the accumulator whose state is given. A pure function of
 * its arguments, so that it can run on an intake worker: two SHA-256 per event (the leaf, and a
 * node on average) were the main thread's largest single item after the rows.
 */
export function appendEventHashes(state: MerkleAccumulatorState, hashes: readonly string[], keepLeaves: boolean): AppendedLeaves {
  const acc = MerkleAccumulator.fromJSON(state);
  const leaves = keepLeaves ? new Uint8Array(hashes.length * 32) : null;
  for (let i = 0; i < hashes.length; i++) {
    const leaf = eventLeafHash(hashes[i]);
    acc.append(leaf);
    leaves?.set(leaf, i * 32);
  }
  return { state: acc.toJSON(), leaves };
}

/**
 * The RFC 6962 consistency proof from the tree whose state is `old` to that tree plus `leaves`
 * (32 bytes each, seq order), as hex. Pure, like `appendEventHashes`: a checkpoint's proof
 * hashes every leaf since the previous checkpoint once more.
 */
export function consistencyProofHex(old: MerkleAccumulatorState, leaves: Uint8Array): string[] {
  if (leaves.byteLength % 32 !== 0) throw new RangeError(`leaves must be 32 bytes each, got ${leaves.byteLength} bytes`);
  const views: Uint8Array[] = new Array(leaves.byteLength / 32);
  for (let i = 0; i < views.length; i++) views[i] = leaves.subarray(i * 32, i * 32 + 32);
  return consistencyProofFromCompactRange(old, views).map((h) => h.toString('hex'));
}
