import { appendFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { frame, WalCorruptError, WriteAheadLog } from './wal.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'wal-test-'));

describe('WriteAheadLog', () => {
  it('replays what was appended, in order, across reopenings', async () => {
    const d = dir();
    const { wal } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: true });
    await Promise.all(Array.from({ length: 100 }, (_, i) => wal.append(`record ${i}`)));
    await wal.close();
    const again = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: true });
    expect(again.records.map(String)).toEqual(Array.from({ length: 100 }, (_, i) => `record ${i}`));
    await again.wal.append('after');
    await again.wal.close();
    const third = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: true });
    expect(String(third.records.at(-1))).toBe('after');
    await third.wal.close();
  });

  it('ignores a torn record at the tail of the newest segment', async () => {
    const d = dir();
    const { wal } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false });
    await wal.append('one');
    await wal.append('two');
    await wal.close();
    const seg = readdirSync(d).sort().at(-1)!;
    const buf = readFileSync(join(d, seg));
    writeFileSync(join(d, seg), buf.subarray(0, buf.length - 2));
    const { records, wal: w2 } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false });
    expect(records.map(String)).toEqual(['one']);
    await w2.close();
  });

  it('reports corruption in the middle of the log with the file and offset', async () => {
    const d = dir();
    const { wal } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false });
    await wal.append('one');
    await wal.close();
    const first = readdirSync(d).sort()[0];
    const buf = readFileSync(join(d, first));
    buf[buf.length - 1] ^= 0xff;
    writeFileSync(join(d, first), buf);
    // A later segment exists, so the damage is not a torn tail.
    appendFileSync(join(d, 'segment-9999999999.wal'), '');
    await expect(WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false })).rejects.toThrow(WalCorruptError);
  });

  it('compaction keeps records queued after it and the snapshot, and drops older segments', async () => {
    const d = dir();
    const { wal } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: true });
    const before = wal.append('old');
    const compacted = wal.compact('SNAPSHOT');
    const after = wal.append('new');
    await Promise.all([before, compacted, after]);
    await wal.close();
    const { records, wal: w2 } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: true });
    expect(records.map(String)).toEqual(['SNAPSHOT', 'new']);
    await w2.close();
  });

  it('a compaction whose records are framed elsewhere holds its place: what is queued after it waits and lands after them', async () => {
    const d = dir();
    const key = Buffer.alloc(32, 7);
    const { wal } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: true, key });
    const before = wal.append('old');
    let release!: () => void;
    const later = new Promise<void>((r) => (release = r));
    const compacted = wal.compact(
      { framed: later.then(() => frame('SNAPSHOT', key)) },
      ['carried here', { framed: later.then(() => frame([Buffer.from('carried '), Buffer.from('in parts')], key)) }],
    );
    const after = wal.append('new');
    await before;
    let afterDone = false;
    void after.then(() => (afterDone = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(afterDone).toBe(false);
    release();
    await Promise.all([compacted, after]);
    await wal.close();
    const { records, wal: w2 } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: true, key });
    expect(records.map(String)).toEqual(['SNAPSHOT', 'carried here', 'carried in parts', 'new']);
    await w2.close();
  });
});

describe('WriteAheadLog encryption', () => {
  it('stores no plaintext, replays with the key, and refuses a modified record', async () => {
    const d = dir();
    const key = Buffer.alloc(32, 7);
    const { wal } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false, key });
    await wal.append('password=hunter2 and sk-proj-secret');
    await wal.append('second');
    await wal.close();
    const seg = readdirSync(d).sort().at(-1)!;
    const raw = readFileSync(join(d, seg));
    expect(raw.includes('hunter2')).toBe(false);
    const { records, wal: w2 } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false, key });
    expect(records.map(String)).toEqual(['password=hunter2 and sk-proj-secret', 'second']);
    await w2.close();
    // Flip a ciphertext byte of the first record and fix its CRC: authentication still fails.
    const { crc32 } = await import('node:zlib');
    const len = raw.readUInt32LE(0);
    raw[8 + 20] ^= 1;
    raw.writeUInt32LE(crc32(raw.subarray(8, 8 + len)), 4);
    writeFileSync(join(d, seg), raw);
    appendFileSync(join(d, 'segment-9999999999.wal'), '');
    await expect(WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false, key })).rejects.toThrow(/fails authentication/);
  });
});

describe('WriteAheadLog refs', () => {
  it('appends records framed elsewhere (on an intake worker) as they are, and refuses a malformed one', async () => {
    const d = dir();
    const key = Buffer.alloc(32, 7);
    const { wal } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false, key });
    await wal.append('SECRET raw request');
    await wal.appendFramed(frame('SECRET framed on a worker', key));
    await expect(wal.appendFramed(Buffer.from('not a frame'))).rejects.toThrow(WalCorruptError);
    const bad = frame('tampered', key);
    bad[bad.length - 1] ^= 1;
    await expect(wal.appendFramed(bad)).rejects.toThrow(/malformed/);
    await wal.close();
    const bytes = Buffer.concat(readdirSync(d).map((f) => readFileSync(join(d, f))));
    expect(bytes.includes('SECRET')).toBe(false);
    const again = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false, key });
    expect(again.records.map(String)).toEqual(['SECRET raw request', 'SECRET framed on a worker']);
    await again.wal.close();
  });

  it('reads records back by ref, also after a compaction carried them into a new segment', async () => {
    const d = dir();
    const key = Buffer.alloc(32, 3);
    const { wal } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: true, key });
    const refs = await Promise.all(Array.from({ length: 5 }, (_, i) => wal.append(`batch ${i}`)));
    expect(String(await wal.read(refs[3]))).toBe('batch 3');
    const oldSegment = refs[3].segment;
    // Carry batch 3 by ref (copied as it is) and a new payload; batch 0..2 and 4 are dropped.
    const carried = [refs[3]];
    const moved = await wal.compact('SNAPSHOT', [...carried, 'fresh']);
    expect(refs[3].segment).toBeGreaterThan(oldSegment); // updated in place
    expect(moved[0]).toEqual(refs[3]);
    expect(String(await wal.read(refs[3]))).toBe('batch 3');
    expect(String(await wal.read(moved[1]!))).toBe('fresh');
    const after = await wal.append('after');
    expect(after.offset).toBe(moved[1]!.offset + moved[1]!.length);
    await wal.close();
    const { records, wal: w2 } = await WriteAheadLog.openForReplay({ dir: d, segmentBytes: 1 << 20, fsync: true, key });
    // Iterable twice, one segment at a time.
    for (let pass = 0; pass < 2; pass++) expect([...records()].map((r) => String(r.payload))).toEqual(['SNAPSHOT', 'batch 3', 'fresh', 'after']);
    const last = [...records()].at(-1)!;
    expect(String(await w2.read(last.ref))).toBe('after');
    await w2.close();
  });

  it('a torn tail is cut at open, so that the segment reads cleanly once it is no longer the newest', async () => {
    const d = dir();
    const { wal } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false });
    await wal.append('one');
    await wal.append('two');
    await wal.close();
    const seg = readdirSync(d).sort().at(-1)!;
    const buf = readFileSync(join(d, seg));
    // A frame whose header is whole but whose payload is zeros (a power cut): the checksum fails.
    writeFileSync(join(d, seg), Buffer.concat([buf.subarray(0, buf.length - 3), Buffer.alloc(3)]));
    for (let i = 0; i < 3; i++) {
      const { records, wal: again } = await WriteAheadLog.open({ dir: d, segmentBytes: 1 << 20, fsync: false });
      expect(records.map(String)).toEqual(['one']);
      await again.close();
    }
  });
});
