import { eventLeafHash } from './checkpoint.ts';
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
