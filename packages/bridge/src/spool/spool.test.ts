/**
 * The spool against a real chDB store and a real write-ahead log on disk: batches go to
 * ClickHouse in order, survive an outage (inserts failing for real: the store's staging
 * directory replaced by a file) and a restart, are never stored twice, and rows evicted from
 * memory are read back from the log.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainWriter } from '../chain/index.ts';
import { syntheticEvent } from '../chain/testdata/index.ts';
import { Metrics, silentLogger } from '../internal/index.ts';
import type { AuditEvent } from '../model.ts';
import { RowWriter, Store } from '../store/index.ts';
import { checkSpoolConfig, frame, ROW_CHUNK_BYTES, RowBuffers, Spool, SpoolConfigError, WriteAheadLog, type ChainedHeader, type SpoolHooks, type StoredBatch } from './index.ts';
import { IntakePool } from '../intake/index.ts';
import { DEFAULT_POLICY } from '../policy/index.ts';
import { openTempStore, type TempStore } from '../store/testdata/index.ts';

let temp: TempStore;
let store: Store;
let dataDir: string;
beforeAll(async () => {
  temp = await openTempStore('spool-test-');
  ({ dataDir, store } = temp);
});
afterAll(() => temp?.remove());

const staging = () => join(dataDir, 'staging');
const breakStore = () => {
  rmSync(staging(), { recursive: true, force: true });
  writeFileSync(staging(), 'not a directory');
};
const repairStore = () => {
  if (existsSync(staging()) && !statSync(staging()).isDirectory()) rmSync(staging());
  mkdirSync(staging(), { recursive: true, mode: 0o700 });
};

/** A sealed batch of `n` events of `chain`, continuing `writer`. */
function batch(writer: ChainWriter, n: number, from: number, chunks?: (n: number) => Buffer[]): { header: ChainedHeader; rows: Buffer | Buffer[]; events: AuditEvent[] } {
  const events = Array.from({ length: n }, (_, i) => syntheticEvent(from + i, writer.chainId));
  const w = new RowWriter(1 << 16);
  writer.append(events, w);
  const first = events[0];
  const last = events[events.length - 1];
  const header: ChainedHeader = {
    t: 'sealed',
    token: `${writer.chainId}:${first.seq}-${last.seq}:${last.hash}`,
    chainId: writer.chainId,
    firstSeq: first.seq,
    lastSeq: last.seq,
    headHash: last.hash,
    eventIds: events.map((e) => e.event_id),
    hashes: events.map((e) => e.hash),
  };
  if (!chunks) return { header, rows: w.take(), events };
  const rows = chunks(w.pos);
  w.moveTo(rows);
  return { header, rows, events };
}

async function open(dir: string, memoryBytes = 1 << 20, o: { key?: Buffer; frame?: SpoolHooks['frame'] } = {}) {
  const { wal, records } = await WriteAheadLog.openForReplay({ dir, segmentBytes: 1 << 20, fsync: false, key: o.key });
  const stored: StoredBatch[] = [];
  const walErrors: Error[] = [];
  const spool = new Spool(wal, store, { budgetBytes: 1 << 22, memoryBytes }, silentLogger, new Metrics(), {
    onStored: (b) => stored.push(b),
    onWalError: (e) => walErrors.push(e),
    frame: o.frame,
  });
  return { spool, records, stored, walErrors };
}

async function rows(chain: string): Promise<Array<{ seq: string; n: string }>> {
  return store.rows(`SELECT seq, count() AS n FROM otel_audit.events WHERE chain_id = {c:String} GROUP BY seq ORDER BY seq`, { c: chain });
}

describe('RowBuffers', () => {
  it('hands out chunks of one size for any batch, takes back only its own, keeps up to its limit; shared or not', () => {
    const shared = new RowBuffers(true, 3 * ROW_CHUNK_BYTES);
    const a = shared.take(ROW_CHUNK_BYTES * 2 + 10);
    expect(a.map((c) => c.length)).toEqual([ROW_CHUNK_BYTES, ROW_CHUNK_BYTES, 10]);
    expect(a[0].buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared.take(0).map((c) => c.length)).toEqual([0]);
    shared.give(a);
    expect(shared.idleBytes).toBe(3 * ROW_CHUNK_BYTES);
    const b = shared.take(100);
    expect(a.map((c) => c.buffer)).toContain(b[0].buffer);
    expect(shared.idleBytes).toBe(2 * ROW_CHUNK_BYTES);
    shared.give(b);
    shared.give(b); // twice: kept once
    shared.give([Buffer.alloc(ROW_CHUNK_BYTES)]); // not one of its own: ignored
    expect(shared.idleBytes).toBe(3 * ROW_CHUNK_BYTES);
    const more = shared.take(4 * ROW_CHUNK_BYTES);
    shared.give(more); // over the limit: the rest dropped
    expect(shared.idleBytes).toBe(3 * ROW_CHUNK_BYTES);
    expect(new RowBuffers(false, 0).take(10)[0].buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('RowWriter.moveTo fills the chunks in order', () => {
    const w = new RowWriter(16);
    for (let i = 0; i < 1000; i++) w.string(`row ${i}`);
    const all = Buffer.from(w.buf.subarray(0, w.pos));
    const chunks = [Buffer.alloc(1000), Buffer.alloc(1000), Buffer.alloc(all.length - 2000)];
    w.moveTo(chunks);
    expect(Buffer.concat(chunks).equals(all)).toBe(true);
    expect(w.pos).toBe(0);
  });
});

describe('Spool', () => {
  it('validates its limits where they are declared', () => {
    expect(() => checkSpoolConfig({ budgetBytes: 0, memoryBytes: 0 })).toThrow(SpoolConfigError);
    expect(() => checkSpoolConfig({ budgetBytes: 1.5, memoryBytes: 0 })).toThrow(/spool budget/);
    expect(() => checkSpoolConfig({ budgetBytes: 1 << 20, memoryBytes: -1 })).toThrow(/spool memory/);
    expect(checkSpoolConfig({ budgetBytes: 1 << 20, memoryBytes: 0 })).toEqual({ budgetBytes: 1 << 20, memoryBytes: 0 });
  });

  it('inserts batches in order and reports each once, in order', async () => {
    const { spool, stored } = await open(join(dataDir, 'wal-order'));
    const writer = new ChainWriter('order', null);
    for (let i = 0; i < 4; i++) {
      const b = batch(writer, 25, i * 25);
      spool.add(b.header, b.rows);
    }
    spool.kick();
    await spool.waitStored();
    expect(stored.map((b) => [b.firstSeq, b.lastSeq])).toEqual([[1, 25], [26, 50], [51, 75], [76, 100]]);
    expect(spool.idle).toBe(true);
    expect([spool.spooledEvents, spool.spooledBytes, spool.memoryBytes]).toEqual([0, 0, 0]);
    const r = await rows('order');
    expect(r).toHaveLength(100);
    expect(r.every((x) => x.n === '1')).toBe(true);
    await spool.close();
  });

  it('keeps batches through an outage and a restart, then stores each exactly once', async () => {
    const dir = join(dataDir, 'wal-outage');
    const first = await open(dir, 1024); // a small memory budget: later batches are read back from the log
    const writer = new ChainWriter('outage', null);
    const batches = [batch(writer, 30, 0), batch(writer, 30, 30), batch(writer, 30, 60)];
    // The first batch is stored before the outage; the restart does not insert it again.
    first.spool.add(batches[0].header, batches[0].rows);
    first.spool.kick();
    await first.spool.waitStored();
    breakStore();
    try {
      for (const b of batches.slice(1)) first.spool.add(b.header, b.rows);
      first.spool.kick();
      await waitFor(() => first.spool.lastInsertError !== '');
      expect(first.spool.lastInsertError).toMatch(/ENOTDIR/);
      first.spool.evict();
      expect(first.spool.memoryBytes).toBeLessThanOrEqual(batches[1].rows.length);
      expect(first.spool.spooledEvents).toBe(60);
      await first.spool.close(); // gives up: the batches stay in the log
    } finally {
      repairStore();
    }
    expect(await rows('outage')).toHaveLength(30);

    const second = await open(dir);
    const found = second.spool.recover(second.records);
    expect(found.batches).toBe(2);
    expect(found.heads.get('outage')).toEqual({ seq: 90, hash: batches[2].header.headHash });
    expect(found.chainedIds.size).toBe(60);
    second.spool.kick();
    await second.spool.waitStored();
    expect(second.stored.map((b) => b.firstSeq)).toEqual([31, 61]);
    const r = await rows('outage');
    expect(r.map((x) => Number(x.seq))).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
    expect(r.every((x) => x.n === '1')).toBe(true);
    await second.spool.close();

    // Nothing is left to recover: every batch was confirmed.
    const third = await open(dir);
    expect(third.spool.recover(third.records).batches).toBe(0);
    await third.spool.close();
  });

  it('reuses row buffers once their batch is stored: every stored row is the one chained into it', async () => {
    const { spool } = await open(join(dataDir, 'wal-reuse'), 1 << 20, { frame: async (parts) => frame(parts, undefined) });
    const writer = new ChainWriter('reuse', null);
    const hashes: string[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for (let i = 0; i < 6; i++) {
      const b = batch(writer, 15, i * 15, (n) => spool.rowChunks(n));
      buffers.add((b.rows as Buffer[])[0].buffer);
      hashes.push(...b.header.hashes);
      spool.add(b.header, b.rows);
      if (i % 2 === 1) {
        spool.kick();
        await spool.waitStored();
      }
    }
    expect(buffers.size).toBeLessThan(6);
    const stored = await store.rows<{ hash: string }>(`SELECT hash FROM otel_audit.events WHERE chain_id = 'reuse' ORDER BY seq`);
    expect(stored.map((r) => r.hash)).toEqual(hashes);
    await spool.close();
  });

  it('logs batches framed on the intake workers from shared rows (and on this thread when that fails): a restart reads them back', async () => {
    const key = randomBytes(32);
    const pool = new IntakePool(2, { policy: DEFAULT_POLICY, keepsRaw: false, walKey: key });
    let framedElsewhere = 0;
    let failing = false;
    const frame: SpoolHooks['frame'] = async (parts) => {
      if (failing) throw new Error('worker gone');
      const f = await pool.frame(parts);
      framedElsewhere++;
      return f;
    };
    const dir = join(dataDir, 'wal-framed');
    const writer = new ChainWriter('framed', null);
    const first = await open(dir, 1 << 20, { key, frame });
    const rowBuffer = (n: number) => first.spool.rowChunks(n);
    const batches = [batch(writer, 20, 0, rowBuffer), batch(writer, 20, 20, rowBuffer), batch(writer, 20, 40, rowBuffer), batch(writer, 20, 60, rowBuffer)];
    expect((batches[0].rows as Buffer[])[0].buffer).toBeInstanceOf(SharedArrayBuffer);
    breakStore();
    try {
      first.spool.add(batches[0].header, batches[0].rows);
      first.spool.add(batches[1].header, batches[1].rows);
      first.spool.kick();
      await waitFor(() => first.spool.lastInsertError !== '' && framedElsewhere === 2);
      failing = true;
      first.spool.add(batches[2].header, batches[2].rows);
      first.spool.add(batches[3].header, batches[3].rows);
      await first.spool.close();
    } finally {
      repairStore();
      await pool.close();
    }
    expect(first.walErrors).toEqual([]);
    expect(framedElsewhere).toBe(2);

    const second = await open(dir, 1 << 20, { key });
    const found = second.spool.recover(second.records);
    expect(found.batches).toBe(4);
    expect(found.heads.get('framed')).toEqual({ seq: 80, hash: batches[3].header.headHash });
    second.spool.kick();
    await second.spool.waitStored();
    const r = await rows('framed');
    expect(r.map((x) => Number(x.seq))).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    await second.spool.close();
  });
});

async function waitFor(cond: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
