import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventLeafHash, inclusionProof, rootFromLeafHashes, verifyInclusion } from '../chain/index.ts';
import { AuditPaths } from './audit-paths.ts';

const hashes = (n: number) => Array.from({ length: n }, () => randomBytes(32).toString('hex'));

function build(all: string[], indices: number[]): AuditPaths {
  const ap = new AuditPaths(all.length, indices);
  for (const h of all) ap.append(h);
  ap.finish();
  return ap;
}

describe('AuditPaths: many audit paths from one pass', () => {
  it('gives the RFC 6962 path of every leaf, for every tree size up to 70', () => {
    for (let n = 1; n <= 70; n++) {
      const all = hashes(n);
      const leaves = all.map(eventLeafHash);
      const ap = build(all, [...Array(n).keys()]);
      expect(ap.root.equals(rootFromLeafHashes(leaves))).toBe(true);
      for (let i = 0; i < n; i++) {
        expect(ap.path(i).map((b) => b.toString('hex')), `size ${n} leaf ${i}`).toEqual(inclusionProof(leaves, i).map((b) => b.toString('hex')));
      }
    }
  });

  it('needs only the nodes of the asked leaves, shared between neighbours, and each path verifies', () => {
    const all = hashes(5000);
    const leaves = all.map(eventLeafHash);
    const wanted = [0, 1, 2, 3, 17, 18, 2047, 2048, 4095, 4096, 4999];
    const ap = build(all, wanted);
    expect(ap.nodes).toBeLessThan(wanted.length * 13);
    const root = rootFromLeafHashes(leaves);
    for (const i of wanted) {
      expect(ap.path(i)).toEqual(inclusionProof(leaves, i));
      expect(verifyInclusion(leaves[i], i, all.length, ap.path(i), root)).toBe(true);
    }
    expect(() => ap.path(5)).toThrow(/not asked for/);
  });

  it('refuses too many or too few leaves', () => {
    const ap = new AuditPaths(2, [0]);
    ap.append(hashes(1)[0]);
    expect(() => ap.finish()).toThrow(/2 leaves, 1 were given/);
    ap.append(hashes(1)[0]);
    expect(() => ap.append(hashes(1)[0])).toThrow(/more than 2 leaves/);
  });
});
