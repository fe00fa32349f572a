import { mkdirSync, openSync, closeSync, fsyncSync, readdirSync, readFileSync } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * A write-ahead log of length-prefixed, checksummed records in numbered segment files.
 *
 * Frame: u32 LE payload length | u32 LE CRC-32 of payload | payload (UTF-8).
 * A torn frame at the end of the newest segment (a crash mid-write) is ignored on replay;
 * a bad checksum anywhere else is corruption and stops the bridge with the file and offset.
 *
 * With a key, every payload is sealed with AES-256-GCM (12-byte nonce | ciphertext | 16-byte
 * tag): what the log holds before redaction and policy (raw requests, pending content) is never
 * on disk in plain text, and a modified record fails authentication on replay.
 *
 * Appends are group-committed: every append waiting while an fsync runs shares the next one,
 * so a burst of requests costs one fsync, not one each.
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

export class WalCorruptError extends Error {}

const HEADER = 8;
const SEGMENT_RE = /^segment-(\d{10})\.wal$/;

interface QueuedOp {
  kind: 'data' | 'rotate';
  payload: Buffer;
}

function seal(key: Buffer, plain: Buffer): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const head = cipher.update(plain);
  const tail = cipher.final();
  return Buffer.concat([nonce, head, tail, cipher.getAuthTag()]);
}

function open_(key: Buffer, sealed: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
}

function frame(payload: string | Buffer, key: Buffer | undefined): Buffer {
  const plain = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const body = key ? seal(key, plain) : plain;
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, HEADER);
  return out;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class WriteAheadLog {
  readonly options: WalOptions;
  private handle: FileHandle | null = null;
  private segment = 0;
  private segmentSize = 0;
  private queue: Array<QueuedOp & { waiter: Waiter }> = [];
  private flushing: Promise<void> | null = null;
  private totalBytes = 0;
  private closed = false;

  private constructor(options: WalOptions) {
    this.options = options;
  }

  /** Opens the log and returns the payloads of every intact record, oldest first. */
  static async open(options: WalOptions): Promise<{ wal: WriteAheadLog; records: Buffer[] }> {
    if (options.key && options.key.length !== 32) throw new Error('write-ahead log key must be 32 bytes');
    mkdirSync(options.dir, { recursive: true });
    const wal = new WriteAheadLog(options);
    const segments = wal.listSegments();
    const records: Buffer[] = [];
    segments.forEach((seq, i) => {
      const file = wal.path(seq);
      const buf = readFileSync(file);
      wal.totalBytes += buf.length;
      let off = 0;
      while (off < buf.length) {
        if (off + HEADER > buf.length) break;
        const len = buf.readUInt32LE(off);
        const sum = buf.readUInt32LE(off + 4);
        if (off + HEADER + len > buf.length) break;
        const payload = buf.subarray(off + HEADER, off + HEADER + len);
        if (crc32(payload) !== sum) {
          const last = i === segments.length - 1;
          if (last) break; // torn tail of the newest segment
          throw new WalCorruptError(`write-ahead log ${file} is corrupt at offset ${off}: checksum mismatch`);
        }
        if (options.key) {
          try {
            records.push(open_(options.key, payload));
          } catch {
            throw new WalCorruptError(
              `write-ahead log ${file} record at offset ${off} fails authentication: modified, or written with another key`,
            );
          }
        } else {
          records.push(Buffer.from(payload));
        }
        off += HEADER + len;
      }
    });
    wal.segment = segments.at(-1) ?? 0;
    await wal.startSegment(wal.segment + 1);
    return { wal, records };
  }

  /** Bytes on disk across all segments. */
  get bytes(): number {
    return this.totalBytes;
  }

  get currentSegmentBytes(): number {
    return this.segmentSize;
  }

  /**
   * Queues a record; resolves once it is durable. Callers update their in-memory state when
   * they call this, not when it resolves, so that a snapshot taken at any moment covers every
   * record queued before it (see compact).
   */
  append(payload: string | Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new Error('write-ahead log is closed'));
    return this.enqueue({ kind: 'data', payload: frame(payload, this.options.key) });
  }

  /**
   * Starts a new segment whose first record is `snapshot` (everything not yet stored at the
   * moment of the call) and the `carried` records (still needed, re-logged), then deletes the
   * older segments: their content is either in ClickHouse or in the new segment. Records
   * queued before the call land in the old segment, records queued after it in the new one.
   */
  compact(snapshot: string | Buffer, carried: Array<string | Buffer> = []): Promise<void> {
    if (this.closed) return Promise.reject(new Error('write-ahead log is closed'));
    const payload = Buffer.concat([snapshot, ...carried].map((p) => frame(p, this.options.key)));
    return this.enqueue({ kind: 'rotate', payload });
  }

  private enqueue(op: QueuedOp): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...op, waiter: { resolve, reject } });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const rotateAt = this.queue.findIndex((op) => op.kind === 'rotate');
        const batch = this.queue.splice(0, rotateAt === -1 ? this.queue.length : Math.max(rotateAt, 1));
        try {
          if (batch[0].kind === 'rotate') {
            await this.rotate(batch[0].payload);
          } else {
            const data = Buffer.concat(batch.map((op) => op.payload));
            await this.handle!.write(data);
            if (this.options.fsync) await this.handle!.datasync();
            this.segmentSize += data.length;
            this.totalBytes += data.length;
          }
          for (const op of batch) op.waiter.resolve();
        } catch (err) {
          const e = new Error(`write-ahead log write failed in ${this.options.dir}: ${(err as Error).message}`, { cause: err });
          for (const op of batch) op.waiter.reject(e);
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  private async rotate(snapshot: Buffer): Promise<void> {
    const old = this.listSegments().filter((s) => s <= this.segment);
    await this.handle?.close();
    await this.startSegment(this.segment + 1);
    await this.handle!.write(snapshot);
    if (this.options.fsync) await this.handle!.datasync();
    this.segmentSize += snapshot.length;
    this.totalBytes += snapshot.length;
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
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.handle?.close();
    this.handle = null;
  }

  private async startSegment(seq: number): Promise<void> {
    this.segment = seq;
    this.handle = await open(this.path(seq), 'a');
    this.segmentSize = 0;
    this.syncDir();
  }

  /** A new file is durable only once its directory entry is. */
  private syncDir(): void {
    if (!this.options.fsync) return;
    const fd = openSync(this.options.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
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
