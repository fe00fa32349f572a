import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ChainWriter, eventHash } from '../chain/index.ts';
import { RowWriter, rowEncoder, structureOf } from './rowbinary.ts';
import { EVENT_COLUMNS } from './schema.ts';
import { Store } from './store.ts';
import { sampleEvent } from './testdata/sample-event.ts';

let store: Store;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rowbinary-test-'));
  store = await Store.open({ dataDir: dir, database: 'otel_audit' });
  await store.migrate();
});
afterAll(async () => {
  await store?.close();
});

it('rows encoded as RowBinary read back from chDB equal the rows, and keep their hashes', async () => {
  const events = [sampleEvent(1), sampleEvent(2), sampleEvent(3)];
  events[2].attributes = {};
  events[2].sources = [];
  events[2].links = [];
  events[1].rationale = 'ünïcödé ✓ 🚀 and a long one '.repeat(20);
  new ChainWriter('rb', null).append(events);
  const w = new RowWriter(64);
  const encode = rowEncoder(EVENT_COLUMNS);
  for (const e of events) encode(w, e as unknown as Record<string, unknown>);
  const file = join(dir, 'rows.bin');
  writeFileSync(file, w.take());
  await store.command(
    `INSERT INTO otel_audit.events SELECT * FROM file('${file}', RowBinary, '${structureOf(EVENT_COLUMNS).replaceAll("'", "\\'")}')`,
  );
  const back = await store.rows<Record<string, unknown>>("SELECT * FROM otel_audit.events WHERE chain_id = 'rb' ORDER BY seq");
  expect(back).toHaveLength(3);
  back.forEach((row, i) => {
    expect(eventHash(row)).toBe(events[i].hash);
    expect(row.rationale).toBe(events[i].rationale);
    expect(row.event_time).toBe(events[i].event_time);
    expect(row.input_tokens).toBe(events[i].input_tokens === null ? null : String(events[i].input_tokens));
  });
});

it('Store.insertRowBinary stages, inserts and deduplicates a re-sent batch by its token', async () => {
  const events = [sampleEvent(10), sampleEvent(11)];
  new ChainWriter('rb2', null).append(events);
  const w = new RowWriter();
  const encode = rowEncoder(EVENT_COLUMNS);
  for (const e of events) encode(w, e as unknown as Record<string, unknown>);
  const bytes = w.take();
  await store.insertRowBinary('events', EVENT_COLUMNS, bytes, 'rb2:1-2');
  await store.insertRowBinary('events', EVENT_COLUMNS, bytes, 'rb2:1-2');
  const [{ n }] = await store.rows<{ n: string }>("SELECT count() AS n FROM otel_audit.events WHERE chain_id = 'rb2'");
  expect(Number(n)).toBe(2);
});

it('strings round-trip at the length-prefix boundaries, ASCII and multi-byte, through chDB', async () => {
  // The writer puts a one-byte length after the bytes for strings under 43 UTF-16 units (at most
  // 126 UTF-8 bytes) and measures longer ones first: test both sides with 1- to 4-byte characters.
  const samples = ['', 'a', 'x'.repeat(42), 'x'.repeat(43), 'x'.repeat(127), 'x'.repeat(128), '€'.repeat(42), '€'.repeat(43), '😀'.repeat(21), '😀'.repeat(22), 'é'.repeat(64), `${'a'.repeat(41)}€`];
  const w = new RowWriter(8);
  for (const s of samples) w.string(s);
  const file = join(dir, 'strings.bin');
  writeFileSync(file, w.take());
  const back = await store.rows<{ s: string }>(`SELECT s FROM file('${file}', RowBinary, 's String')`);
  expect(back.map((r) => r.s)).toEqual(samples);
});

it('spillTo moves the first bytes out and keeps the rest, so that the pieces join to what was written', () => {
  const w = new RowWriter(16);
  for (let i = 0; i < 100; i++) w.string(`value ${i}`);
  const all = Buffer.from(w.buf.subarray(0, w.pos));
  const pieces: Buffer[] = [];
  while (w.pos >= 64) {
    const chunk = Buffer.alloc(64);
    w.spillTo(chunk);
    pieces.push(chunk);
  }
  pieces.push(w.take());
  expect(Buffer.concat(pieces).equals(all)).toBe(true);
  expect(() => w.spillTo(Buffer.alloc(1))).toThrow(/1 bytes asked, 0 written/);
});

it('encodes a map the same whatever order its keys were added in, sorted or not', () => {
  const encode = rowEncoder([['m', 'Map(LowCardinality(String), String)']]);
  const keys = ['b', 'a.z', 'a', 'A', '10', '2', 'é', 'z', 'a\u0000'];
  const bytes = (order: string[]) => {
    const w = new RowWriter(16);
    encode(w, { m: Object.fromEntries(order.map((k) => [k, `v:${k}`])) });
    return w.take();
  };
  const sorted = bytes([...keys].sort());
  expect(bytes(keys).equals(sorted)).toBe(true);
  expect(bytes([...keys].sort().reverse()).equals(sorted)).toBe(true);
  // Sorted but for the last pair: the check must look at every pair. (Integer-like keys are
  // listed first by Object.keys whatever the order they were added in: not here.)
  const words = keys.filter((k) => !/^\d+$/.test(k));
  const almost = [...words].sort();
  expect(bytes(almost).equals(bytes(words))).toBe(true);
  [almost[almost.length - 2], almost[almost.length - 1]] = [almost[almost.length - 1], almost[almost.length - 2]];
  expect(bytes(almost).equals(bytes([...words].sort()))).toBe(true);
});

it('encodes UInt64 from numbers as from bigints and decimal strings', () => {
  const encode = rowEncoder([['n', 'UInt64']]);
  for (const n of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
    const a = new RowWriter(8);
    encode(a, { n });
    const b = new RowWriter(8);
    encode(b, { n: BigInt(n) });
    const c = new RowWriter(8);
    encode(c, { n: String(n) });
    expect(a.take().readBigUInt64LE(0)).toBe(BigInt(n));
    expect(b.take().equals(c.take())).toBe(true);
  }
  const big = new RowWriter(8);
  encode(big, { n: '18446744073709551615' });
  expect(big.take().readBigUInt64LE(0)).toBe(2n ** 64n - 1n);
});

it('refuses a column whose name is not an identifier', () => {
  expect(() => rowEncoder([['a-b', 'String']])).toThrow(/column name "a-b" is not an identifier/);
});
