/**
 * Anchors: copies of each signed checkpoint kept OUTSIDE ClickHouse, so that whoever administers
 * the database cannot rewrite the log and its checkpoints together (see README, "Threat model").
 *
 * The default sink is a directory, one file per checkpoint:
 *
 *   <anchor-dir>/<chain_id>/<tree_size, zero-padded to 20 digits>.json
 *
 * written atomically (temp file, fsync, link into place (a rename that cannot overwrite), fsync of
 * the directory) and never rewritten.
 * Point it at storage the database administrator cannot write: another host's mount, a WORM
 * volume, or a bucket with S3 Object Lock in compliance mode (README, "Deploying the anchor").
 *
 * An anchor record carries, besides the signed checkpoint, the compact Merkle range at its size
 * (MerkleAccumulator state) and a consistency proof from the previous checkpoint. Neither needs
 * a signature of its own: the compact range must reproduce the signed root, and the proof must
 * verify against both signed roots, so a forged one fails the check.
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { checkpointFieldErrors, type Checkpoint } from './checkpoint.ts';
import { MerkleAccumulator, type MerkleAccumulatorState } from './merkle.ts';

export const ANCHOR_FORMAT = 'otel-audit-anchor/v1';

export interface AnchorRecord {
  format: typeof ANCHOR_FORMAT;
  checkpoint: Checkpoint;
  /** The compact range [0, tree_size): lets verify and the checkpointer resume from here. */
  accumulator: MerkleAccumulatorState;
  /** RFC 6962 consistency proof from the previous checkpoint (absent for the first one). */
  consistency?: { from_tree_size: number; proof: string[] };
}

/** An anchor file that could not be used, with the tree size its name claims. */
export interface AnchorFileError {
  tree_size: number | null;
  file: string;
  error: string;
}

const FILE_RE = /^(\d{20})\.json$/;
const CHAIN_RE = /^[A-Za-z0-9._-]{1,64}$/;

export function anchorFileName(treeSize: number): string {
  return `${String(treeSize).padStart(20, '0')}.json`;
}

/** What is wrong with a record's structure (signature not checked here); empty when usable. */
export function anchorRecordErrors(r: AnchorRecord): string[] {
  if (r === null || typeof r !== 'object') return ['the anchor record is not a JSON object'];
  const errors: string[] = [];
  if (r.format !== ANCHOR_FORMAT) errors.push(`format ${JSON.stringify(r.format)} is not ${ANCHOR_FORMAT}`);
  if (r.checkpoint === null || typeof r.checkpoint !== 'object') return [...errors, 'no checkpoint'];
  errors.push(...checkpointFieldErrors(r.checkpoint));
  try {
    const acc = MerkleAccumulator.fromJSON(r.accumulator);
    if (acc.size !== r.checkpoint.tree_size) errors.push(`accumulator size ${acc.size} differs from tree_size ${r.checkpoint.tree_size}`);
    else if (acc.root().toString('hex') !== r.checkpoint.root_hash) errors.push('the accumulator state does not reproduce the signed root');
  } catch (err) {
    errors.push((err as Error).message);
  }
  return errors;
}

export class DirectoryAnchorSink {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  chainDir(chainId: string): string {
    if (!CHAIN_RE.test(chainId)) throw new Error(`invalid chain id ${JSON.stringify(chainId)}`);
    return join(this.dir, chainId);
  }

  /** Writes one record atomically; refuses to replace an existing file (anchors are write-once). */
  write(record: AnchorRecord): void {
    const dir = this.chainDir(record.checkpoint.chain_id);
    mkdirSync(dir, { recursive: true });
    const name = anchorFileName(record.checkpoint.tree_size);
    const final = join(dir, name);
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, JSON.stringify(record) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      // Like rename(), link() makes the complete file appear at once; unlike rename() it fails
      // when the target exists, so a checkpoint is never silently replaced.
      linkSync(tmp, final);
    } finally {
      unlinkSync(tmp);
    }
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }

  /** Tree sizes with an anchor file, ascending. */
  sizes(chainId: string): number[] {
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

  /** One record, parsed but not checked. Throws on a missing or unparseable file. */
  read(chainId: string, treeSize: number): AnchorRecord {
    const file = join(this.chainDir(chainId), anchorFileName(treeSize));
    const text = readFileSync(file, 'utf8');
    try {
      return JSON.parse(text) as AnchorRecord;
    } catch (err) {
      throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
    }
  }

  /** Every record of a chain, ascending by tree size, with the files that could not be read. */
  readAll(chainId: string): { records: AnchorRecord[]; errors: AnchorFileError[] } {
    const records: AnchorRecord[] = [];
    const errors: AnchorFileError[] = [];
    for (const size of this.sizes(chainId)) {
      const file = join(this.chainDir(chainId), anchorFileName(size));
      let r: AnchorRecord;
      try {
        r = this.read(chainId, size);
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

  /** The newest record, or null when the chain has none. Throws when the newest file is unreadable. */
  latest(chainId: string): AnchorRecord | null {
    const sizes = this.sizes(chainId);
    if (sizes.length === 0) return null;
    return this.read(chainId, sizes[sizes.length - 1]);
  }
}
