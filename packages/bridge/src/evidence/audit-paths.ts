/**
 * Audit paths of many leaves of one tree from a single pass over its leaves.
 *
 * chain/prove.ts builds one event's path by streaming the chain's hashes 1..tree_size: O(n) per
 * proof. A case of 50,000 events would stream its chain 50,000 times. Here the nodes that any of
 * the wanted paths needs are named first, then computed in one pass:
 *
 *  - every node of the RFC 6962 tree over [0, size) is either a perfect subtree [s, s + 2^h) with
 *    s a multiple of 2^h, or a right-edge subtree [s, size) (the right child at each split where
 *    the rest is not a power of two);
 *  - perfect subtrees are exactly what an incremental builder forms when it merges equal-height
 *    roots, so they are picked up as the leaves stream past;
 *  - a right-edge subtree [s, size) starts at one of the perfect subtrees left on the stack at
 *    the end (the compact range of [0, size)), and its root is the fold of the stack from s on.
 *
 * Memory: the nodes wanted (at most log2(size) per leaf, shared between neighbouring leaves) and
 * the O(log n) stack. The caller checks the result against the signed root.
 */
import { auditPathRanges } from '../chain/prove.ts';
import { eventLeafHash } from '../chain/checkpoint.ts';
import { nodeHash } from '../chain/merkle.ts';

/** Height marker of a right-edge subtree [s, size). */
const EDGE = 63;
const key = (start: number, height: number) => start * 64 + height;

function nodeKey(start: number, end: number): number {
  const len = end - start;
  const isPow2 = len > 0 && Number.isInteger(Math.log2(len)) && 2 ** Math.log2(len) === len;
  return isPow2 && start % len === 0 ? key(start, Math.log2(len)) : key(start, EDGE);
}

export class AuditPaths {
  readonly size: number;
  /** Node key → its hash once computed (null until then). */
  private readonly wanted = new Map<number, Buffer | null>();
  /** Leaf index → the keys of its path, lowest level first. */
  private readonly paths = new Map<number, number[]>();
  private readonly stack: Array<{ start: number; height: number; hash: Buffer }> = [];
  private next = 0;
  private rootHash: Buffer | null = null;

  constructor(size: number, indices: Iterable<number>) {
    if (!Number.isSafeInteger(size) || size < 1 || size >= 2 ** 46) throw new RangeError(`tree size ${size} out of range`);
    this.size = size;
    for (const index of indices) {
      if (this.paths.has(index)) continue;
      const keys = auditPathRanges(index, size).map(([s, e]) => nodeKey(s, e));
      for (const k of keys) this.wanted.set(k, null);
      this.paths.set(index, keys);
    }
  }

  /** Number of distinct nodes the paths need. */
  get nodes(): number {
    return this.wanted.size;
  }

  /** The next leaf, in order: an event hash (64 lowercase hex). */
  append(eventHashHex: string): void {
    if (this.next >= this.size) throw new RangeError(`more than ${this.size} leaves`);
    let node = { start: this.next, height: 0, hash: eventLeafHash(eventHashHex) };
    this.keep(node.start, 0, node.hash);
    while (this.stack.length > 0 && this.stack[this.stack.length - 1].height === node.height) {
      const left = this.stack.pop()!;
      node = { start: left.start, height: node.height + 1, hash: nodeHash(left.hash, node.hash) };
      this.keep(node.start, node.height, node.hash);
    }
    this.stack.push(node);
    this.next++;
  }

  private keep(start: number, height: number, hash: Buffer): void {
    const k = key(start, height);
    if (this.wanted.has(k)) this.wanted.set(k, hash);
  }

  /** After the last leaf: computes the right-edge nodes and the root; returns the root. */
  finish(): Buffer {
    if (this.next !== this.size) throw new RangeError(`the tree has ${this.size} leaves, ${this.next} were given`);
    let r: Buffer | null = null;
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const e = this.stack[i];
      r = r === null ? e.hash : nodeHash(e.hash, r);
      const k = key(e.start, EDGE);
      if (this.wanted.has(k)) this.wanted.set(k, r);
    }
    this.rootHash = r;
    for (const [k, v] of this.wanted) {
      if (v === null) throw new Error(`internal: audit path node ${Math.floor(k / 64)}/${k % 64} was not formed`);
    }
    return r!;
  }

  get root(): Buffer {
    if (!this.rootHash) throw new Error('finish() first');
    return this.rootHash;
  }

  /** The audit path of a leaf given to the constructor, lowest level first. */
  path(index: number): Buffer[] {
    const keys = this.paths.get(index);
    if (!keys) throw new RangeError(`leaf ${index} was not asked for`);
    if (!this.rootHash) throw new Error('finish() first');
    return keys.map((k) => this.wanted.get(k)!);
  }
}
