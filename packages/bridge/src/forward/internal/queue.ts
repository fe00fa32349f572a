/**
 * The forward queue: export requests waiting for the downstream, on disk, in numbered segment
 * files of the write-ahead log's frames (spool/wal.ts: u32 length | u32 CRC-32 | payload).
 *
 *   payload: u8 signal (1 traces, 2 logs) | u32 LE items | OTLP protobuf export request
 *
 * - `append` resolves once the record is fsynced (group commit: appends waiting while an
 *   fsync runs share the next one).
 * - `peek` reads from the head: consecutive records of one signal, up to a byte limit, joined
 *   into one request (protobuf repeated fields concatenate: two ExportTraceServiceRequests
 *   back to back are one with both lists).
 * - `ack` moves the head past a batch the downstream confirmed; the head is kept in `cursor`
 *   (written to a temporary file, fsynced, renamed). A segment is deleted only once the head
 *   has passed its end. A crash between a send and its cursor write sends that batch again:
 *   delivery is at least once.
 * - Past `budgetBytes` on disk, the oldest segments are deleted, and their records not yet
 *   acknowledged are counted as dropped: forwarding never grows without bound.
 * - A damaged record (bad checksum) ends its segment for the reader: the rest of the segment
 *   is counted as dropped and skipped. Forward data is a copy; it never stops the bridge.
 *
 * Files 0600 in a 0700 directory, as the write-ahead log's.
 */
import { mkdirSync, readdirSync, readFileSync, truncateSync, unlinkSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { frame, HEADER, intactEnd } from '../../spool/wal.ts';
import { fsyncPath, fsyncPathAsync, skipBytes } from '../../internal/durable.ts';

export type ForwardSignal = 'traces' | 'logs';

export interface QueueOptions {
  dir: string;
  /** A new segment starts past this size; the budget drops whole segments. */
  segmentBytes: number;
  /** Disk budget: past it the oldest segments go, counted as dropped. */
  budgetBytes: number;
  /** Fsync appends and the cursor (only tests of the replay logic turn this off). */
  fsync: boolean;
}

export interface QueueRecord {
  signal: ForwardSignal;
  /** Spans or log records in the request (for the metrics). */
  items: number;
  body: Uint8Array;
}

/** Consecutive records of one signal from the head, joined; `ack` it once the downstream took it. */
export interface QueueBatch {
  signal: ForwardSignal;
  body: Buffer;
  records: number;
  items: number;
  segment: number;
  /** Offset past the batch's last frame in its segment. */
  end: number;
}

export class ForwardQueueError extends Error {
  readonly code: 'FORWARD_QUEUE_WRITE' | 'FORWARD_QUEUE_CLOSED';
  constructor(code: ForwardQueueError['code'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

const SIGNAL_BYTE: Record<ForwardSignal, number> = { traces: 1, logs: 2 };
const SEGMENT_RE = /^segment-(\d{10})\.fwd$/;
const PAYLOAD_HEAD = 5;

interface Segment {
  seq: number;
  /** Bytes of intact, durable frames. */
  bytes: number;
  records: number;
  items: number;
}

interface Head {
  seq: number;
  offset: number;
  /** Records and items of the head segment before `offset`. */
  records: number;
  items: number;
}

interface Pending {
  framed: Buffer;
  items: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface DropReport {
  records: number;
  items: number;
  bytes: number;
  reason: 'budget' | 'damaged';
}

export class ForwardQueue {
  readonly options: QueueOptions;
  /** Oldest first; the last is the one appended to. */
  private segments: Segment[] = [];
  private head: Head;
  private handle: FileHandle | null = null;
  private pending: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;
  private cursorWrite: Promise<void> = Promise.resolve();
  /** Told of every drop (the forwarder counts and logs them). */
  onDrop: (d: DropReport) => void = () => {};

  private constructor(options: QueueOptions, segments: Segment[], head: Head) {
    this.options = options;
    this.segments = segments;
    this.head = head;
  }

  /**
   * Opens the queue: cuts a torn frame off the newest segment (a crash mid-write), counts what
   * each segment holds, reads the cursor, and starts a new segment to append to.
   */
  static async open(options: QueueOptions): Promise<ForwardQueue> {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const seqs = readdirSync(options.dir)
      .map((f) => SEGMENT_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const cursor = readCursor(options.dir);
    const segments: Segment[] = [];
    let head: Head | null = null;
    for (const [i, seq] of seqs.entries()) {
      const file = segmentPath(options.dir, seq);
      if (cursor && seq < cursor.seq) {
        unlinkSync(file); // acknowledged before the crash; its deletion did not happen
        continue;
      }
      const buf = readFileSync(file);
      // Only the newest segment can end in a torn frame; elsewhere a bad frame is damage, which
      // the reader meets, skips and counts (so the frames are walked by length, not checksum).
      let end = buf.length;
      if (i === seqs.length - 1) {
        end = intactEnd(buf);
        if (end < buf.length) {
          truncateSync(file, end);
          if (options.fsync) fsyncPath(file);
        }
      }
      const seg: Segment = { seq, bytes: end, records: 0, items: 0 };
      const isHead = cursor?.seq === seq;
      for (let off = 0; off + HEADER <= end; ) {
        const len = buf.readUInt32LE(off);
        if (isHead && off === cursor!.offset) head = { seq, offset: off, records: seg.records, items: seg.items };
        seg.records++;
        if (len >= PAYLOAD_HEAD && off + HEADER + len <= end) seg.items += buf.readUInt32LE(off + HEADER + 1);
        off += HEADER + len;
      }
      if (isHead && !head) {
        // At or past the end: all of it was acknowledged. Elsewhere (not a frame boundary: a
        // damaged cursor): send the whole segment again rather than skip anything.
        head = cursor!.offset >= end ? { seq, offset: end, records: seg.records, items: seg.items } : { seq, offset: 0, records: 0, items: 0 };
      }
      segments.push(seg);
    }
    const q = new ForwardQueue(options, segments, head ?? { seq: 0, offset: 0, records: 0, items: 0 });
    await q.startSegment((seqs.at(-1) ?? 0) + 1);
    if (!head) q.head = { seq: q.segments[0].seq, offset: 0, records: 0, items: 0 };
    return q;
  }

  /** Bytes on disk. */
  get bytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.bytes;
    return n;
  }

  /** Records (export requests) not yet acknowledged. */
  get records(): number {
    let n = 0;
    for (const s of this.segments) n += s.records;
    return n - this.head.records;
  }

  /** Spans and log records not yet acknowledged. */
  get items(): number {
    let n = 0;
    for (const s of this.segments) n += s.items;
    return n - this.head.items;
  }

  private get current(): Segment {
    return this.segments.at(-1)!;
  }

  /** Queues a record; resolves once it is on disk (fsynced). */
  append(r: QueueRecord): Promise<void> {
    if (this.closed) return Promise.reject(new ForwardQueueError('FORWARD_QUEUE_CLOSED', 'the forward queue is closed'));
    const payload = Buffer.allocUnsafe(PAYLOAD_HEAD + r.body.length);
    payload[0] = SIGNAL_BYTE[r.signal];
    payload.writeUInt32LE(r.items, 1);
    payload.set(r.body, PAYLOAD_HEAD);
    const framed = frame(payload, undefined);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ framed, items: r.items, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        const size = batch.reduce((n, p) => n + p.framed.length, 0);
        try {
          if (this.current.bytes > 0 && this.current.bytes + size > this.options.segmentBytes) await this.rotate();
          this.enforceBudget(size);
          await this.write(batch.map((p) => p.framed), size);
          this.current.bytes += size;
          this.current.records += batch.length;
          for (const p of batch) this.current.items += p.items;
          for (const p of batch) p.resolve();
        } catch (err) {
          const e = new ForwardQueueError('FORWARD_QUEUE_WRITE', `forward queue write failed in ${this.options.dir}: ${(err as Error).message}`, { cause: err });
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  private async write(bufs: Buffer[], size: number): Promise<void> {
    const at = this.current.bytes;
    try {
      let written = 0;
      while (written < size) {
        const { bytesWritten } = await this.handle!.writev(written === 0 ? bufs : skipBytes(bufs, written), at + written);
        if (bytesWritten <= 0) throw new Error('short write');
        written += bytesWritten;
      }
      if (this.options.fsync) await this.handle!.datasync();
    } catch (err) {
      // Cut the segment back, so that no later frame lands behind half a frame.
      await this.handle!.truncate(at).catch(() => {});
      throw err;
    }
  }

  /** Deletes the oldest segments until `incoming` more bytes fit the budget; counts what they held. */
  private enforceBudget(incoming: number): void {
    while (this.bytes + incoming > this.options.budgetBytes && this.segments.length > 1) {
      this.dropSegment(this.segments[0], 'budget');
    }
  }

  private dropSegment(seg: Segment, reason: DropReport['reason']): void {
    const isHead = seg.seq === this.head.seq;
    const lost = {
      records: seg.records - (isHead ? this.head.records : 0),
      items: seg.items - (isHead ? this.head.items : 0),
      bytes: seg.bytes - (isHead ? this.head.offset : 0),
    };
    try {
      unlinkSync(segmentPath(this.options.dir, seg.seq));
    } catch {
      /* already gone */
    }
    this.segments.splice(this.segments.indexOf(seg), 1);
    if (isHead) {
      this.head = { seq: this.segments[0].seq, offset: 0, records: 0, items: 0 };
      void this.saveCursor();
    }
    if (lost.records > 0) this.onDrop({ ...lost, reason });
  }

  private async rotate(): Promise<void> {
    await this.startSegment(this.current.seq + 1);
  }

  private async startSegment(seq: number): Promise<void> {
    // Opened before the current one is closed: if no new file can be made, nothing changed.
    const next = await open(segmentPath(this.options.dir, seq), 'w', 0o600);
    await this.handle?.close();
    this.handle = next;
    this.segments.push({ seq, bytes: 0, records: 0, items: 0 });
    if (this.options.fsync) await fsyncPathAsync(this.options.dir);
  }

  /**
   * The oldest records not yet acknowledged, joined: one signal, at most `maxBytes` of requests
   * (a single larger record comes alone). Null when the queue is empty.
   */
  async peek(maxBytes: number): Promise<QueueBatch | null> {
    for (;;) {
      const seg = this.segments.find((s) => s.seq === this.head.seq);
      if (!seg) return null;
      if (this.head.offset >= seg.bytes) {
        if (seg === this.current) return null;
        this.finishHead(seg);
        continue;
      }
      const start = this.head.offset;
      const avail = seg.bytes - start;
      let buf: Buffer;
      const fh = await open(segmentPath(this.options.dir, seg.seq), 'r');
      try {
        buf = Buffer.allocUnsafe(Math.min(avail, maxBytes + 64 * 1024));
        buf = buf.subarray(0, (await fh.read(buf, 0, buf.length, start)).bytesRead);
        const first = buf.length >= HEADER ? HEADER + buf.readUInt32LE(0) : 0;
        if (first > buf.length && first <= avail) {
          // One record larger than the read: read it whole.
          buf = Buffer.allocUnsafe(first);
          buf = buf.subarray(0, (await fh.read(buf, 0, first, start)).bytesRead);
        }
      } finally {
        await fh.close();
      }
      const bodies: Buffer[] = [];
      let off = 0;
      let signal = 0;
      let items = 0;
      let bytes = 0;
      while (off + HEADER <= buf.length) {
        const len = buf.readUInt32LE(off);
        if (off + HEADER + len > buf.length) break;
        const payload = buf.subarray(off + HEADER, off + HEADER + len);
        const bad = len < PAYLOAD_HEAD || crc32(payload) !== buf.readUInt32LE(off + 4) || (payload[0] !== SIGNAL_BYTE.traces && payload[0] !== SIGNAL_BYTE.logs);
        if (bad || (signal && payload[0] !== signal) || (bodies.length > 0 && bytes + len > maxBytes)) break;
        signal = payload[0];
        items += payload.readUInt32LE(1);
        bodies.push(Buffer.from(payload.subarray(PAYLOAD_HEAD)));
        bytes += len;
        off += HEADER + len;
      }
      if (bodies.length === 0) {
        this.damaged(seg);
        continue;
      }
      return {
        signal: signal === SIGNAL_BYTE.logs ? 'logs' : 'traces',
        body: bodies.length === 1 ? bodies[0] : Buffer.concat(bodies),
        records: bodies.length,
        items,
        segment: seg.seq,
        end: start + off,
      };
    }
  }

  /** The downstream took the batch: the head moves past it (a batch whose segment the budget dropped meanwhile changes nothing). */
  ack(b: QueueBatch): Promise<void> {
    if (b.segment !== this.head.seq || b.end <= this.head.offset) return this.cursorWrite;
    this.head = { seq: b.segment, offset: b.end, records: this.head.records + b.records, items: this.head.items + b.items };
    const seg = this.segments.find((s) => s.seq === b.segment)!;
    if (this.head.offset >= seg.bytes && seg !== this.current) this.finishHead(seg);
    return this.saveCursor();
  }

  /** The head segment is wholly acknowledged: it goes, and the head moves to the next one. */
  private finishHead(seg: Segment): void {
    try {
      unlinkSync(segmentPath(this.options.dir, seg.seq));
    } catch {
      /* already gone */
    }
    this.segments.splice(this.segments.indexOf(seg), 1);
    this.head = { seq: this.segments[0]?.seq ?? seg.seq + 1, offset: 0, records: 0, items: 0 };
    void this.saveCursor();
  }

  /** A bad frame at the head: the rest of its segment is skipped and counted (appends go on behind it). */
  private damaged(seg: Segment): void {
    const lost = { records: seg.records - this.head.records, items: seg.items - this.head.items, bytes: seg.bytes - this.head.offset };
    this.head = { seq: seg.seq, offset: seg.bytes, records: seg.records, items: seg.items };
    void this.saveCursor();
    this.onDrop({ ...lost, reason: 'damaged' });
  }

  /** Writes the head to `cursor` (temporary file, fsync, rename); writes are serialized. */
  private saveCursor(): Promise<void> {
    const head = { seq: this.head.seq, offset: this.head.offset };
    this.cursorWrite = this.cursorWrite.then(async () => {
      const tmp = join(this.options.dir, 'cursor.tmp');
      try {
        const fh = await open(tmp, 'w', 0o600);
        try {
          await fh.writeFile(JSON.stringify(head));
          if (this.options.fsync) await fh.datasync();
        } finally {
          await fh.close();
        }
        await rename(tmp, join(this.options.dir, 'cursor'));
        if (this.options.fsync) await fsyncPathAsync(this.options.dir);
      } catch {
        // The cursor saves work, not data: without it, a restart sends acknowledged batches again.
      }
    });
    return this.cursorWrite;
  }

  /** Waits for pending appends and the cursor, then closes. What is not acknowledged stays for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.cursorWrite;
    await this.handle?.close();
    this.handle = null;
    // An empty segment of this run is not kept (the next start makes its own).
    const cur = this.current;
    if (cur && cur.bytes === 0 && this.segments.length > 0) {
      try {
        unlinkSync(segmentPath(this.options.dir, cur.seq));
      } catch {
        /* gone */
      }
    }
  }
}

function segmentPath(dir: string, seq: number): string {
  return join(dir, `segment-${String(seq).padStart(10, '0')}.fwd`);
}

function readCursor(dir: string): { seq: number; offset: number } | null {
  try {
    const c = JSON.parse(readFileSync(join(dir, 'cursor'), 'utf8')) as { seq: unknown; offset: unknown };
    if (Number.isSafeInteger(c.seq) && Number.isSafeInteger(c.offset) && (c.offset as number) >= 0) return c as { seq: number; offset: number };
  } catch {
    /* none, or unreadable: start at the oldest segment */
  }
  return null;
}



