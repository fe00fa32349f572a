import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  MerkleAccumulator,
  consistencyProof,
  emptyRoot,
  inclusionProof,
  leafHash,
  nodeHash,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from './merkle.ts';
import { isValidSubtree, verifySubtreeConsistency, verifySubtreeInclusion } from './merkle-subtree.ts';

const VECTORS = fileURLToPath(new URL('../../../../../shared/testdata/merkle', import.meta.url));

function jsonFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...jsonFiles(p));
    else if (entry.name.endsWith('.json')) out.push(p);
  }
  return out.sort();
}

interface Vector {
  leafIdx?: number;
  treeSize?: number;
  start?: number;
  end?: number;
  size?: number;
  size1?: number;
  size2?: number;
  root?: string;
  root1?: string;
  root2?: string;
  leafHash?: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

// Sizes above 2^53 (uint64 underflow cases such as 2^64-1) lose precision in JSON.parse; that is
// harmless because the verifiers reject every non-safe integer outright.
function load(folder: string): [string, Vector][] {
  const dir = join(VECTORS, folder);
  if (!existsSync(dir)) throw new Error(`Merkle test vectors missing: ${dir}`);
  return jsonFiles(dir).map((f) => [relative(VECTORS, f), JSON.parse(readFileSync(f, 'utf8')) as Vector]);
}

const b64 = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64');
const proofOf = (v: Vector): Buffer[] => (v.proof ?? []).map(b64);

const inclusionVectors = load('inclusion');
const consistencyVectors = load('consistency');
const subtreeInclusionVectors = load('subtreeinclusion');
const subtreeConsistencyVectors = load('subtreeconsistency');

describe('transparency-dev/merkle vectors: inclusion', () => {
  it('found vectors of both kinds', () => {
    expect(inclusionVectors.length).toBeGreaterThan(0);
    expect(inclusionVectors.some(([, v]) => !v.wantErr)).toBe(true);
    expect(inclusionVectors.some(([, v]) => v.wantErr)).toBe(true);
  });

  it.each(inclusionVectors)('%s', (_file, v) => {
    const ok = verifyInclusion(b64(v.leafHash), v.leafIdx as number, v.treeSize as number, proofOf(v), b64(v.root));
    expect(ok).toBe(!v.wantErr);
  });
});

describe('transparency-dev/merkle vectors: consistency', () => {
  it('found vectors of both kinds', () => {
    expect(consistencyVectors.length).toBeGreaterThan(0);
    expect(consistencyVectors.some(([, v]) => !v.wantErr)).toBe(true);
    expect(consistencyVectors.some(([, v]) => v.wantErr)).toBe(true);
  });

  it.each(consistencyVectors)('%s', (_file, v) => {
    const ok = verifyConsistency(v.size1 as number, v.size2 as number, proofOf(v), b64(v.root1), b64(v.root2));
    expect(ok).toBe(!v.wantErr);
  });
});

// Subtree proofs (draft-ietf-plants-merkle-tree-certs), verified by merkle-subtree.ts.
describe('transparency-dev/merkle vectors: subtree inclusion', () => {
  it('found vectors of both kinds', () => {
    expect(subtreeInclusionVectors).toHaveLength(204);
    expect(subtreeInclusionVectors.some(([, v]) => !v.wantErr)).toBe(true);
    expect(subtreeInclusionVectors.some(([, v]) => v.wantErr)).toBe(true);
  });

  it.each(subtreeInclusionVectors)('%s', (_file, v) => {
    const ok = verifySubtreeInclusion(
      b64(v.leafHash),
      v.leafIdx as number,
      v.start as number,
      v.end as number,
      proofOf(v),
      b64(v.root),
    );
    expect(ok).toBe(!v.wantErr);
  });
});

describe('transparency-dev/merkle vectors: subtree consistency', () => {
  it('found vectors of both kinds', () => {
    expect(subtreeConsistencyVectors).toHaveLength(118);
    expect(subtreeConsistencyVectors.some(([, v]) => !v.wantErr)).toBe(true);
    expect(subtreeConsistencyVectors.some(([, v]) => v.wantErr)).toBe(true);
  });

  it.each(subtreeConsistencyVectors)('%s', (_file, v) => {
    const ok = verifySubtreeConsistency(
      v.start as number,
      v.end as number,
      v.size as number,
      proofOf(v),
      b64(v.root1),
      b64(v.root2),
    );
    expect(ok).toBe(!v.wantErr);
  });
});

describe('transparency-dev/merkle vectors: all of them', () => {
  const all = [...inclusionVectors, ...consistencyVectors, ...subtreeInclusionVectors, ...subtreeConsistencyVectors];

  it('are 518, every one run above', () => {
    expect(all).toHaveLength(518);
  });

  it('no accepted vector depends on an index JSON.parse rounded', () => {
    const keys = ['leafIdx', 'treeSize', 'start', 'end', 'size', 'size1', 'size2'] as const;
    for (const [file, v] of all) {
      if (v.wantErr) continue;
      for (const k of keys) {
        if (v[k] !== undefined) expect(Number.isSafeInteger(v[k]), `${file} ${k}`).toBe(true);
      }
    }
  });
});

// The leaves of RFC 6962's reference tests; the vectors' happy paths are built over them.
const RFC_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(
  (h) => leafHash(Buffer.from(h, 'hex')),
);

describe('generators reproduce the vectors', () => {
  it('root of the 8 reference leaves', () => {
    expect(rootFromLeafHashes(RFC_LEAVES).toString('hex')).toBe(
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    );
  });

  it.each(inclusionVectors.filter(([f]) => f.endsWith('happy-path.json')))('%s', (_f, v) => {
    const leaves = RFC_LEAVES.slice(0, v.treeSize);
    expect(rootFromLeafHashes(leaves)).toEqual(b64(v.root));
    expect(inclusionProof(leaves, v.leafIdx as number)).toEqual(proofOf(v));
  });

  it.each(consistencyVectors.filter(([f]) => f.endsWith('happy-path.json')))('%s', (_f, v) => {
    const leaves = RFC_LEAVES.slice(0, v.size2);
    expect(rootFromLeafHashes(leaves.slice(0, v.size1))).toEqual(b64(v.root1));
    expect(rootFromLeafHashes(leaves)).toEqual(b64(v.root2));
    expect(consistencyProof(leaves, v.size1 as number)).toEqual(proofOf(v));
  });
});

/** MTH straight from RFC 6962 §2.1, as an independent reference. */
function referenceMth(d: Buffer[]): Buffer {
  if (d.length === 0) return createHash('sha256').digest();
  if (d.length === 1) return d[0] as Buffer;
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return nodeHash(referenceMth(d.slice(0, k)), referenceMth(d.slice(k)));
}

function randomLeaves(n: number): Buffer[] {
  return Array.from({ length: n }, () => leafHash(randomBytes(1 + Math.floor(Math.random() * 40))));
}

function flipped(b: Buffer, byte: number): Buffer {
  const c = Buffer.from(b);
  c[byte] = (c[byte] as number) ^ (1 << Math.floor(Math.random() * 8));
  return c;
}

function pick(n: number, count: number): number[] {
  const s = new Set<number>([0, n - 1]);
  while (s.size < Math.min(n, count)) s.add(Math.floor(Math.random() * n));
  return [...s];
}

describe('hashing', () => {
  it('domain-separates leaves and nodes', () => {
    expect(emptyRoot().toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(rootFromLeafHashes([])).toEqual(emptyRoot());
    expect(leafHash(Buffer.alloc(0)).toString('hex')).toBe(
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    );
    const a = leafHash(Buffer.from('a'));
    expect(nodeHash(a, a)).not.toEqual(leafHash(Buffer.concat([a, a])));
  });
});

describe('property tests over random trees (sizes 1..300)', () => {
  const sizes = Array.from({ length: 300 }, (_, i) => i + 1);

  it('accumulator root equals the RFC 6962 MTH at every size, and survives a JSON round trip', () => {
    const leaves = randomLeaves(300);
    const acc = new MerkleAccumulator();
    expect(acc.root()).toEqual(emptyRoot());
    for (const n of sizes) {
      acc.append(leaves[n - 1] as Buffer);
      expect(acc.size).toBe(n);
      const want = referenceMth(leaves.slice(0, n));
      expect(acc.root()).toEqual(want);
      expect(rootFromLeafHashes(leaves.slice(0, n))).toEqual(want);
    }
    const resumed = MerkleAccumulator.fromJSON(JSON.parse(JSON.stringify(acc)));
    const more = randomLeaves(37);
    for (const l of more) {
      resumed.append(l);
      acc.append(l);
    }
    expect(resumed.size).toBe(337);
    expect(resumed.root()).toEqual(referenceMth([...leaves, ...more]));
    expect(resumed.toJSON()).toEqual(acc.toJSON());
  });

  it('accumulator state stays logarithmic', () => {
    const acc = new MerkleAccumulator();
    const h = leafHash(Buffer.from('x'));
    for (let i = 0; i < 4095; i++) acc.append(h);
    expect(acc.toJSON().hashes).toHaveLength(12);
    acc.append(h);
    expect(acc.toJSON().hashes).toHaveLength(1);
  });

  it('fromJSON rejects malformed state', () => {
    const h = 'ab'.repeat(32);
    expect(() => MerkleAccumulator.fromJSON({ size: 3, hashes: [h] })).toThrow(/needs 2/);
    expect(() => MerkleAccumulator.fromJSON({ size: -1, hashes: [] })).toThrow();
    expect(() => MerkleAccumulator.fromJSON({ size: 1, hashes: ['zz'] })).toThrow(/hex/);
    expect(() => new MerkleAccumulator().append(Buffer.alloc(31))).toThrow(/32 bytes/);
  });

  it('inclusion proofs verify; any flipped byte or other index fails', () => {
    for (const n of sizes) {
      const leaves = randomLeaves(n);
      const root = rootFromLeafHashes(leaves);
      for (const i of pick(n, 4)) {
        const leaf = leaves[i] as Buffer;
        const proof = inclusionProof(leaves, i);
        expect(verifyInclusion(leaf, i, n, proof, root)).toBe(true);
        for (let p = 0; p < proof.length; p++) {
          // Every byte position on small trees; a sample on big ones keeps the suite fast.
          for (const byte of n <= 40 ? Array.from({ length: 32 }, (_, b) => b) : pick(32, 4)) {
            const bad = proof.map((x, j) => (j === p ? flipped(x, byte) : x));
            expect(verifyInclusion(leaf, i, n, bad, root)).toBe(false);
          }
        }
        for (let byte = 0; byte < 32; byte++) {
          expect(verifyInclusion(flipped(leaf, byte), i, n, proof, root)).toBe(false);
          expect(verifyInclusion(leaf, i, n, proof, flipped(root, byte))).toBe(false);
        }
        for (const j of pick(n, 4)) {
          if (j !== i) expect(verifyInclusion(leaf, j, n, proof, root)).toBe(false);
        }
        expect(verifyInclusion(leaf, n, n, proof, root)).toBe(false);
        expect(verifyInclusion(leaf, i, n, [...proof, root], root)).toBe(false);
        if (proof.length > 0) expect(verifyInclusion(leaf, i, n, proof.slice(1), root)).toBe(false);
      }
    }
  });

  it('consistency proofs verify; any flipped byte fails', () => {
    for (const n of sizes) {
      const leaves = randomLeaves(n);
      const root2 = rootFromLeafHashes(leaves);
      for (const m of pick(n, 4).map((x) => x + 1)) {
        const root1 = rootFromLeafHashes(leaves.slice(0, m));
        const proof = consistencyProof(leaves, m);
        expect(verifyConsistency(m, n, proof, root1, root2)).toBe(true);
        for (let p = 0; p < proof.length; p++) {
          const byte = Math.floor(Math.random() * 32);
          const bad = proof.map((x, j) => (j === p ? flipped(x, byte) : x));
          expect(verifyConsistency(m, n, bad, root1, root2)).toBe(false);
        }
        const byte = Math.floor(Math.random() * 32);
        expect(verifyConsistency(m, n, proof, flipped(root1, byte), root2)).toBe(false);
        expect(verifyConsistency(m, n, proof, root1, flipped(root2, byte))).toBe(false);
        if (m < n) {
          // A rolled-back / forked history: the old root is not a prefix of the new tree.
          const forked = [...leaves.slice(0, m - 1), leafHash(Buffer.from('forged')), ...leaves.slice(m)];
          const forkedRoot = rootFromLeafHashes(forked);
          expect(verifyConsistency(m, n, consistencyProof(forked, m), root1, forkedRoot)).toBe(false);
          expect(verifyConsistency(n, m, proof, root2, root1)).toBe(false);
        }
      }
    }
  });
});

describe('verifiers never throw', () => {
  const h = leafHash(Buffer.from('x'));
  const junk: unknown[] = [undefined, null, 1.5, -1, NaN, Infinity, 2 ** 60, '3', {}, [], [null], ['ab'], Buffer.alloc(3)];

  it('returns false for junk in any argument', () => {
    for (const j of junk) {
      const a = j as never;
      expect(verifyInclusion(a, 0, 1, [], h)).toBe(false);
      expect(verifyInclusion(h, a, 1, [], h)).toBe(false);
      expect(verifyInclusion(h, 0, a, [], h)).toBe(false);
      if (!(Array.isArray(j) && j.length === 0)) expect(verifyInclusion(h, 0, 1, a, h)).toBe(false);
      expect(verifyInclusion(h, 0, 1, [], a)).toBe(false);
      expect(verifyConsistency(a, 2, [h], h, h)).toBe(false);
      expect(verifyConsistency(1, a, [h], h, h)).toBe(false);
      expect(verifyConsistency(1, 2, a, h, h)).toBe(false);
      expect(verifyConsistency(1, 2, [h], a, h)).toBe(false);
      expect(verifyConsistency(1, 2, [h], h, a)).toBe(false);
    }
  });

  it('generators throw on impossible requests', () => {
    expect(() => inclusionProof([h], 1)).toThrow(RangeError);
    expect(() => consistencyProof([h], 0)).toThrow(RangeError);
    expect(() => consistencyProof([h], 2)).toThrow(RangeError);
    expect(consistencyProof([h, h], 2)).toEqual([]);
  });
});

/**
 * SUBTREE_PROOF(start, end, D_n) from draft-ietf-plants-merkle-tree-certs ("Generating a Subtree
 * Consistency Proof"), straight from the recursion, as an independent reference. Bottom-up order.
 */
function referenceSubtreeProof(d: Buffer[], start: number, end: number, known = true): Buffer[] {
  const n = d.length;
  if (start === 0 && end === n) return known ? [] : [referenceMth(d)];
  let k = 1;
  while (k * 2 < n) k *= 2;
  if (end <= k) return [...referenceSubtreeProof(d.slice(0, k), start, end, known), referenceMth(d.slice(k))];
  if (start >= k) {
    return [...referenceSubtreeProof(d.slice(k), start - k, end - k, known), referenceMth(d.slice(0, k))];
  }
  // start < k < end only happens for start == 0 in a valid subtree.
  return [...referenceSubtreeProof(d.slice(k), 0, end - k, false), referenceMth(d.slice(0, k))];
}

/** Every non-empty valid subtree [start, end) with end <= n. */
function validSubtrees(n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let start = 0; start < n; start++) {
    for (let end = start + 1; end <= n; end++) if (isValidSubtree(start, end)) out.push([start, end]);
  }
  return out;
}

describe('subtree generators reproduce the vectors', () => {
  it.each(subtreeInclusionVectors.filter(([f]) => /happy-path(-subtree)?\.json$/.test(f)))('%s', (_f, v) => {
    const [start, end] = [v.start as number, v.end as number];
    // The shifted ("- subtree") vectors reuse the same leaves at [bitCeil(size), ...).
    const leaves = RFC_LEAVES.slice(0, end - start);
    expect(rootFromLeafHashes(leaves)).toEqual(b64(v.root));
    expect(inclusionProof(leaves, (v.leafIdx as number) - start)).toEqual(proofOf(v));
  });

  it.each(subtreeConsistencyVectors.filter(([f]) => f.endsWith('happy-path.json')))('%s', (_f, v) => {
    const leaves = RFC_LEAVES.slice(0, v.size);
    expect(rootFromLeafHashes(leaves.slice(v.start, v.end))).toEqual(b64(v.root1));
    expect(rootFromLeafHashes(leaves)).toEqual(b64(v.root2));
    expect(referenceSubtreeProof(leaves, v.start as number, v.end as number)).toEqual(proofOf(v));
  });
});

describe('subtrees', () => {
  it('validity follows BIT_CEIL alignment', () => {
    for (const [s, e] of [[0, 0], [0, 1], [0, 7], [1, 2], [2, 4], [4, 7], [8, 16], [8, 13], [5, 5], [12, 14]]) {
      expect(isValidSubtree(s as number, e as number), `[${s}, ${e})`).toBe(true);
    }
    for (const [s, e] of [[1, 3], [2, 5], [2, 6], [1, 15], [4, 9], [3, 5], [2, 1], [-1, 1], [0, 2 ** 60]]) {
      expect(isValidSubtree(s as number, e as number), `[${s}, ${e})`).toBe(false);
    }
    expect(isValidSubtree(1.5 as never, 2)).toBe(false);
  });

  it('the start == 0 subtree proof is the RFC 9162 consistency proof', () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = randomLeaves(n);
      for (let m = 1; m <= n; m++) expect(referenceSubtreeProof(leaves, 0, m)).toEqual(consistencyProof(leaves, m));
    }
  });
});

describe('subtree property tests over random trees', () => {
  it('subtree inclusion proofs verify for every leaf of every valid subtree (sizes 1..64)', () => {
    const leaves = randomLeaves(64);
    for (const [start, end] of validSubtrees(64)) {
      const sub = leaves.slice(start, end);
      const root = rootFromLeafHashes(sub);
      for (let i = start; i < end; i++) {
        const proof = inclusionProof(sub, i - start);
        expect(verifySubtreeInclusion(leaves[i] as Buffer, i, start, end, proof, root)).toBe(true);
        if (end - start <= 16) {
          for (let p = 0; p < proof.length; p++) {
            const bad = proof.map((x, j) => (j === p ? flipped(x, Math.floor(Math.random() * 32)) : x));
            expect(verifySubtreeInclusion(leaves[i] as Buffer, i, start, end, bad, root)).toBe(false);
          }
          expect(verifySubtreeInclusion(flipped(leaves[i] as Buffer, 0), i, start, end, proof, root)).toBe(false);
          expect(verifySubtreeInclusion(leaves[i] as Buffer, i, start, end, [...proof, root], root)).toBe(false);
        }
      }
      // Outside the subtree, or the subtree's neighbours claiming its leaves.
      expect(verifySubtreeInclusion(leaves[start] as Buffer, end, start, end, [], root)).toBe(false);
      if (start > 0) expect(verifySubtreeInclusion(leaves[start] as Buffer, start - 1, start, end, [], root)).toBe(false);
    }
  });

  it('subtree consistency proofs verify for every valid subtree of every tree (sizes 1..48)', () => {
    for (let n = 1; n <= 48; n++) {
      const leaves = randomLeaves(n);
      const root = rootFromLeafHashes(leaves);
      const subtrees = validSubtrees(n);
      for (const [start, end] of subtrees) {
        const node = rootFromLeafHashes(leaves.slice(start, end));
        const proof = referenceSubtreeProof(leaves, start, end);
        expect(verifySubtreeConsistency(start, end, n, proof, node, root), `[${start}, ${end}) in ${n}`).toBe(true);
        if (start === 0) expect(verifyConsistency(end, n, proof, node, root)).toBe(true);

        for (let p = 0; p < proof.length; p++) {
          const bad = proof.map((x, j) => (j === p ? flipped(x, Math.floor(Math.random() * 32)) : x));
          expect(verifySubtreeConsistency(start, end, n, bad, node, root), `flip ${p}, [${start}, ${end}) in ${n}`).toBe(
            false,
          );
        }
        expect(verifySubtreeConsistency(start, end, n, proof, flipped(node, 7), root)).toBe(false);
        expect(verifySubtreeConsistency(start, end, n, proof, node, flipped(root, 7))).toBe(false);
        expect(verifySubtreeConsistency(start, end, n, [...proof, root], node, root)).toBe(false);
        if (proof.length > 0) {
          expect(verifySubtreeConsistency(start, end, n, proof.slice(1), node, root)).toBe(false);
          expect(verifySubtreeConsistency(start, end, n, proof.slice(0, -1), node, root)).toBe(false);
        }
        // The same proof and hashes do not pass for any other subtree of the same tree.
        if (n <= 20) {
          for (const [s2, e2] of subtrees) {
            if (s2 !== start || e2 !== end) {
              expect(verifySubtreeConsistency(s2, e2, n, proof, node, root), `[${start}, ${end}) as [${s2}, ${e2})`).toBe(
                false,
              );
            }
          }
        }
      }
      // A forked tree: one leaf inside the subtree changed after the fact.
      for (const [start, end] of subtrees.filter(([s, e]) => e < n || s > 0)) {
        const node = rootFromLeafHashes(leaves.slice(start, end));
        const forked = leaves.map((l, i) => (i === end - 1 ? leafHash(Buffer.from('forged')) : l));
        const proof = referenceSubtreeProof(forked, start, end);
        expect(verifySubtreeConsistency(start, end, n, proof, node, rootFromLeafHashes(forked))).toBe(false);
      }
    }
  });

  it('the empty subtree needs SHA-256("") and an empty proof, and binds no tree root', () => {
    const h = leafHash(Buffer.from('x'));
    expect(verifySubtreeConsistency(3, 3, 8, [], emptyRoot(), h)).toBe(true);
    expect(verifySubtreeConsistency(0, 0, 0, [], emptyRoot(), h)).toBe(true);
    expect(verifySubtreeConsistency(3, 3, 8, [], h, h)).toBe(false);
    expect(verifySubtreeConsistency(3, 3, 8, [h], emptyRoot(), h)).toBe(false);
    expect(verifySubtreeConsistency(9, 9, 8, [], emptyRoot(), h)).toBe(false);
    expect(verifySubtreeInclusion(h, 3, 3, 3, [], emptyRoot())).toBe(false);
  });
});

describe('subtree verifiers never throw', () => {
  const h = leafHash(Buffer.from('x'));
  const junk: unknown[] = [
    undefined, null, 1.5, -1, NaN, Infinity, 2 ** 60, 2 ** 64 - 1, 18446744073709551615n, '3', {}, [], [null], ['ab'], Buffer.alloc(3),
  ];

  it('returns false for junk in any argument', () => {
    // Valid baselines: leaf 1 of [0, 2); subtree [0, 1) of a 2-leaf tree.
    const l0 = leafHash(Buffer.from('a'));
    const l1 = leafHash(Buffer.from('b'));
    const r = nodeHash(l0, l1);
    expect(verifySubtreeInclusion(l1, 1, 0, 2, [l0], r)).toBe(true);
    expect(verifySubtreeConsistency(0, 1, 2, [l1], l0, r)).toBe(true);
    for (const j of junk) {
      const a = j as never;
      expect(verifySubtreeInclusion(a, 1, 0, 2, [l0], r)).toBe(false);
      expect(verifySubtreeInclusion(l1, a, 0, 2, [l0], r)).toBe(false);
      expect(verifySubtreeInclusion(l1, 1, a, 2, [l0], r)).toBe(false);
      expect(verifySubtreeInclusion(l1, 1, 0, a, [l0], r)).toBe(false);
      expect(verifySubtreeInclusion(l1, 1, 0, 2, a, r)).toBe(false);
      expect(verifySubtreeInclusion(l1, 1, 0, 2, [l0], a)).toBe(false);
      expect(verifySubtreeConsistency(a, 1, 2, [l1], l0, r)).toBe(false);
      expect(verifySubtreeConsistency(0, a, 2, [l1], l0, r)).toBe(false);
      expect(verifySubtreeConsistency(0, 1, a, [l1], l0, r)).toBe(false);
      expect(verifySubtreeConsistency(0, 1, 2, a, l0, r)).toBe(false);
      expect(verifySubtreeConsistency(0, 1, 2, [l1], a, r)).toBe(false);
      expect(verifySubtreeConsistency(0, 1, 2, [l1], l0, a)).toBe(false);
      expect(verifySubtreeConsistency(0, 1, 2, [l1, a], l0, r)).toBe(false);
    }
    expect(verifySubtreeConsistency(4, 9, 16, [h, h, h], h, h)).toBe(false);
  });
});
