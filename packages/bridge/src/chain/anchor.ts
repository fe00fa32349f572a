/**
 * Anchors: copies of each signed checkpoint kept OUTSIDE ClickHouse, so that whoever administers
 * the database cannot rewrite the log and its checkpoints together (see README, "Threat model").
 *
 * Every anchor is an AnchorSink, configured by `serve --anchor URL` (anchors/config.ts):
 *
 *   file:///path           a directory, one file per checkpoint (anchors/directory.ts); the
 *                          default is <data-dir>/anchors, kept whenever no file:// anchor is given
 *   s3://bucket/prefix     S3 with Object Lock in compliance mode, one object per checkpoint
 *                          (anchors/s3.ts)
 *   rfc3161+https://tsa/   an RFC 3161 timestamp authority (anchors/rfc3161.ts): holds nothing
 *                          itself; its token goes into the record the other anchors store
 *
 * AnchorSet (anchors/set.ts) writes each record to all of them and reads them back for verify.
 *
 * An anchor record carries, besides the signed checkpoint, the compact Merkle range at its size
 * (MerkleAccumulator state) and a consistency proof from the previous checkpoint. Neither needs
 * a signature of its own: the compact range must reproduce the signed root, and the proof must
 * verify against both signed roots, so a forged one fails the check. Timestamp tokens need none
 * either: each is signed by its authority over the checkpoint's signed bytes.
 */
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
  /** RFC 3161 tokens over the checkpoint, one per timestamp authority (anchors/rfc3161.ts). */
  timestamps?: AnchorTimestamp[];
}

export interface AnchorTimestamp {
  /** The authority's http(s) URL. */
  authority: string;
  /** The request's nonce, hex; the token must carry it. */
  nonce: string;
  /** The TimeStampToken (CMS SignedData), base64 DER. */
  token: string;
}

/** An anchor file or object that could not be used, with the tree size its name claims. */
export interface AnchorFileError {
  tree_size: number | null;
  file: string;
  error: string;
}

export const CHAIN_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

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
  if (r.timestamps !== undefined && (!Array.isArray(r.timestamps) || r.timestamps.some((t) => t === null || typeof t !== 'object' || typeof t.authority !== 'string'))) {
    errors.push('timestamps must be a list of {authority, nonce, token}');
  }
  return errors;
}

/**
 * One anchor. Those that hold records (a directory, S3) implement write and the reads; a
 * timestamp authority holds none: it `endorse`s each record before the others store it, and
 * its reads are empty.
 */
export interface AnchorSink {
  readonly kind: 'file' | 's3' | 'rfc3161';
  /** As configured, with no secret in it: file:///…, s3://bucket/prefix, rfc3161+https://… */
  readonly url: string;
  /** Outside the data directory (what protects against whoever can write the data directory). */
  readonly external: boolean;
  readonly holdsRecords: boolean;
  /** Adds this anchor's evidence to a record before it is written anywhere (RFC 3161: its token). */
  endorse?(record: AnchorRecord): Promise<void>;
  /** Writes one record; never replaces a different record already there (anchors are write-once). */
  write(record: AnchorRecord): Promise<void>;
  /** Tree sizes with a record, ascending (a size appears once even if an anchor holds two records for it). */
  sizes(chainId: string): Promise<number[]>;
  /** Every record of a chain, ascending by tree size, with those that could not be read. */
  readAll(chainId: string): Promise<{ records: AnchorRecord[]; errors: AnchorFileError[] }>;
  /** The records at one tree size (none, one, or several when history was re-signed). */
  readAt(chainId: string, treeSize: number): Promise<AnchorRecord[]>;
  /** The newest record, or null. Throws when it cannot be read. */
  latest(chainId: string): Promise<AnchorRecord | null>;
}

export { DirectoryAnchorSink } from './anchors/directory.ts';

