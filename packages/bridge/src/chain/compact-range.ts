/**
 * RFC 6962 consistency proofs from a compact range, so the checkpointer can prove "checkpoint n
 * extends checkpoint m" while holding only O(log m) hashes for the old tree plus the leaves
 * added since m (never the whole log).
 *
 * Why this works: in the SUBPROOF recursion of RFC 6962 §2.1.2 every node the proof takes from
 * the old part [0, m) is a perfect subtree that is exactly one node of m's compact range (the
 * left subtrees it takes while m > k, and the final one when m is reached), and every other node
 * covers leaves in [m, n) only.
 */
import { consistencyPath, MerkleAccumulator, type MerkleAccumulatorState } from './merkle.ts';

/** [start, end) of each compact-range node of size m, largest first, with its hash. */
function compactNodes(state: MerkleAccumulatorState): Map<string, Buffer> {
  const nodes = new Map<string, Buffer>();
  let offset = 0;
  let i = 0;
  // Set bits of size, highest first: 2^52 covers every safe integer.
  for (let bit = 2 ** 52; bit >= 1; bit /= 2) {
    if (Math.floor(state.size / bit) % 2 === 1) {
      nodes.set(`${offset}:${offset + bit}`, Buffer.from(state.hashes[i++], 'hex'));
      offset += bit;
    }
  }
  return nodes;
}

/**
 * Consistency proof from tree size `old.size` to `old.size + newLeaves.length`, identical to
 * merkle.ts consistencyProof() over the full leaf list. `newLeaves` are the leaf hashes
 * (eventLeafHash) of the entries appended since. Throws if old.size is 0 or the state is malformed.
 */
export function consistencyProofFromCompactRange(old: MerkleAccumulatorState, newLeaves: readonly Uint8Array[]): Buffer[] {
  MerkleAccumulator.fromJSON(old); // validates the state
  const m = old.size;
  const n = m + newLeaves.length;
  if (m <= 0) throw new RangeError('a consistency proof needs a non-empty old tree');
  const compact = compactNodes(old);
  const subtreeRoot = (start: number, end: number): Buffer => {
    if (end <= m) {
      const h = compact.get(`${start}:${end}`);
      if (!h) throw new Error(`internal: [${start}, ${end}) is not a compact-range node of size ${m}`);
      return h;
    }
    if (start < m) throw new Error(`internal: [${start}, ${end}) straddles the old tree size ${m}`);
    const acc = new MerkleAccumulator();
    for (let i = start; i < end; i++) acc.append(newLeaves[i - m]);
    return acc.root();
  };
  return consistencyPath(m, n, subtreeRoot);
}
