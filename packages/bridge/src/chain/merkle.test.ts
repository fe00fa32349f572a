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

// Subtree proofs (draft-ietf-plants-merkle-tree-certs) are a different construct the README does
// not define, and nothing in otel-audit uses them.
describe('transparency-dev/merkle vectors: subtree proofs', () => {
  for (const folder of ['subtreeinclusion', 'subtreeconsistency']) {
    const n = existsSync(join(VECTORS, folder)) ? jsonFiles(join(VECTORS, folder)).length : 0;
    it.skip(`${folder} (${n} vectors): not applicable, otel-audit has no subtree proofs`, () => {});
  }
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
