import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventLeafHash, signCheckpoint, type Checkpoint } from './checkpoint.ts';
import { rootFromLeafHashes } from './merkle.ts';
import { buildProofBundle, verifyProofBundle, type InclusionProofBundle } from './proof.ts';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');

// A stand-in for the store's event hash: any deterministic function of the row will do here.
function hashEvent(event: Record<string, unknown>): string {
  const { hash: _h, ...rest } = event;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

function chain(n: number): { events: Record<string, unknown>[]; hashes: string[]; checkpoint: Checkpoint } {
  const events: Record<string, unknown>[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const e: Record<string, unknown> = { chain_id: 'c1', seq, name: `event ${seq}`, hash: '' };
    e.hash = hashEvent(e);
    events.push(e);
  }
  const hashes = events.map((e) => e.hash as string);
  const checkpoint = signCheckpoint(
    {
      version: 1,
      chain_id: 'c1',
      tree_size: n,
      root_hash: rootFromLeafHashes(hashes.map(eventLeafHash)).toString('hex'),
      head_seq: n,
      head_hash: hashes[n - 1] as string,
      created_at: new Date(0).toISOString(),
      prev_tree_size: 0,
      prev_root_hash: '',
    },
    privateKey,
  );
  return { events, hashes, checkpoint };
}

describe('inclusion proof bundles', () => {
  const { events, hashes, checkpoint } = chain(13);

  it('verify for every event, after a JSON round trip', () => {
    for (let i = 0; i < events.length; i++) {
      const bundle = buildProofBundle(events[i] as Record<string, unknown>, i, hashes, checkpoint);
      const parsed = JSON.parse(JSON.stringify(bundle)) as InclusionProofBundle;
      expect(verifyProofBundle(parsed, publicKey, hashEvent)).toEqual({ ok: true, errors: [] });
      expect(verifyProofBundle(parsed, publicKey).ok).toBe(true);
    }
  });

  it('also works when more events exist than the checkpoint covers', () => {
    const later = chain(20);
    const bundle = buildProofBundle(events[4] as Record<string, unknown>, 4, later.hashes, checkpoint);
    expect(bundle.tree_size).toBe(13);
    expect(verifyProofBundle(bundle, publicKey, hashEvent).ok).toBe(true);
  });

  const good = buildProofBundle(events[6] as Record<string, unknown>, 6, hashes, checkpoint);

  it('names an altered event', () => {
    const bundle = { ...good, event: { ...good.event, name: 'rewritten' } };
    const r = verifyProofBundle(bundle, publicKey, hashEvent);
    expect(r.ok).toBe(false);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/event's content hashes to .* the event was altered/);
  });

  it('names a swapped event hash', () => {
    const bundle = { ...good, event_hash: hashes[7] as string };
    const r = verifyProofBundle(bundle, publicKey, hashEvent);
    expect(r.ok).toBe(false);
    expect(r.errors.join(' ')).toMatch(/audit path does not lead/);
    expect(r.errors.join(' ')).toMatch(/stored hash .* differs/);
  });

  it('names a wrong index, path or tree size', () => {
    expect(verifyProofBundle({ ...good, leaf_index: 5 }, publicKey).errors.join(' ')).toMatch(/audit path does not lead/);
    expect(verifyProofBundle({ ...good, leaf_index: 13 }, publicKey).errors.join(' ')).toMatch(/outside the checkpoint/);
    const path = [...good.audit_path];
    path[1] = '00'.repeat(32);
    expect(verifyProofBundle({ ...good, audit_path: path }, publicKey).errors.join(' ')).toMatch(/audit path/);
    expect(verifyProofBundle({ ...good, audit_path: path.slice(1) }, publicKey).ok).toBe(false);
    expect(verifyProofBundle({ ...good, audit_path: ['xyz'] }, publicKey).errors.join(' ')).toMatch(/not a list of/);
    expect(verifyProofBundle({ ...good, tree_size: 12 }, publicKey).errors.join(' ')).toMatch(/differs from the checkpoint/);
  });

  it('names a forged checkpoint or the wrong key', () => {
    const forged = { ...good, checkpoint: { ...checkpoint, root_hash: 'ab'.repeat(32) } };
    const r = verifyProofBundle(forged, publicKey);
    expect(r.errors.join(' ')).toMatch(/checkpoint signature is not valid/);
    expect(r.errors.join(' ')).toMatch(/audit path does not lead/);
    const other = generateKeyPairSync('ed25519').publicKey;
    const r2 = verifyProofBundle(good, other);
    expect(r2.ok).toBe(false);
    expect(r2.errors).toEqual([expect.stringMatching(/checkpoint signature is not valid/)]);
  });

  it('never throws on junk', () => {
    for (const junk of [null, 42, {}, { format: 'otel-audit-inclusion-proof/v1' }, { ...good, checkpoint: null }]) {
      const r = verifyProofBundle(junk as unknown as InclusionProofBundle, publicKey, hashEvent);
      expect(r.ok).toBe(false);
      expect(r.errors.length).toBeGreaterThan(0);
    }
    const throwing = (): string => {
      throw new Error('unsupported row');
    };
    expect(verifyProofBundle(good, publicKey, throwing).errors).toEqual([
      expect.stringMatching(/could not be recomputed: unsupported row/),
    ]);
  });

  it('refuses to build a bundle that cannot verify', () => {
    const wrong = [...hashes];
    wrong[3] = 'cd'.repeat(32);
    expect(() => buildProofBundle(events[0] as Record<string, unknown>, 0, wrong, checkpoint)).toThrow(/do not reproduce/);
    expect(() => buildProofBundle(events[0] as Record<string, unknown>, 13, hashes, checkpoint)).toThrow(RangeError);
    expect(() => buildProofBundle(events[0] as Record<string, unknown>, 0, hashes.slice(0, 5), checkpoint)).toThrow(
      RangeError,
    );
  });
});
