/**
 * Reused memory for chained batches' rows. Memory a process has not written to yet costs a page
 * fault per 4 KiB on first write, and a SharedArrayBuffer is always new memory: on this kind of
 * machine (a VM) copying a batch into new memory cost more main-thread time than encoding it
 * (bench/README.md). Buffers come in power-of-two sizes from 64 KiB and go back to the spool
 * once their batch is stored or evicted, and its log record framed.
 */
const MIN_SIZE = 64 * 1024;

function sizeClass(n: number): number {
  let size = MIN_SIZE;
  while (size < n) size *= 2;
  return size;
}

export class RowBuffers {
  /** SharedArrayBuffers (read by the thread that frames the log record without a copy), or plain ones. */
  readonly shared: boolean;
  private readonly maxFreeBytes: number;
  private readonly free = new Map<number, ArrayBufferLike[]>();
  private freeBytes = 0;
  /** The buffers handed out: only these come back. */
  private readonly out = new WeakSet<ArrayBufferLike>();

  constructor(shared: boolean, maxFreeBytes: number) {
    this.shared = shared;
    this.maxFreeBytes = maxFreeBytes;
  }

  /** A buffer of `n` bytes (its contents are whatever the last batch left). */
  take(n: number): Buffer {
    const size = sizeClass(n);
    let ab = this.free.get(size)?.pop();
    if (ab) this.freeBytes -= size;
    else ab = this.shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
    this.out.add(ab);
    return Buffer.from(ab, 0, n);
  }

  /** Takes a buffer back (no one may read it after this); kept while under the limit. */
  give(b: Buffer): void {
    const ab = b.buffer;
    if (!this.out.delete(ab)) return;
    const size = ab.byteLength;
    if (this.freeBytes + size > this.maxFreeBytes) return;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(ab);
    this.freeBytes += size;
  }

  /** Bytes kept for reuse. */
  get idleBytes(): number {
    return this.freeBytes;
  }
}
