/**
 * The store (README.md): ClickHouse through @clickhouse/client, embedded (chDB) or a server; the
 * schema and its migrations; RowBinary; reading rows safely as JSON. The only folder that writes
 * SQL for the write path (other stages' reads still write their own: see README.md).
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
