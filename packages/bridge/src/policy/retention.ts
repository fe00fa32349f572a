import type { Logger } from '../internal/logger.ts';
import { eventsTtl, storageName, type RetentionDays } from '../store/schema.ts';
import type { Store } from '../store/store.ts';

const TTL_DAYS = /multiIf\(risk = 'low', (\d+), risk = 'medium', (\d+), (\d+)\)/;

/** The retention the `events` table's TTL states now, or null when it has none. */
export async function currentRetention(store: Store): Promise<RetentionDays | null> {
  const rows = await store.rows<{ engine_full: string }>(
    `SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {table:String}`,
    { db: store.database, table: storageName(store.schema, 'events') },
  );
  const m = TTL_DAYS.exec(rows[0]?.engine_full ?? '');
  return m ? { low: Number(m[1]), medium: Number(m[2]), high: Number(m[3]) } : null;
}

/**
 * Makes the TTL of `events` state the policy's retention (migration 4 sets the defaults). On a
 * table with data, ClickHouse re-evaluates the TTL of existing parts (materialize_ttl_after_modify).
 */
export async function applyRetention(store: Store, want: RetentionDays, log: Logger): Promise<boolean> {
  const have = await currentRetention(store);
  if (have && have.low === want.low && have.medium === want.medium && have.high === want.high) return false;
  const o = store.schema;
  await store.command(
    `ALTER TABLE ${o.database}.${storageName(o, 'events')}${o.cluster ? ` ON CLUSTER '${o.cluster}'` : ''} MODIFY TTL ${eventsTtl(want)}`,
  );
  log.info('retention by risk level set', { retention_days: want, was: have });
  return true;
}
