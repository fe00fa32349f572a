/**
 * Hash version 2: the hash covers the row's own RowBinary bytes, the bytes inserted, and a row
 * read back from a real chDB store re-encodes to the same bytes (map order, 64-bit integers as
 * strings, times as text, tuples as objects, nulls, non-BMP text).
 */
import { hash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_COLUMNS, RowWriter, Store } from '../store/index.ts';
import { chainRowParts, encodeChainedRow, encodeRowParts, eventHash, eventHashV1, HASH_DOMAIN_V2, HASH_V2_COLUMNS, HASH_VERSION } from './canonical.ts';
import { ChainWriter } from './chain-writer.ts';
import { chainRows } from './source.ts';
import { syntheticEvent } from './testdata/synthetic.ts';
import { openTempStore, type TempStore } from '../store/testdata/index.ts';

let temp: TempStore;
let store: Store;
beforeAll(async () => {
  temp = await openTempStore('canonical-test-');
  store = temp.store;
});
afterAll(() => temp?.remove());

function events(n: number, chainId: string) {
  return Array.from({ length: n }, (_, i) => {
    const e = syntheticEvent(i, chainId);
    // Keys in an order other than sorted, integer-like keys, non-BMP and escapes.
    e.attributes = { 'z.last': 'z', '10': 'ten', 'a\u0006': `\u{1F469}\u200d\u{1F467} ${i}`, '2': 'two', 'm\\': '"' };
    return e;
  });
}

describe('hash version 2', () => {
  it('covers exactly the inserted bytes, less the hash column', () => {
    const [e] = events(1, 'bytes');
    const w = new RowWriter(1024);
    new ChainWriter('bytes', null).append([e], w);
    expect(e.hash_version).toBe(HASH_VERSION);
    const row = w.take();
    const at = row.indexOf(Buffer.from(`@${e.hash}`, 'latin1')); // the hash column: length 64 ('@'), then the text
    expect(at).toBeGreaterThan(0);
    const hashed = Buffer.concat([Buffer.from(HASH_DOMAIN_V2), row.subarray(0, at), row.subarray(at + 65)]);
    expect(hash('sha256', hashed, 'hex')).toBe(e.hash);
    expect(eventHash(e as unknown as Record<string, unknown>)).toBe(e.hash);
  });

  it('does not depend on the order a map was built in', () => {
    const [a] = events(1, 'order');
    const b = { ...a, attributes: Object.fromEntries(Object.entries(a.attributes).reverse()) };
    const w = new RowWriter(1024);
    const ha = encodeChainedRow(w, { ...a, hash_version: 2 } as never);
    const ra = w.take();
    const hb = encodeChainedRow(w, { ...b, hash_version: 2 } as never);
    expect(hb).toBe(ha);
    expect(w.take().equals(ra)).toBe(true);
  });

  it('rows inserted as RowBinary read back (JSON) to the same hash, and a changed column does not', async () => {
    const evs = events(40, 'roundtrip');
    const w = new RowWriter(1 << 16);
    new ChainWriter('roundtrip', null).append(evs, w);
    await store.insertRowBinary('events', EVENT_COLUMNS, w.take(), 'roundtrip:1-40');
    const back: Array<Record<string, unknown>> = [];
    for await (const r of chainRows(store, { chainId: 'roundtrip' })) back.push(r);
    expect(back).toHaveLength(40);
    expect(back.filter((r) => eventHash(r) !== r.hash).map((r) => r.seq)).toEqual([]);
    expect(back.every((r) => r.hash_version === 2)).toBe(true);
    expect(eventHash({ ...back[3], target_id: `${String(back[3].target_id)}x` })).not.toBe(back[3].hash);
    expect(eventHash({ ...back[3], seq: '5' })).not.toBe(back[3].hash);
    // A row claiming version 1 is checked as version 1: it does not verify.
    expect(eventHash({ ...back[3], hash_version: 0 })).toBe(eventHashV1({ ...back[3], hash_version: 0 }));
    expect(eventHashV1(back[3])).not.toBe(back[3].hash);
  });

  it('a row joined from the parts a worker encodes is the row encodeChainedRow writes, byte for byte', () => {
    const evs: Array<ReturnType<typeof events>[number] & { content_sealed?: string }> = events(3, 'parts');
    evs[1].content_sealed = 'sealed-bytes';
    evs[2].seq = 0;
    const whole = new RowWriter(256);
    new ChainWriter('parts', { seq: 2 ** 33, hash: 'f'.repeat(64) }).append(evs.map((e) => ({ ...e })), whole);
    // The worker's side: body and tail of each row, no chain columns.
    const parts = new RowWriter(256);
    const ends: number[] = [];
    for (const e of evs) {
      const start = parts.pos;
      ends.push(start, encodeRowParts(parts, { ...e, hash_version: 2 } as never), 0);
      ends[ends.length - 1] = parts.pos;
    }
    // The main thread's: joined around the chain columns, in order.
    const joined = new RowWriter(16);
    let prev = 'f'.repeat(64);
    evs.forEach((_, i) => {
      prev = chainRowParts(joined, parts.buf, ends[3 * i], ends[3 * i + 1], ends[3 * i + 2], 'parts', 2 ** 33 + 1 + i, prev);
    });
    expect(joined.take().equals(whole.take())).toBe(true);
    expect(prev).not.toBe('f'.repeat(64));
  });

  it('covers every column of the table but hash: a column added later needs a new hash version', () => {
    expect([...HASH_V2_COLUMNS]).toEqual(EVENT_COLUMNS.map(([n]) => n).filter((n) => n !== 'hash'));
  });
});
