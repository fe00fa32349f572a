/**
 * RFC 6962 / RFC 9162 Merkle tree over SHA-256: hashing, an O(log n) incremental root builder,
 * and inclusion / consistency proofs with their verifiers.
 *
 * Verifiers return false on any bad input, never throw: they run on data from outside (proof
 * bundles handed to auditors), where a crash would be worse than a clear "no".
 */
import { createHash, hash } from 'node:crypto';

export const HASH_SIZE = 32;


/** SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Buffer {
  // One-shot hashes over one buffer: a Hash object per call costs more than the copy (hot path:
  // one leaf per event, about one node per leaf).
  const input = Buffer.allocUnsafe(1 + data.length);
  input[0] = 0x00;
  input.set(data, 1);
  return hash('sha256', input, 'buffer');
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return hash('sha256', input, 'buffer');
}

/** MTH({}) = SHA-256 of the empty string. */
export function emptyRoot(): Buffer {
  return createHash('sha256').digest();
}

/** Largest power of two strictly smaller than n (n >= 2). Arithmetic, not bit ops: sizes may pass 2^31. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH of leafHashes[start, end). */
function subtreeRoot(leafHashes: readonly Uint8Array[], start: number, end: number): Buffer {
  const acc = new MerkleAccumulator();
  for (let i = start; i < end; i++) acc.append(leafHashes[i] as Buffer);
  return acc.root();
}

/** MTH(D[n]) per RFC 6962 §2.1. */
export function rootFromLeafHashes(leafHashes: readonly Uint8Array[]): Buffer {
  return subtreeRoot(leafHashes, 0, leafHashes.length);
}

export interface MerkleAccumulatorState {
  size: number;
  /** Roots of the perfect subtrees covering [0, size), largest (leftmost) first, lowercase hex. */
  hashes: string[];
}

function popcount(n: number): number {
  let c = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) c += v % 2;
  return c;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Incremental root over a stream of leaf hashes. Keeps one perfect-subtree root per set bit of
 * `size` (the compact range [0, size)), so memory is O(log n) however many leaves go through.
 */
export class MerkleAccumulator {
  #size = 0;
  #stack: Buffer[] = [];

  append(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE) {
      throw new RangeError(`leaf hash must be ${HASH_SIZE} bytes, got ${leafHash.length}`);
    }
    let h: Buffer = Buffer.from(leafHash);
    // Each trailing 1 bit of the old size is a perfect subtree of the same height: merge it.
    for (let s = this.#size; s % 2 === 1; s = Math.floor(s / 2)) {
      h = nodeHash(this.#stack.pop() as Buffer, h);
    }
    this.#stack.push(h);
    this.#size += 1;
  }

  get size(): number {
    return this.#size;
  }

  root(): Buffer {
    if (this.#stack.length === 0) return emptyRoot();
    let r = this.#stack[this.#stack.length - 1] as Buffer;
    for (let i = this.#stack.length - 2; i >= 0; i--) r = nodeHash(this.#stack[i] as Buffer, r);
    return r;
  }

  toJSON(): MerkleAccumulatorState {
    return { size: this.#size, hashes: this.#stack.map((h) => h.toString('hex')) };
  }

  /** Resumes from a stored state; throws if the state is malformed. */
  static fromJSON(state: MerkleAccumulatorState): MerkleAccumulator {
    const size = state?.size;
    const hashes = state?.hashes;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`invalid Merkle accumulator state: size ${String(size)}`);
    }
    if (!Array.isArray(hashes) || hashes.length !== popcount(size)) {
      throw new RangeError(
        `invalid Merkle accumulator state: size ${size} needs ${popcount(size)} subtree hashes`,
      );
    }
    const acc = new MerkleAccumulator();
    for (const h of hashes) {
      if (typeof h !== 'string' || !HEX64.test(h)) {
        throw new RangeError('invalid Merkle accumulator state: subtree hashes must be 64 lowercase hex chars');
      }
      acc.#stack.push(Buffer.from(h, 'hex'));
    }
    acc.#size = size;
    return acc;
  }

  clone(): MerkleAccumulator {
    return MerkleAccumulator.fromJSON(this.toJSON());
  }
}

/** Audit path for leaf `index` (RFC 6962 §2.1.1), lowest level first. Throws if index is out of range. */
export function inclusionProof(leafHashes: readonly Uint8Array[], index: number): Buffer[] {
  const n = leafHashes.length;
  if (!Number.isSafeInteger(index) || index < 0 || index >= n) {
    throw new RangeError(`leaf index ${index} out of range for tree size ${n}`);
  }
  const path: Buffer[] = [];
  // PATH(m, D[start:end]) unrolled from the top; RFC order appends upper siblings last.
  let start = 0;
  let end = n;
  let m = index;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (m < k) {
      path.push(subtreeRoot(leafHashes, start + k, end));
      end = start + k;
    } else {
      path.push(subtreeRoot(leafHashes, start, start + k));
      start += k;
      m -= k;
    }
  }
  return path.reverse();
}

/** Consistency proof from size m to leafHashes.length (RFC 6962 §2.1.2). Throws unless 0 < m <= n. */
export function consistencyProof(leafHashes: readonly Uint8Array[], m: number): Buffer[] {
  const n = leafHashes.length;
  if (!Number.isSafeInteger(m) || m <= 0 || m > n) {
    throw new RangeError(`consistency proof needs 0 < m <= n, got m=${m}, n=${n}`);
  }
  return consistencyPath(m, n, (start, end) => subtreeRoot(leafHashes, start, end));
}

/**
 * SUBPROOF(m, D[0:n], true) of RFC 6962 §2.1.2, unrolled: the hashes of the subtrees named by
 * the walk, bottom-up. `subtreeRoot(start, end)` gives MTH(D[start:end]); callers differ only
 * in where those hashes come from (all leaves, or a compact range plus the new leaves).
 */
export function consistencyPath(m: number, n: number, subtreeRoot: (start: number, end: number) => Buffer): Buffer[] {
  const proof: Buffer[] = [];
  let start = 0;
  let end = n;
  let mm = m;
  let b = true;
  while (mm !== end - start) {
    const k = splitPoint(end - start);
    if (mm <= k) {
      proof.push(subtreeRoot(start + k, end));
      end = start + k;
    } else {
      proof.push(subtreeRoot(start, start + k));
      start += k;
      mm -= k;
      b = false;
    }
  }
  if (!b) proof.push(subtreeRoot(start, end));
  return proof.reverse();
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_SIZE;
}

function bytesEqual(a: unknown, b: unknown): boolean {
  return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
}

function isSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function isProof(proof: unknown): proof is Uint8Array[] {
  return Array.isArray(proof) && proof.every(isHash);
}

/** RFC 9162 §2.1.3.2. */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  try {
    if (!isSize(index) || !isSize(treeSize) || index >= treeSize) return false;
    if (!isHash(leafHash) || !isHash(root) || !isProof(proof)) return false;
    // BigInt: JS bit operators are 32-bit and tree sizes are not.
    let fn = BigInt(index);
    let sn = BigInt(treeSize - 1);
    let r: Buffer = Buffer.from(leafHash);
    for (const p of proof) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        r = nodeHash(p, r);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && r.equals(root);
  } catch {
    return false;
  }
}

/** RFC 9162 §2.1.4.2, plus the size1 == size2 case (empty proof, equal roots). */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  try {
    if (!isSize(size1) || !isSize(size2) || size1 > size2) return false;
    if (!Array.isArray(proof)) return false;
    // A consistency proof from the empty tree proves nothing (every tree extends it).
    if (size1 === 0) return false;
    if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
    if (proof.length === 0) return false;
    if (!isHash(root1) || !isHash(root2) || !isProof(proof)) return false;

    let path: Uint8Array[] = [...proof];
    let fn = BigInt(size1 - 1);
    let sn = BigInt(size2 - 1);
    // size1 a power of two: its root is a node of the bigger tree, so the proof omits it.
    if ((fn & BigInt(size1)) === 0n) path = [root1, ...path];
    while ((fn & 1n) === 1n) {
      fn >>= 1n;
      sn >>= 1n;
    }
    let fr: Buffer = Buffer.from(path[0] as Uint8Array);
    let sr = fr;
    for (const c of path.slice(1)) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        fr = nodeHash(c, fr);
        sr = nodeHash(c, sr);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        sr = nodeHash(sr, c);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && fr.equals(root1) && sr.equals(root2);
  } catch {
    return false;
  }
}
