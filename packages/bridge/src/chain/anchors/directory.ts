/**
 * A directory anchor (`file:///path`; the default is <data-dir>/anchors), one file per checkpoint:
 *
 *   <dir>/<chain_id>/<tree_size, zero-padded to 20 digits>.json
 *
 * written atomically (temp file, fsync, link into place (a rename that cannot overwrite), fsync of
 * the directory) and never rewritten. Directories are created 0700 and files 0600, whatever the
 * umask: the records are not secret, but nobody else on the host has any business in them.
 * Worth something against an insider only on storage the database administrator cannot write:
 * another host's mount, a WORM volume (chain/README.md, "Deploying the anchor").
 */
import { fsyncPath } from '../../internal/durable.ts';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { anchorFileName, CHAIN_ID_RE, type AnchorFileError, type AnchorRecord, type AnchorSink } from '../anchor.ts';

const FILE_RE = /^(\d{20})\.json$/;

export class DirectoryAnchorSink implements AnchorSink {
  readonly kind = 'file' as const;
  readonly holdsRecords = true;
  readonly dir: string;
  readonly url: string;
  readonly external: boolean;

  /** `external`: whether the directory lies outside the data directory (config decides). */
  constructor(dir: string, opts: { external?: boolean } = {}) {
    this.dir = dir;
    this.url = pathToFileURL(dir).href;
    this.external = opts.external ?? false;
  }

  chainDir(chainId: string): string {
    if (!CHAIN_ID_RE.test(chainId)) throw new Error(`invalid chain id ${JSON.stringify(chainId)}`);
    return join(this.dir, chainId);
  }

  /** Writes one record atomically; an existing file is left alone if identical, else refused. */
  async write(record: AnchorRecord): Promise<void> {
    const dir = this.chainDir(record.checkpoint.chain_id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const name = anchorFileName(record.checkpoint.tree_size);
    const final = join(dir, name);
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    const text = JSON.stringify(record) + '\n';
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      // Like rename(), link() makes the complete file appear at once; unlike rename() it fails
      // when the target exists, so a checkpoint is never silently replaced.
      linkSync(tmp, final);
    } catch (err) {
      // A retry of a write that had succeeded: the same bytes are there already.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || readFileSync(final, 'utf8') !== text) throw err;
    } finally {
      unlinkSync(tmp);
    }
    fsyncPath(dir); // the new name is durable only once the directory entry is
  }

  sizesSync(chainId: string): number[] {
    let names: string[];
    try {
      names = readdirSync(this.chainDir(chainId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .map((n) => FILE_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  async sizes(chainId: string): Promise<number[]> {
    return this.sizesSync(chainId);
  }

  /** One record, parsed but not checked. Throws on a missing or unparseable file. */
  readSync(chainId: string, treeSize: number): AnchorRecord {
    const file = join(this.chainDir(chainId), anchorFileName(treeSize));
    const text = readFileSync(file, 'utf8');
    try {
      return JSON.parse(text) as AnchorRecord;
    } catch (err) {
      throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
    }
  }

  async readAt(chainId: string, treeSize: number): Promise<AnchorRecord[]> {
    return this.sizesSync(chainId).includes(treeSize) ? [this.readSync(chainId, treeSize)] : [];
  }

  async readAll(chainId: string): Promise<{ records: AnchorRecord[]; errors: AnchorFileError[] }> {
    const records: AnchorRecord[] = [];
    const errors: AnchorFileError[] = [];
    for (const size of this.sizesSync(chainId)) {
      const file = join(this.chainDir(chainId), anchorFileName(size));
      let r: AnchorRecord;
      try {
        r = this.readSync(chainId, size);
      } catch (err) {
        errors.push({ tree_size: size, file, error: (err as Error).message });
        continue;
      }
      if (r?.checkpoint?.tree_size !== size) {
        errors.push({ tree_size: size, file, error: `the file name says tree size ${size}, the checkpoint ${String(r?.checkpoint?.tree_size)}` });
        continue;
      }
      records.push(r);
    }
    return { records, errors };
  }

  async latest(chainId: string): Promise<AnchorRecord | null> {
    const sizes = this.sizesSync(chainId);
    if (sizes.length === 0) return null;
    return this.readSync(chainId, sizes[sizes.length - 1]);
  }
}
