/**
 * The zip container of evidence packs, on fflate (pure JS, no dependencies, types included):
 *
 *  - writing: fflate's streaming `Zip` lays out the archive (local headers, data descriptors, the
 *    central directory) and emits it chunk by chunk; the DEFLATE of each entry is node:zlib's,
 *    which runs on the libuv thread pool, not on the bridge's main thread (fflate's own deflate
 *    is synchronous JavaScript). Entries may be written at the same time: fflate holds the
 *    compressed output of an entry until the ones before it are finished.
 *  - reading: fflate's `unzipSync` over the whole archive in memory, one entry at a time, through
 *    the central directory (as unzip tools read it).
 *
 * No Zip64: an entry and the archive stay under 4 GiB, which the writer enforces.
 */
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { crc32, createDeflateRaw, type DeflateRaw } from 'node:zlib';
import { unzipSync, Zip, type UnzipFileInfo, type ZipInputFile } from 'fflate';
import type { ManifestFile } from './format.ts';

const ZIP32_LIMIT = 0xffff_ffff;

/** A zip entry written through node:zlib; its SHA-256 and size are kept for the manifest. */
export class ZipEntryWriter {
  readonly name: string;
  private readonly z: DeflateRaw;
  private readonly sha: Hash = createHash('sha256');
  private bytes = 0;
  private crc = 0;
  private readonly done: Promise<void>;

  constructor(name: string, input: ZipInputFile, level: number) {
    this.name = name;
    this.z = createDeflateRaw({ level });
    this.z.on('data', (c: Buffer) => input.ondata!(null, c as Uint8Array<ArrayBuffer>, false));
    this.done = new Promise<void>((resolve, reject) => {
      this.z.once('error', reject);
      this.z.once('end', () => {
        // fflate writes crc and size into the data descriptor and the central directory.
        input.crc = this.crc;
        input.size = this.bytes;
        input.ondata!(null, new Uint8Array(0), true);
        resolve();
      });
    });
    this.done.catch(() => {}); // reported by end()
  }

  /** Adds bytes; resolves when the deflater can take more. */
  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.bytes += chunk.length;
    if (this.bytes > ZIP32_LIMIT) throw new Error(`${this.name} would pass 4 GiB, more than a zip without Zip64 holds`);
    this.crc = crc32(chunk, this.crc);
    this.sha.update(chunk);
    if (!this.z.write(chunk)) await once(this.z, 'drain');
  }

  /** Finishes the entry; its manifest line. */
  async end(): Promise<ManifestFile> {
    this.z.end();
    await this.done;
    return { name: this.name, bytes: this.bytes, sha256: this.sha.digest('hex') };
  }
}

/**
 * A zip archive produced as a stream of chunks. Entries are added with `entry()` (or `file()`
 * for small contents); `take()` hands over what is ready; `finish()` writes the central
 * directory.
 */
export class ZipWriter {
  private readonly zip: Zip;
  private readonly mtime: Date;
  private readonly level: number;
  private queue: Uint8Array[] = [];
  private failure: Error | null = null;
  private total = 0;
  private ended: Promise<void> | null = null;
  private endResolve: (() => void) | null = null;

  /** `mtime`: the entries' modification time (DOS time: local fields). */
  constructor(opts: { mtime: Date; level?: number }) {
    this.mtime = opts.mtime;
    this.level = opts.level ?? 6;
    this.zip = new Zip((err, data, final) => {
      if (err) {
        this.failure ??= err;
        return;
      }
      this.total += data.length;
      if (this.total > ZIP32_LIMIT) this.failure ??= new Error('the pack would pass 4 GiB, more than a zip without Zip64 holds');
      if (data.length) this.queue.push(data);
      if (final) this.endResolve?.();
    });
  }

  entry(name: string): ZipEntryWriter {
    const input: ZipInputFile = { filename: name, size: 0, crc: 0, compression: 8, mtime: this.mtime };
    this.zip.add(input);
    return new ZipEntryWriter(name, input, this.level);
  }

  /** A whole small file. */
  async file(name: string, content: string | Uint8Array): Promise<ManifestFile> {
    const e = this.entry(name);
    await e.write(Buffer.from(typeof content === 'string' ? Buffer.from(content, 'utf8') : content));
    return e.end();
  }

  /** The chunks ready so far (and throws what went wrong). */
  take(): Uint8Array[] {
    if (this.failure) throw this.failure;
    const q = this.queue;
    this.queue = [];
    return q;
  }

  /** Writes the central directory once every entry has ended. */
  async finish(): Promise<void> {
    this.ended ??= new Promise<void>((resolve) => {
      this.endResolve = resolve;
      this.zip.end();
    });
    await this.ended;
    if (this.failure) throw this.failure;
  }
}

/** Not a zip, or one this reader cannot use. */
export class ZipFormatError extends Error {}

/** Largest entry the reader decompresses (declared size). */
export const MAX_ENTRY_BYTES = 2 ** 31 - 1;

export interface ZipEntryInfo {
  name: string;
  /** Compressed size. */
  size: number;
  /** Declared uncompressed size. */
  originalSize: number;
  compression: number;
}

/** Reads entries of an archive held in memory, through its central directory. */
export class ZipReader {
  readonly entries: ZipEntryInfo[];
  private readonly data: Uint8Array;

  private constructor(data: Uint8Array, entries: ZipEntryInfo[]) {
    this.data = data;
    this.entries = entries;
  }

  static open(data: Uint8Array): ZipReader {
    const entries: ZipEntryInfo[] = [];
    try {
      unzipSync(data, {
        filter: (f: UnzipFileInfo) => {
          entries.push({ name: f.name, size: f.size, originalSize: f.originalSize, compression: f.compression });
          return false;
        },
      });
    } catch (err) {
      throw new ZipFormatError(`not a readable zip archive (${(err as Error).message})`);
    }
    if (entries.length === 0 && !(data[0] === 0x50 && data[1] === 0x4b)) throw new ZipFormatError('not a zip archive');
    return new ZipReader(data, entries);
  }

  has(name: string): boolean {
    return this.entries.some((e) => e.name === name);
  }

  /** The bytes of an entry (the last one of that name, if there are several). Throws when it cannot be read. */
  read(name: string): Uint8Array {
    const info = this.entries.find((e) => e.name === name);
    if (!info) throw new ZipFormatError(`no entry ${name}`);
    if (info.originalSize > MAX_ENTRY_BYTES) throw new ZipFormatError(`${name} declares ${info.originalSize} bytes, more than this reader takes`);
    if (info.compression !== 0 && info.compression !== 8) throw new ZipFormatError(`${name} uses compression method ${info.compression} (only stored and deflate are read)`);
    let out: Record<string, Uint8Array>;
    try {
      out = unzipSync(this.data, { filter: (f) => f.name === name });
    } catch (err) {
      throw new Error(`${name} cannot be decompressed: ${(err as Error).message}`);
    }
    const bytes = out[name];
    if (!bytes) throw new Error(`${name} cannot be decompressed`);
    return bytes;
  }
}
