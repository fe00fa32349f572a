/**
 * The write-ahead log's records: what the spool writes and what a restart reads back.
 *
 *   JSON only:   '{' ... '}'                                        (`stored`, `snapshot`)
 *   with data:   0x01 | u32 LE header length | header JSON | data   (`request`, `sealed`)
 *
 * `request`: a request as it arrived (replayed through the same decode and intake after a
 * crash); `sealed`: a batch of chained events as RowBinary rows, exactly as ClickHouse gets
 * them; `stored`: ClickHouse confirmed a chained batch; `snapshot`: what the correlator held
 * when the log was compacted.
 */
export interface RecordHeader {
  t: string;
  [key: string]: unknown;
}

/**
 * A chained batch: its rows as RowBinary, exactly as the log keeps them and ClickHouse gets them.
 * Its tag on disk is `sealed`, the word of the first releases, kept so that their logs replay.
 */
export interface ChainedHeader {
  t: 'sealed';
  /**
   * ClickHouse's insert_deduplication_token: `<chain>:<first>-<last>:<hash of the last event>`.
   * The hash chains over every row before it, so the token names the content: a replay of this
   * batch (same rows) is dropped, but other events chained at the same seqs (after the newest
   * rows were deleted) are not. A replay reuses the token logged here.
   */
  token: string;
  chainId: string;
  firstSeq: number;
  lastSeq: number;
  headHash: string;
  eventIds: string[];
  hashes: string[];
}

const WITH_DATA = 0x01;

/** A record with data as parts: its head (tag, header length, header), then the data's chunks. */
export function recordParts(header: object, data: readonly Uint8Array[]): Uint8Array[] {
  // Written in place: a chained batch's header (its ids and hashes) is about 1 MB of JSON.
  const json = JSON.stringify(header);
  const length = Buffer.byteLength(json, 'utf8');
  const head = Buffer.allocUnsafe(5 + length);
  head[0] = WITH_DATA;
  head.writeUInt32LE(length, 1);
  head.write(json, 5, 'utf8');
  return [head, ...data];
}

export function encodeRecord(header: object, data?: Buffer): Buffer {
  return data ? Buffer.concat(recordParts(header, [data])) : Buffer.from(JSON.stringify(header), 'utf8');
}

export function decodeRecord(record: Buffer): { header: RecordHeader; body?: Buffer } {
  if (record[0] !== WITH_DATA) return { header: JSON.parse(record.toString('utf8')) as RecordHeader };
  const len = record.readUInt32LE(1);
  return {
    header: JSON.parse(record.subarray(5, 5 + len).toString('utf8')) as RecordHeader,
    body: record.subarray(5 + len),
  };
}

/** Whether a record is a snapshot, without parsing it (they can be large). */
export function isSnapshot(record: Buffer): boolean {
  return record[0] !== WITH_DATA && record.subarray(0, 16).toString('latin1') === '{"t":"snapshot",';
}
