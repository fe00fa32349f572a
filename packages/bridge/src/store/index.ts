/**
 * The store (README.md): ClickHouse through @clickhouse/client, embedded (chDB) or a server; the
 * schema and its migrations; RowBinary; reading rows safely as JSON; and every stage's queries
 * as typed functions. The only folder that writes SQL (the `sql` endpoint's gate, api/sql/,
 * checks a reader's own statement and runs it in a store reader session: see README.md).
 */
export { quoteString, redactUrl, Store, type ReaderSession, type StoreConfig, type StoreMode } from './store.ts';
export {
  ALERT_COLUMNS,
  COLD_VOLUME,
  DEFAULT_RETENTION_DAYS,
  DEFAULT_STORAGE_POLICY,
  EVENT_COLUMNS,
  EVENT_COLUMNS_ADDED,
  EVENT_COLUMNS_V1,
  eventsTtl,
  fullDdl,
  hotDaysOf,
  migrationTableDdl,
  MIGRATIONS,
  storageName,
  type Migration,
  type RetentionDays,
  type SchemaOptions,
} from './schema.ts';
export { encoderFor, rowEncoder, RowWriter, structureOf } from './rowbinary.ts';
export { MAPS_AS_PAIRS, mapFromPairs, parseRow } from './json-rows.ts';
export { streamRows } from './stream-rows.ts';
// chain/, policy/, evidence/: their reads and ALTERs as typed functions.
export {
  chainEventCount,
  chainLinksAt,
  chainRows,
  checkpointRows,
  ingestTimes,
  insertCheckpoint,
  newestCheckpointSize,
  storedChainHead,
  type ChainLink,
  type ChainRowsQuery,
  type CheckpointRow,
} from './chain-queries.ts';
export { eventsTableDefinition, setEventsStoragePolicy, setEventsTtl, storagePolicyVolumes } from './retention.ts';
export { sealedEventCount, storedTenants } from './policy-queries.ts';
export { caseRows, type CaseRowsQuery } from './evidence-queries.ts';
// api/sql/: what its gate asks the engine about a reader's query and the audit database.
export { engineFunctions, explainAst, formatQuery, readerTableFilters, type EngineFunction } from './reader-queries.ts';
// api/, detect/, report/: reads for readers (read-only sessions), the detections' reads, the report's figures.
export { QueryInputError, type ReadOptions } from './reads.ts';
export {
  approvalsOf,
  CASE_ORDER,
  caseEvents,
  caseEventsPage,
  caseSummary,
  decodeCursor,
  encodeCursor,
  EVENT_ORDER,
  linkedEvents,
  sealedEvent,
  searchEvents,
  storedEvent,
  streamEventRows,
  streamEvents,
  type CaseSummary,
  type EventFilters,
  type EventListing,
  type SealedEventRow,
} from './event-queries.ts';
export * as detection from './detection-queries.ts';
export { FIGURE_IDS, FIGURE_SQL, figureRows, figureSql, type FigureId } from './report-figures.ts';
