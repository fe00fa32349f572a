/**
 * The spool (README.md): the write-ahead log (wal.ts), its records (records.ts), and the
 * chained batches between the hash chain and ClickHouse (spool.ts).
 */
export { ROW_CHUNK_BYTES, RowBuffers } from './row-buffers.ts';
export { Spool, checkSpoolConfig, SpoolConfigError, type SpoolConfig, type SpoolHooks, type SpoolRecovery, type StoredBatch } from './spool.ts';
export { decodeRecord, encodeRecord, isSnapshot, recordParts, type RecordHeader, type ChainedHeader } from './records.ts';
export { WriteAheadLog, WalCorruptError, frame, intactEnd, HEADER as WAL_FRAME_HEADER_BYTES, type WalOptions, type WalRecord, type WalRef } from './wal.ts';
