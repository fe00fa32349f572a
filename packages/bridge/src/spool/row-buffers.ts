/**
 * Reused memory for chained batches' rows, in chunks of one size. Memory a process has not
 * written to yet costs a page fault per 4 KiB on first write, and a SharedArrayBuffer is always
 * new memory: on this kind of machine (a VM) copying a batch into new memory cost more
 * main-thread time than encoding it (bench/README.md). Batches vary in size from a few KiB to
 * tens of MiB, so rows go into fixed-size chunks, which any batch can reuse, and no batch holds
 * more than a chunk it does not fill. Chunks go back once their batch is stored or evicted, and
 * its log record framed.
 */
export const ROW_CHUNK_BYTES = 256 * 1024;

export class RowBuffers {
  /** SharedArrayBuffers (read by the thread that frames the log record without a copy), or plain ones. */
  readonly shared: boolean;
  private readonly maxIdle: number;
  private readonly idle: ArrayBufferLike[] = [];
  /** The chunks handed out: only these come back. */
  private readonly out = new WeakSet<ArrayBufferLike>();

  constructor(shared: boolean, maxIdleBytes: number) {
    this.shared = shared;
    this.maxIdle = Math.floor(maxIdleBytes / ROW_CHUNK_BYTES);
  }

  /** Chunks holding `n` bytes in all, each full but the last (their contents are whatever was there). */
  take(n: number): Buffer[] {
    const chunks: Buffer[] = [];
    for (let left = n; left > 0 || chunks.length === 0; left -= ROW_CHUNK_BYTES) {
      const ab = this.idle.pop() ?? (this.shared ? new SharedArrayBuffer(ROW_CHUNK_BYTES) : new ArrayBuffer(ROW_CHUNK_BYTES));
      this.out.add(ab);
      chunks.push(Buffer.from(ab, 0, Math.max(0, Math.min(left, ROW_CHUNK_BYTES))));
    }
    return chunks;
  }

  /** Takes chunks back (no one may read them after this); kept while under the limit. */
  give(chunks: readonly Buffer[]): void {
    for (const c of chunks) {
      if (!this.out.delete(c.buffer)) continue;
      if (this.idle.length < this.maxIdle) this.idle.push(c.buffer);
    }
  }

  /** Bytes kept for reuse. */
  get idleBytes(): number {
    return this.idle.length * ROW_CHUNK_BYTES;
  }
}
