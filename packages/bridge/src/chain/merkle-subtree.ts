/**
 * Subtree inclusion and subtree consistency proof verification (Merkle Tree Certificates,
 * draft-ietf-plants-merkle-tree-certs), over the RFC 6962 / RFC 9162 hashing of `merkle.ts`.
 *
 * A subtree is the interval [start, end) of a log's leaves where start is a multiple of
 * BIT_CEIL(end - start) (or start == 0): a perfect subtree, or the rightmost partial subtree of a
 * tree of size `end`. start == end is the valid empty subtree, whose hash is SHA-256("").
 *
 * Ported from transparency-dev/merkle (Apache-2.0): `proof/verify.go` (VerifySubtreeInclusion,
 * VerifySubtreeConsistency, RootFromSubtreeConsistencyProof, decompSubtreeProof and the chain
 * helpers) and `isSubtreeValid` / `bitCeil` from `proof/proof.go`, with the empty-subtree rule of
 * transparency-dev/merkle#254. Go's uint64 bit arithmetic is done with BigInt.
 *
 * Like the verifiers in merkle.ts these return false on any bad input and never throw. Indices must
 * be safe integers (JSON cannot carry larger ones exactly, and no otel-audit tree gets near 2^53).
 * Two deliberate tightenings over the Go code, neither of which changes the outcome of any
 * published vector: proof elements must be 32-byte hashes (Go hashes whatever length it is
 * given, which lets a byte slide between adjacent elements), and a subtree root that gets hashed
 * must be 32 bytes.
 */
import { HASH_SIZE, emptyRoot, nodeHash } from './merkle.ts';

function isIndex(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_SIZE;
}

function isProof(proof: unknown): proof is Uint8Array[] {
  return Array.isArray(proof) && proof.every(isHash);
}

function bytesEqual(a: unknown, b: unknown): boolean {
  return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
}

/** bits.Len64: number of bits needed to represent x (0 for 0). */
function bitLen(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/** bits.OnesCount64. */
function onesCount(x: bigint): number {
  let c = 0;
  for (let v = x; v > 0n; v >>= 1n) c += Number(v & 1n);
  return c;
}

/** bits.TrailingZeros64 (64 for 0). */
function trailingZeros(x: bigint): number {
  if (x === 0n) return 64;
  let n = 0;
  for (let v = x; (v & 1n) === 0n; v >>= 1n) n++;
  return n;
}

/** Smallest power of two >= n. Only for n <= 2^63. */
function bitCeil(n: bigint): bigint {
  return n <= 1n ? 1n : 1n << BigInt(bitLen(n - 1n));
}

function validSubtree(start: bigint, end: bigint): boolean {
  if (start > end) return false;
  if (start === 0n || start === end) return true;
  const l = end - start;
  if (l > 1n << 63n) return false;
  return (start & (bitCeil(l) - 1n)) === 0n;
}

/**
 * Whether [start, end) is a valid subtree: 0 <= start <= end and start is a multiple of
 * BIT_CEIL(end - start). (start == end, the empty subtree, is valid.)
 */
export function isValidSubtree(start: number, end: number): boolean {
  return isIndex(start) && isIndex(end) && validSubtree(BigInt(start), BigInt(end));
}

/** Hashes proof[i] on the side given by bit i of `index` (below the fork with the right border). */
function chainInner(seed: Uint8Array, proof: readonly Uint8Array[], index: bigint): Buffer {
  let r: Buffer = Buffer.from(seed);
  proof.forEach((h, i) => {
    r = ((index >> BigInt(i)) & 1n) === 0n ? nodeHash(r, h) : nodeHash(h, r);
  });
  return r;
}

/** Like chainInner but only takes left siblings: the hash of the earlier version of the subtree. */
function chainInnerRight(seed: Uint8Array, proof: readonly Uint8Array[], index: bigint): Buffer {
  let r: Buffer = Buffer.from(seed);
  proof.forEach((h, i) => {
    if (((index >> BigInt(i)) & 1n) === 1n) r = nodeHash(h, r);
  });
  return r;
}

/** Chains left siblings along the right border. */
function chainBorderRight(seed: Uint8Array, proof: readonly Uint8Array[]): Buffer {
  let r: Buffer = Buffer.from(seed);
  for (const h of proof) r = nodeHash(h, r);
  return r;
}

/** Lengths of the inner part (below where paths to index and size-1 diverge) and border part. */
function decompInclProof(index: bigint, size: bigint): [number, number] {
  const inner = bitLen(index ^ (size - 1n));
  return [inner, onesCount(index >> BigInt(inner))];
}

/** RootFromInclusionProof; null where Go returns an error. */
function rootFromInclusionProof(
  index: bigint,
  size: bigint,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer | null {
  if (index >= size) return null;
  if (!isHash(leafHash)) return null;
  const [inner, border] = decompInclProof(index, size);
  if (proof.length !== inner + border) return null;
  const r = chainInner(leafHash, proof.slice(0, inner), index);
  return chainBorderRight(r, proof.slice(inner));
}

/**
 * decompSubtreeProof: the slices of a (seedless) subtree consistency proof that rebuild the
 * [start, end) subtree root: inner nodes up to the subtree height (only left siblings get used),
 * then the border nodes that lie inside the subtree.
 */
function decompSubtreeProof(
  start: bigint,
  end: bigint,
  size: bigint,
  border: number,
  proof: readonly Uint8Array[],
): [Uint8Array[], Uint8Array[]] | null {
  const h = bitLen((end - 1n) ^ start);
  const forkLevel = bitLen((end - 1n) ^ (size - 1n));
  const shift = trailingZeros(end - start);
  const subInner = Math.min(h, forkLevel) - shift;
  const inner = forkLevel - shift;
  const subBorder = Math.max(0, border - onesCount((end - 1n) >> BigInt(h)));
  if (subInner < 0 || inner < 0 || inner + subBorder > proof.length) return null;
  return [proof.slice(0, subInner), proof.slice(inner, inner + subBorder)];
}

/** rootFromSubtreeConsistencyProof for a valid, non-empty subtree with end <= size, not [0, size). */
function rootFromSubtreeConsistencyProof(
  start: bigint,
  end: bigint,
  size: bigint,
  proof: readonly Uint8Array[],
  subRoot: Uint8Array,
): Buffer | null {
  // The subtree ends where the tree does: the proof is the left siblings from its root upward.
  if (end === size) {
    const level = bitLen((end - 1n) ^ start);
    const index = start >> BigInt(level);
    if (proof.length !== onesCount(index)) return null;
    return chainBorderRight(subRoot, proof);
  }

  // Split where the paths to leaves end-1 and size-1 diverge.
  const [forkLevel, border] = decompInclProof(end - 1n, size);
  // Height of the rightmost perfect subtree within [start, end); the proof starts at that level.
  const shift = trailingZeros(end - start);
  const inner = forkLevel - shift;
  if (inner < 0) return null;

  // The proof opens with the root of that rightmost perfect subtree, unless [start, end) is
  // itself perfect, in which case the verifier already holds it as subRoot.
  let seed: Uint8Array = proof[0] as Uint8Array;
  let pStart = 1;
  if (end - start === 1n << BigInt(shift)) {
    seed = subRoot;
    pStart = 0;
  }
  if (proof.length !== pStart + inner + border) return null;
  const rest = proof.slice(pStart);
  const mask = (end - 1n) >> BigInt(shift);

  // A partial subtree: the nodes inside it must rebuild subRoot.
  if (pStart === 1) {
    const parts = decompSubtreeProof(start, end, size, border, rest);
    if (parts === null) return null;
    let hash1 = chainInnerRight(seed, parts[0], mask);
    hash1 = chainBorderRight(hash1, parts[1]);
    if (!bytesEqual(hash1, subRoot)) return null;
  }

  const hash2 = chainInner(seed, rest.slice(0, inner), mask);
  return chainBorderRight(hash2, rest.slice(inner));
}

/**
 * VerifySubtreeInclusion: `proof` proves the leaf `leafHash` at log index `index` is in the
 * subtree [start, end) whose hash is `root`. Needs a valid subtree and start <= index < end; the
 * proof is the RFC 9162 inclusion proof of index - start in the tree of the subtree's leaves.
 */
export function verifySubtreeInclusion(
  leafHash: Uint8Array,
  index: number,
  start: number,
  end: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  try {
    if (!isIndex(index) || !isIndex(start) || !isIndex(end)) return false;
    const [i, s, e] = [BigInt(index), BigInt(start), BigInt(end)];
    if (!validSubtree(s, e)) return false;
    if (i < s || i >= e) return false;
    if (!isHash(leafHash) || !isProof(proof) || !(root instanceof Uint8Array)) return false;
    const calc = rootFromInclusionProof(i - s, e - s, leafHash, proof);
    return calc !== null && bytesEqual(calc, root);
  } catch {
    return false;
  }
}

/**
 * VerifySubtreeConsistency: `proof` proves the subtree [start, end) with hash `subtreeRoot` is
 * contained in the tree of `size` leaves with root `treeRoot`. Needs a valid subtree and
 * end <= size. With start == 0 this is an RFC 9162 consistency proof from size `end`.
 *
 * The empty subtree (start == end) needs an empty proof and subtreeRoot == SHA-256(""), and says
 * nothing about treeRoot (transparency-dev/merkle#254): it is accepted whatever treeRoot is.
 */
export function verifySubtreeConsistency(
  start: number,
  end: number,
  size: number,
  proof: readonly Uint8Array[],
  subtreeRoot: Uint8Array,
  treeRoot: Uint8Array,
): boolean {
  try {
    if (!isIndex(start) || !isIndex(end) || !isIndex(size)) return false;
    if (!Array.isArray(proof)) return false;
    const [s, e, n] = [BigInt(start), BigInt(end), BigInt(size)];
    if (!validSubtree(s, e)) return false;
    if (n < e) return false;
    if (s === e) return proof.length === 0 && bytesEqual(subtreeRoot, emptyRoot());
    if (s === 0n && n === e) return proof.length === 0 && bytesEqual(subtreeRoot, treeRoot);
    if (proof.length === 0) return false;
    if (!isHash(subtreeRoot) || !isProof(proof) || !(treeRoot instanceof Uint8Array)) return false;
    const calc = rootFromSubtreeConsistencyProof(s, e, n, proof, subtreeRoot);
    return calc !== null && bytesEqual(calc, treeRoot);
  } catch {
    return false;
  }
}
