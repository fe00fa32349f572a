
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../internal/index.ts';
import type { AuditEvent } from '../model.ts';
import { Store } from '../store/index.ts';
import { anchorRecordErrors, DirectoryAnchorSink } from './anchor.ts';
import { ChainWriter } from './chain-writer.ts';
import { eventLeafHash, verifyCheckpointSignature } from './checkpoint.ts';
import { Checkpointer, clickHouseToIso, isoToClickHouse, tableCheckpoints, type MerkleWorker } from './checkpointer.ts';
import { IntakePool } from '../intake/index.ts';
import { DEFAULT_POLICY } from '../policy/index.ts';
import { consistencyProofFromCompactRange } from './compact-range.ts';
import { consistencyProof, MerkleAccumulator, rootFromLeafHashes, verifyConsistency } from './merkle.ts';
import { syntheticEvent } from './testdata/synthetic.ts';
import { openTempStore, type TempStore } from '../store/testdata/index.ts';

let store: Store;
let dataDir: string;
let anchorDir: string;
let sink: DirectoryAnchorSink;

let temp: TempStore;
beforeAll(async () => {
  temp = await openTempStore('checkpointer-test-');
  ({ dataDir, store } = temp);
  anchorDir = join(dataDir, 'anchors');
  sink = new DirectoryAnchorSink(anchorDir);
});
afterAll(() => temp?.remove());

/** A chain being written: seals and inserts batches, as the pipeline does. */
class Writer {
  readonly chainId: string;
  readonly writer: ChainWriter;
  readonly all: AuditEvent[] = [];
  constructor(chainId: string) {
    this.chainId = chainId;
    this.writer = new ChainWriter(chainId, null);
  }
  async batch(n: number, cp?: Checkpointer): Promise<void> {
    const evs = Array.from({ length: n }, (_, i) => syntheticEvent(this.all.length + i, this.chainId));
    this.writer.append(evs);
    this.all.push(...evs);
    const body = evs.map((e) => JSON.stringify(e)).join('\n') + '\n';
    await store.insertJsonEachRow('events', body, `${this.chainId}:${evs[0].seq}`);
    cp?.stored(evs[0].seq, evs[n - 1].seq, evs.map((e) => e.hash));
  }
  root(size: number): string {
    return rootFromLeafHashes(this.all.slice(0, size).map((e) => eventLeafHash(e.hash))).toString('hex');
  }
}

const start = (chainId: string, extra: Partial<{ everyEvents: number; intervalMs: number }> = {}, log = silentLogger, merkle?: MerkleWorker) =>
  Checkpointer.start(store, { chainId, dataDir, anchorDir, everyEvents: 100, intervalMs: 0, ...extra }, log, undefined, merkle);

describe('consistency proofs from a compact range', () => {
  it('equal the proofs computed from every leaf', () => {
    const leaves = Array.from({ length: 70 }, (_, i) => eventLeafHash(i.toString(16).padStart(64, '0')));
    for (let m = 1; m <= 70; m++) {
      const acc = new MerkleAccumulator();
      for (let i = 0; i < m; i++) acc.append(leaves[i]);
      for (let n = m; n <= 70; n += m < 8 ? 1 : 5) {
        const got = consistencyProofFromCompactRange(acc.toJSON(), leaves.slice(m, n));
        expect(got.map((h) => h.toString('hex'))).toEqual(consistencyProof(leaves.slice(0, n), m).map((h) => h.toString('hex')));
        expect(verifyConsistency(m, n, got, acc.root(), rootFromLeafHashes(leaves.slice(0, n)))).toBe(true);
      }
    }
  });
});

describe('Checkpointer', () => {
  it('checkpoints every N confirmed events, anchor first, then the table', async () => {
    const w = new Writer('every');
    const cp = await start('every');
    for (let i = 0; i < 5; i++) await w.batch(50, cp);
    await cp.checkpointNow();
    expect(sink.sizesSync('every')).toEqual([100, 200, 250]);
    const { records, errors } = await sink.readAll('every');
    expect(errors).toEqual([]);
    let prev: (typeof records)[number] | null = null;
    for (const r of records) {
      expect(anchorRecordErrors(r)).toEqual([]);
      expect(verifyCheckpointSignature(r.checkpoint, cp.key.publicKey)).toBe(true);
      expect(r.checkpoint.root_hash).toBe(w.root(r.checkpoint.tree_size));
      expect(r.checkpoint.head_hash).toBe(w.all[r.checkpoint.tree_size - 1].hash);
      expect(r.checkpoint.prev_tree_size).toBe(prev?.checkpoint.tree_size ?? 0);
      if (prev) {
        const proof = r.consistency!.proof.map((h) => Buffer.from(h, 'hex'));
        const roots = [prev.checkpoint.root_hash, r.checkpoint.root_hash].map((h) => Buffer.from(h, 'hex'));
        expect(verifyConsistency(prev.checkpoint.tree_size, r.checkpoint.tree_size, proof, roots[0], roots[1])).toBe(true);
      } else {
        expect(r.consistency).toBeUndefined();
      }
      prev = r;
    }
    expect(await tableCheckpoints(store, 'every')).toEqual(records.map((r) => r.checkpoint));
    expect(cp.status()).toMatchObject({ chain_id: 'every', stored_seq: 250, halted: null, latest_checkpoint: { tree_size: 250 } });
    // Nothing new: no new checkpoint.
    await cp.close();
    expect(sink.sizesSync('every')).toEqual([100, 200, 250]);
  });

  for (const proofFails of [false, true]) {
    it(`hashes long runs of leaves and long proofs on an intake worker, with the same roots and consistency proofs; here when the worker fails${proofFails ? ' (every proof)' : ''}`, async () => {
      const pool = new IntakePool(1, { policy: DEFAULT_POLICY, keepsRaw: false });
      let offloaded = 0;
      let proofs = 0;
      // The run of 500 meets a failed worker (runs are hashed later, in the checkpointer's queue).
      const merkle: MerkleWorker = {
        appendLeaves: (state, hashes, keep) => {
          if (hashes.length === 500) return Promise.reject(new Error('worker gone'));
          offloaded += hashes.length;
          return pool.appendLeaves(state, hashes, keep);
        },
        consistencyProof: (old, leaves) => {
          if (proofFails) return Promise.reject(new Error('worker gone'));
          proofs++;
          return pool.consistencyProof(old, leaves);
        },
      };
      try {
        const chainId = `offload-${proofFails}`;
        const w = new Writer(chainId);
        const cp = await start(chainId, { everyEvents: 600 }, silentLogger, merkle);
        // Short runs here, long ones on the worker, a failed worker's here again.
        for (const n of [300, 40, 700, 500, 260]) await w.batch(n, cp);
        await cp.checkpointNow();
        await cp.close();
        expect(offloaded).toBe(300 + 700 + 260);
        // The proof from 1040 to 1800 covers 760 leaves: made on the worker (unless it fails).
        expect(proofs).toBe(proofFails ? 0 : 1);
        expect(sink.sizesSync(chainId)).toEqual([1040, 1800]);
        const { records } = await sink.readAll(chainId);
        for (const [i, r] of records.entries()) {
          expect(r.checkpoint.root_hash).toBe(w.root(r.checkpoint.tree_size));
          expect(r.accumulator).toEqual(MerkleAccumulator.fromJSON(r.accumulator).toJSON());
          if (i === 0) continue;
          const prev = records[i - 1].checkpoint;
          const proof = r.consistency!.proof.map((h) => Buffer.from(h, 'hex'));
          expect(proof.length).toBeGreaterThan(0);
          expect(verifyConsistency(prev.tree_size, r.checkpoint.tree_size, proof, Buffer.from(prev.root_hash, 'hex'), Buffer.from(r.checkpoint.root_hash, 'hex'))).toBe(true);
        }
      } finally {
        await pool.close();
      }
    });
  }

  it('checkpoints on the interval when fewer than N events arrive', async () => {
    const w = new Writer('interval');
    const cp = await start('interval', { everyEvents: 10_000, intervalMs: 100 });
    await w.batch(7, cp);
    for (let i = 0; i < 50 && sink.sizesSync('interval').length === 0; i++) await sleep(50);
    expect(sink.sizesSync('interval')).toEqual([7]);
    await cp.close();
  });

  it('resumes after a restart from the newest anchor, catching up with events stored meanwhile', async () => {
    const w = new Writer('resume');
    let cp = await start('resume');
    await w.batch(120, cp);
    await cp.close();
    expect(sink.sizesSync('resume')).toEqual([120]);
    // Stored while no checkpointer ran (e.g. WAL replay before it started):
    await w.batch(30);
    const lines: string[] = [];
    cp = await start('resume', {}, createLogger('info', (l) => lines.push(l)));
    expect(lines.join('')).toContain('"caught_up_events":30');
    await w.batch(60, cp);
    await cp.close();
    expect(sink.sizesSync('resume')).toEqual([120, 210]);
    const r = sink.readSync('resume', 210);
    expect(r.checkpoint.root_hash).toBe(w.root(210));
    expect(r.checkpoint.prev_tree_size).toBe(120);
    expect(r.consistency?.from_tree_size).toBe(120);
  });

  it('catches up from the store when a confirmed batch was not reported', async () => {
    const w = new Writer('gap');
    const cp = await start('gap');
    await w.batch(40, cp);
    await w.batch(40); // not reported
    await w.batch(40, cp);
    await cp.checkpointNow();
    expect(sink.sizesSync('gap')).toEqual([120]);
    expect(sink.readSync('gap', 120).checkpoint.root_hash).toBe(w.root(120));
    await cp.close();
  });

  it('refuses to sign when the store lost anchored events, and re-inserts anchors missing from the table', async () => {
    const w = new Writer('halt');
    let cp = await start('halt');
    await w.batch(100, cp);
    await cp.close();
    await store.command(`ALTER TABLE otel_audit.checkpoints DELETE WHERE chain_id = 'halt' SETTINGS mutations_sync = 1`);
    cp = await start('halt');
    expect(cp.status().halted).toBeNull();
    expect((await tableCheckpoints(store, 'halt')).map((c) => c.tree_size)).toEqual([100]);
    await cp.close();

    await store.command(`ALTER TABLE otel_audit.events DELETE WHERE chain_id = 'halt' AND seq > 90 SETTINGS mutations_sync = 1`);
    cp = await start('halt');
    expect(cp.status().halted).toMatch(/holds 90 events .* checkpoint 100 is anchored/);
    await w.batch(20, cp);
    await cp.close();
    expect(sink.sizesSync('halt')).toEqual([100]);
  });
});

describe('helpers', () => {
  it('created_at survives the trip through DateTime64(3)', () => {
    const iso = '2026-11-22T08:00:00.120Z';
    expect(isoToClickHouse(iso)).toBe('2026-11-22 08:00:00.120');
    expect(clickHouseToIso('2026-11-22 08:00:00.120')).toBe(iso);
  });
});
