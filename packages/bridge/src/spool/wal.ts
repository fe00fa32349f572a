import { mkdirSync, openSync, closeSync, fsyncSync, readdirSync, readFileSync, truncateSync } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { fsyncPath, skipBytes } from '../internal/durable.ts';

/**
 * A write-ahead log of length-prefixed, checksummed records in numbered segment files.
 *
 * Frame: u32 LE payload length | u32 LE CRC-32 of payload | payload (UTF-8).
 * A torn frame at the end of the newest segment (a crash mid-write) is cut off when the log
 * is opened; a bad checksum anywhere else is corruption and stops the bridge with the file
 * and offset.
 *
 * With a key, every payload is encrypted with AES-256-GCM (12-byte nonce | ciphertext | 16-byte
 * tag): what the log holds before redaction and policy (raw requests, pending content) is never
 * on disk in plain text, and a modified record fails authentication on replay.
 *
 * Appends are group-committed: every append waiting while an fsync runs shares the next one,
 * so a burst of requests costs one fsync, not one each.
 *
 * A failed write (ENOSPC, EIO) rejects the appends it carried and cuts the segment back to its
 * last good size, so that a later successful write never lands behind half a frame (which a
 * replay would take for the end of the log). The log keeps working once the disk has room.
 *
 * Every appended record has a `WalRef` (segment, offset, frame length): the pipeline drops
 * chained batches from memory and reads them back by reference (`read`). A compaction that
 * carries a referenced record into the new segment updates that ref object in place.
 */
export interface WalOptions {
  dir: string;
  /** A new segment starts past this size (the old ones go once a snapshot supersedes them). */
  segmentBytes: number;
  /** Fsync before resolving appends. Only tests of the replay logic turn this off. */
  fsync: boolean;
  /** 32-byte AES-256-GCM key; without one, payloads are stored as they are. */
  key?: Buffer;
}

/** Where a record lives: segment number, byte offset of its frame, frame length (header included). */
export interface WalRef {
  segment: number;
  offset: number;
  length: number;
}

export interface WalRecord {
  payload: Buffer;
  ref: WalRef;
}

export class WalCorruptError extends Error {}

/** Bytes before a frame's payload: u32 length, u32 CRC-32 (also the forward queue's frame, forward/). */
export const HEADER = 8;
const SEGMENT_RE = /^segment-(\d{10})\.wal$/;
/** Carried records are copied into the new segment in writes of about this size. */
const COPY_CHUNK = 4 * 1024 * 1024;

interface Waiter {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

type QueuedOp =
  | { kind: 'data'; payload: Buffer; ref: WalRef | null; waiter: Waiter }
  | { kind: 'rotate'; snapshot: Promise<Buffer>; carried: Array<Promise<Buffer> | WalRef | Promise<WalRef | null>>; waiter: Waiter };

/** A record being framed elsewhere (`frame`, on a worker thread), for `compact`. It must not reject. */
export interface FramedLater {
  framed: Promise<Buffer>;
}


function open_(key: Buffer, encrypted: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, encrypted.subarray(0, 12));
  decipher.setAuthTag(encrypted.subarray(encrypted.length - 16));
  return Buffer.concat([decipher.update(encrypted.subarray(12, encrypted.length - 16)), decipher.final()]);
}

/**
 * The frame of a payload (encrypted with the key, if any), in one buffer. Pure: intake workers
 * frame the requests they decoded, and the log appends the bytes as they are. A payload given
 * as parts is framed as their concatenation, without making it (a chained batch: its record
 * header, then rows that stay in memory for the insert).
 */
export function frame(payload: string | Uint8Array | readonly Uint8Array[], key: Buffer | undefined): Buffer {
  const parts: readonly Uint8Array[] = typeof payload === 'string' ? [Buffer.from(payload, 'utf8')] : payload instanceof Uint8Array ? [payload] : payload;
  let size = 0;
  for (const p of parts) size += p.byteLength;
  // Unpooled: a frame made on a worker is transferred to the main thread, not copied.
  const out = Buffer.allocUnsafeSlow(HEADER + (key ? 12 + size + 16 : size));
  let at = HEADER;
  if (key) {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    nonce.copy(out, at);
    at += 12;
    for (const p of parts) at += cipher.update(p).copy(out, at);
    at += cipher.final().copy(out, at);
    at += cipher.getAuthTag().copy(out, at);
  } else {
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
  }
  const body = out.subarray(HEADER, at);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  return out;
}

/** End of the intact frames of a segment's bytes (the offset of the first torn or bad frame). */
export function intactEnd(buf: Buffer): number {
  let off = 0;
  while (off + HEADER <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (off + HEADER + len > buf.length) break;
    if (crc32(buf.subarray(off + HEADER, off + HEADER + len)) !== buf.readUInt32LE(off + 4)) break;
    off += HEADER + len;
  }
  return off;
}

export class WriteAheadLog {
  readonly options: WalOptions;
  private handle: FileHandle | null = null;
  private segment = 0;
  private segmentSize = 0;
  private appendedSinceRotate = 0;
  private queue: QueuedOp[] = [];
  private flushing: Promise<void> | null = null;
  private totalBytes = 0;
  private closed = false;
  /** The segment may hold bytes past segmentSize (a failed write): cut them before the next write. */
  private dirty = false;
  private errors = 0;
  private queued = 0;
  /** Segments present at open, replayed by records(). */
  private replaySegments: number[] = [];

  private constructor(options: WalOptions) {
    this.options = options;
  }

  /** Opens the log and returns the payloads of every intact record, oldest first (all in memory). */
  static async open(options: WalOptions): Promise<{ wal: WriteAheadLog; records: Buffer[] }> {
    const { wal, records } = await WriteAheadLog.openForReplay(options);
    return { wal, records: Array.from(records(), (r) => r.payload) };
  }

  /**
   * Opens the log for a replay that reads one segment at a time: `records()` yields every
   * intact record of the segments present at open, oldest first, with its ref; it may be
   * iterated more than once, and throws WalCorruptError on damage.
   */
  static async openForReplay(options: WalOptions): Promise<{ wal: WriteAheadLog; records: () => Generator<WalRecord> }> {
    if (options.key && options.key.length !== 32) throw new Error('write-ahead log key must be 32 bytes');
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const wal = new WriteAheadLog(options);
    const segments = wal.listSegments();
    const newest = segments.at(-1);
    if (newest !== undefined) {
      // A crash mid-write leaves a torn frame at the tail of the newest segment: cut it, so that
      // this segment reads cleanly once it is no longer the newest.
      const file = wal.path(newest);
      const buf = readFileSync(file);
      const end = intactEnd(buf);
      if (end < buf.length) {
        truncateSync(file, end);
        if (options.fsync) {
          const fd = openSync(file, 'r+');
          try {
            fsyncSync(fd);
          } finally {
            closeSync(fd);
          }
        }
      }
    }
    for (const seq of segments) wal.totalBytes += (await stat(wal.path(seq))).size;
    wal.replaySegments = segments;
    wal.segment = newest ?? 0;
    await wal.startSegment(wal.segment + 1);
    return { wal, records: () => wal.replay(segments) };
  }

  private *replay(segments: number[]): Generator<WalRecord> {
    for (const seq of segments) {
      const file = this.path(seq);
      let buf: Buffer;
      try {
        buf = readFileSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // compacted away since open
        throw err;
      }
      let off = 0;
      while (off < buf.length) {
        if (off + HEADER > buf.length) throw new WalCorruptError(`write-ahead log ${file} is corrupt at offset ${off}: truncated frame header`);
        const len = buf.readUInt32LE(off);
        if (off + HEADER + len > buf.length) throw new WalCorruptError(`write-ahead log ${file} is corrupt at offset ${off}: frame runs past the end`);
        const body = buf.subarray(off + HEADER, off + HEADER + len);
        if (crc32(body) !== buf.readUInt32LE(off + 4)) {
          throw new WalCorruptError(`write-ahead log ${file} is corrupt at offset ${off}: checksum mismatch`);
        }
        yield { payload: this.decrypt(body, file, off), ref: { segment: seq, offset: off, length: HEADER + len } };
        off += HEADER + len;
      }
    }
  }

  private decrypt(body: Buffer, file: string, off: number): Buffer {
    if (!this.options.key) return Buffer.from(body);
    try {
      return open_(this.options.key, body);
    } catch {
      throw new WalCorruptError(`write-ahead log ${file} record at offset ${off} fails authentication: modified, or written with another key`);
    }
  }

  /** Bytes on disk across all segments. */
  get bytes(): number {
    return this.totalBytes;
  }

  get currentSegmentBytes(): number {
    return this.segmentSize;
  }

  /** Bytes appended since the last compaction (what a compaction could reclaim, at most). */
  get appendedBytes(): number {
    return this.appendedSinceRotate;
  }

  /** Bytes queued and not yet written (appends waiting for the next group commit). */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Resolves once no more than `bytes` wait to be written (at once if so already). */
  async queuedAtMost(bytes: number): Promise<void> {
    while (this.queued > bytes && this.flushing) await this.flushing;
  }

  /** Failed writes since open. */
  get writeErrors(): number {
    return this.errors;
  }

  /**
   * Queues a record; resolves with its ref once it is durable. Callers update their in-memory
   * state when they call this, not when it resolves, so that a snapshot taken at any moment
   * covers every record queued before it (see compact).
   */
  append(payload: string | Uint8Array | readonly Uint8Array[]): Promise<WalRef> {
    return this.appendFramed(frame(payload, this.options.key));
  }

  /**
   * Queues a record framed elsewhere with this log's key (`frame`, on an intake worker); its
   * length word and checksum are checked here, so a bad frame never reaches the disk.
   */
  appendFramed(framed: Buffer): Promise<WalRef> {
    if (this.closed) return Promise.reject(new Error('write-ahead log is closed'));
    if (framed.length < HEADER || framed.readUInt32LE(0) !== framed.length - HEADER || crc32(framed.subarray(HEADER)) !== framed.readUInt32LE(4)) {
      return Promise.reject(new WalCorruptError('a record framed for the write-ahead log is malformed'));
    }
    this.queued += framed.length;
    return new Promise<WalRef>((resolve, reject) => {
      this.queue.push({ kind: 'data', payload: framed, ref: null, waiter: { resolve: resolve as (v: unknown) => void, reject } });
      this.kick();
    });
  }

  /**
   * Starts a new segment whose first record is `snapshot` (everything not yet stored at the
   * moment of the call) and the `carried` records (still needed, re-logged: a payload, or the
   * ref of a record already in the log, copied as it is), then deletes the older segments:
   * their content is either in ClickHouse or in the new segment. Records queued before the
   * call land in the old segment, records queued after it in the new one. Resolves with the new
   * refs of the carried records (ref arguments are also updated in place). A record given as
   * `FramedLater` holds its place in the queue while it is framed elsewhere. A ref may also be
   * given as a promise of a record queued before the call: it is carried once written, and
   * left out (its new ref null) if it resolves to null.
   */
  compact(snapshot: string | Buffer | FramedLater, carried: Array<string | Buffer | WalRef | FramedLater | Promise<WalRef | null>> = []): Promise<Array<WalRef | null>> {
    if (this.closed) return Promise.reject(new Error('write-ahead log is closed'));
    const framed = (c: string | Buffer | FramedLater): Promise<Buffer> => (typeof c === 'string' || Buffer.isBuffer(c) ? Promise.resolve(this.frame(c)) : c.framed);
    return new Promise<WalRef[]>((resolve, reject) => {
      this.queue.push({
        kind: 'rotate',
        snapshot: framed(snapshot),
        carried: carried.map((c) => (c instanceof Promise ? c : typeof c === 'string' || Buffer.isBuffer(c) || 'framed' in c ? framed(c) : c)),
        waiter: { resolve: resolve as (v: unknown) => void, reject },
      });
      this.kick();
    });
  }

  /** A payload framed with this log's key, here (what `append` writes). */
  frame(payload: string | Uint8Array | readonly Uint8Array[]): Buffer {
    return frame(payload, this.options.key);
  }

  /** Reads one record back by its ref (the payload, authenticated and decrypted). */
  async read(ref: WalRef): Promise<Buffer> {
    const file = this.path(ref.segment);
    const raw = await this.readFrame(ref);
    const len = raw.readUInt32LE(0);
    const body = raw.subarray(HEADER);
    if (len !== body.length || crc32(body) !== raw.readUInt32LE(4)) {
      throw new WalCorruptError(`write-ahead log ${file} is corrupt at offset ${ref.offset}: checksum mismatch`);
    }
    return this.decrypt(body, file, ref.offset);
  }

  private async readFrame(ref: WalRef): Promise<Buffer> {
    const fh = await open(this.path(ref.segment), 'r');
    try {
      const buf = Buffer.allocUnsafe(ref.length);
      const { bytesRead } = await fh.read(buf, 0, ref.length, ref.offset);
      if (bytesRead !== ref.length) throw new WalCorruptError(`write-ahead log ${this.path(ref.segment)}: record at offset ${ref.offset} is cut short`);
      return buf;
    } finally {
      await fh.close();
    }
  }

  private kick(): void {
    if (!this.flushing) this.flushing = this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const rotateAt = this.queue.findIndex((op) => op.kind === 'rotate');
        const batch = this.queue.splice(0, rotateAt === -1 ? this.queue.length : Math.max(rotateAt, 1));
        const batchBytes = batch.reduce((n, op) => n + (op.kind === 'data' ? op.payload.length : 0), 0);
        try {
          const first = batch[0];
          if (first.kind === 'rotate') {
            const refs = await this.rotate(await first.snapshot, await Promise.all(first.carried));
            first.waiter.resolve(refs);
            continue;
          }
          if (this.dirty) await this.repair();
          const ops = batch as Array<Extract<QueuedOp, { kind: 'data' }>>;
          let offset = this.segmentSize;
          for (const op of ops) {
            op.ref = { segment: this.segment, offset, length: op.payload.length };
            offset += op.payload.length;
          }
          const data = ops.map((op) => op.payload);
          const size = offset - this.segmentSize;
          try {
            await this.writeAll(data);
            if (this.options.fsync) await this.handle!.datasync();
          } catch (err) {
            this.dirty = true;
            await this.repair().catch(() => {});
            throw err;
          }
          this.segmentSize += size;
          this.totalBytes += size;
          this.appendedSinceRotate += size;
          for (const op of ops) op.waiter.resolve(op.ref);
        } catch (err) {
          this.errors++;
          const e = new Error(`write-ahead log write failed in ${this.options.dir}: ${(err as Error).message}`, { cause: err });
          for (const op of batch) op.waiter.reject(e);
          // Everything queued behind the failed write fails too: a record is never durable while
          // one appended before it is not (the pipeline relies on it for chained batches).
          const behind = this.queue.splice(0);
          for (const op of behind) {
            if (op.kind === 'data') this.queued -= op.payload.length;
            op.waiter.reject(e);
          }
        } finally {
          this.queued -= batchBytes;
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  /** Writes the buffers at the end of the current segment, without joining them (a short write is continued). */
  private async writeAll(data: Buffer | Buffer[]): Promise<void> {
    let bufs = Array.isArray(data) ? data : [data];
    while (bufs.length > 0) {
      const total = bufs.reduce((n, b) => n + b.length, 0);
      const { bytesWritten } = bufs.length === 1 ? await this.handle!.write(bufs[0]) : await this.handle!.writev(bufs);
      if (bytesWritten <= 0) throw new Error('short write');
      if (bytesWritten === total) return;
      bufs = skipBytes(bufs, bytesWritten);
    }
  }

  /** Cuts the current segment back to its last good size after a failed write. */
  private async repair(): Promise<void> {
    await this.handle!.truncate(this.segmentSize);
    if (this.options.fsync) await this.handle!.datasync();
    this.dirty = false;
  }

  private async rotate(snapshot: Buffer, carried: Array<Buffer | WalRef | null>): Promise<Array<WalRef | null>> {
    const old = this.listSegments().filter((s) => s <= this.segment);
    // Opened before the current one is closed: if the disk cannot take a new file, nothing changed.
    const next = await open(this.path(this.segment + 1), 'a');
    await this.handle?.close();
    this.handle = next;
    this.segment += 1;
    this.segmentSize = 0;
    this.dirty = false;
    this.syncDir();
    this.appendedSinceRotate = 0;
    const refs: Array<WalRef | null> = [];
    let written = 0;
    try {
      let chunk: Buffer[] = [snapshot];
      let chunkBytes = snapshot.length;
      for (const c of carried) {
        if (c === null) {
          refs.push(null);
          continue;
        }
        const bytes = Buffer.isBuffer(c) ? c : await this.readFrame(c);
        refs.push({ segment: this.segment, offset: written + chunkBytes, length: bytes.length });
        chunk.push(bytes);
        chunkBytes += bytes.length;
        if (chunkBytes >= COPY_CHUNK) {
          await this.writeAll(chunk);
          written += chunkBytes;
          chunk = [];
          chunkBytes = 0;
        }
      }
      if (chunkBytes > 0) await this.writeAll(chunk);
      written += chunkBytes;
      if (this.options.fsync) await this.handle!.datasync();
    } catch (err) {
      // The old segments still hold everything: drop the partial snapshot and go on without it.
      this.dirty = true;
      this.segmentSize = 0;
      await this.repair().catch(() => {});
      throw err;
    }
    this.segmentSize = written;
    this.totalBytes += written;
    carried.forEach((c, i) => {
      if (c !== null && !Buffer.isBuffer(c)) Object.assign(c, refs[i]);
    });
    for (const seq of old) {
      const file = this.path(seq);
      try {
        this.totalBytes -= (await stat(file)).size;
        await unlink(file);
      } catch {
        /* already gone */
      }
    }
    this.syncDir();
    return refs;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.handle?.close();
    this.handle = null;
  }

  private async startSegment(seq: number): Promise<void> {
    this.segment = seq;
    // 0600: the log holds requests as they arrived (encrypted, but nobody else's business).
    this.handle = await open(this.path(seq), 'a', 0o600);
    this.segmentSize = 0;
    this.dirty = false;
    this.syncDir();
  }

  /** A new file is durable only once its directory entry is. */
  private syncDir(): void {
    if (this.options.fsync) fsyncPath(this.options.dir);
  }

  private listSegments(): number[] {
    return readdirSync(this.options.dir)
      .map((f) => SEGMENT_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  private path(seq: number): string {
    return join(this.options.dir, `segment-${String(seq).padStart(10, '0')}.wal`);
  }
}
