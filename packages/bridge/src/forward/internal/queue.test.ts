import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ForwardQueue, type DropReport, type QueueOptions } from './queue.ts';

const dirOf = () => join(mkdtempSync(join(tmpdir(), 'fwd-queue-')), 'forward');
const opts = (dir: string, o: Partial<QueueOptions> = {}): QueueOptions => ({ dir, segmentBytes: 1 << 20, budgetBytes: 1 << 30, fsync: true, ...o });
const rec = (signal: 'traces' | 'logs', text: string, items = 1) => ({ signal, items, body: Buffer.from(text) });

async function drain(q: ForwardQueue, maxBytes = 1 << 20): Promise<string[]> {
  const out: string[] = [];
  for (let b = await q.peek(maxBytes); b; b = await q.peek(maxBytes)) {
    out.push(`${b.signal}:${b.body.toString()}`);
    await q.ack(b);
  }
  return out;
}

describe('ForwardQueue', () => {
  it('joins consecutive records of one signal, up to maxBytes, and splits where the signal changes', async () => {
    const q = await ForwardQueue.open(opts(dirOf()));
    await Promise.all([rec('traces', 'a'), rec('traces', 'b'), rec('logs', 'c'), rec('traces', 'd'), rec('traces', 'e')].map((r) => q.append(r)));
    expect(q.records).toBe(5);
    const b = (await q.peek(1 << 20))!;
    expect([b.signal, b.body.toString(), b.records, b.items]).toEqual(['traces', 'ab', 2, 2]);
    // Not acknowledged: the same batch again.
    expect((await q.peek(1 << 20))!.body.toString()).toBe('ab');
    await q.ack(b);
    // maxBytes: one record at least, then only what fits.
    expect((await q.peek(1))!.body.toString()).toBe('c');
    expect(await drain(q, 6)).toEqual(['logs:c', 'traces:d', 'traces:e']);
    expect(q.records).toBe(0);
    expect(await q.peek(100)).toBeNull();
    await q.close();
  });

  it('keeps what was not acknowledged across a crash, and not what was', async () => {
    const dir = dirOf();
    const q1 = await ForwardQueue.open(opts(dir));
    for (const t of ['one', 'two', 'three']) await q1.append(rec('traces', t));
    const first = (await q1.peek(3))!;
    expect(first.body.toString()).toBe('one');
    await q1.ack(first);
    // No close: the process died here.
    const q2 = await ForwardQueue.open(opts(dir));
    expect(q2.records).toBe(2);
    expect(await drain(q2, 5)).toEqual(['traces:two', 'traces:three']);
    await q2.close();
    const q3 = await ForwardQueue.open(opts(dir));
    expect(q3.records).toBe(0);
    expect(await q3.peek(100)).toBeNull();
    await q3.close();
  });

  it('cuts a torn frame off the newest segment at open', async () => {
    const dir = dirOf();
    const q1 = await ForwardQueue.open(opts(dir));
    await q1.append(rec('logs', 'kept'));
    const seg = readdirSync(dir).find((f) => f.endsWith('.fwd'))!;
    appendFileSync(join(dir, seg), Buffer.from([200, 0, 0, 0, 1, 2, 3])); // a frame cut short by a crash
    const q2 = await ForwardQueue.open(opts(dir));
    expect(statSync(join(dir, seg)).size).toBe(8 + 5 + 4);
    await q2.append(rec('logs', 'after'));
    expect(await drain(q2)).toEqual(['logs:kept', 'logs:after']);
    await q2.close();
  });

  it('over its budget drops the oldest segments and counts their unacknowledged records', async () => {
    const dir = dirOf();
    const q = await ForwardQueue.open(opts(dir, { segmentBytes: 1000, budgetBytes: 4000 }));
    const drops: DropReport[] = [];
    q.onDrop = (d) => drops.push(d);
    const head = (await q.append(rec('traces', 'x'.repeat(300), 3)), await q.peek(1000))!;
    for (let i = 1; i < 40; i++) await q.append(rec('traces', String(i).padStart(300, '.'), 3));
    expect(q.bytes).toBeLessThanOrEqual(4000);
    const dropped = drops.reduce((n, d) => n + d.records, 0);
    expect(drops.every((d) => d.reason === 'budget')).toBe(true);
    expect(dropped).toBeGreaterThan(20);
    expect(q.records).toBe(40 - dropped);
    expect(drops.reduce((n, d) => n + d.items, 0)).toBe(dropped * 3);
    // A batch read before its segment went: acknowledging it changes nothing.
    await q.ack(head);
    expect(q.records).toBe(40 - dropped);
    // The newest survive, in order.
    const left = await drain(q, 1);
    expect(left.length).toBe(40 - dropped);
    expect(left.at(-1)).toBe(`traces:${'39'.padStart(300, '.')}`);
    expect(left[0]).toBe(`traces:${String(dropped).padStart(300, '.')}`);
    await q.close();
  });

  it('skips the rest of a segment with a damaged record, counted, and goes on with the next', async () => {
    const dir = dirOf();
    // 23-byte frames: two per segment.
    const q1 = await ForwardQueue.open(opts(dir, { segmentBytes: 50 }));
    for (const t of ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd']) await q1.append(rec('traces', t));
    await q1.close();
    const segs = readdirSync(dir).filter((f) => f.endsWith('.fwd')).sort();
    const file = join(dir, segs[0]);
    const bytes = readFileSync(file);
    expect(segs.length).toBe(2);
    bytes[bytes.length - 3] ^= 0xff; // the payload of the segment's last record, 'bbbbbbbbbb'
    writeFileSync(file, bytes);
    const q2 = await ForwardQueue.open(opts(dir, { segmentBytes: 50 }));
    const drops: DropReport[] = [];
    q2.onDrop = (d) => drops.push(d);
    const got = await drain(q2, 1);
    expect(drops.map((d) => [d.reason, d.records])).toEqual([['damaged', 1]]);
    expect(got).toEqual(['traces:aaaaaaaaaa', 'traces:cccccccccc', 'traces:dddddddddd']);
    await q2.close();
  });

  it('keeps its files owner-only: 0600 in a 0700 directory', async () => {
    const dir = dirOf();
    const q = await ForwardQueue.open(opts(dir));
    await q.append(rec('traces', 'x'));
    await q.ack((await q.peek(10))!);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
    await q.close();
  });
});
