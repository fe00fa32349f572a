/**
 * The small pieces of durable writes the log, the forward queue, the key store and the anchor
 * directory share: fsync of a path (a new or renamed file is durable only once its directory
 * entry is), and what is left to write after a short vectored write.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** fsync of a file or a directory, by path. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync of a file or a directory, by path, off the event loop. */
export async function fsyncPathAsync(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The buffers past their first `n` bytes (the rest of a short `writev`). */
export function skipBytes(bufs: readonly Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}
