import type { Logger } from '../internal/logger.ts';
import { COLD_VOLUME, DEFAULT_RETENTION_DAYS, DEFAULT_STORAGE_POLICY, hotDaysOf, storageName, type RetentionDays, type SchemaOptions } from '../store/schema.ts';
import { eventsTableDefinition, setEventsStoragePolicy, setEventsTtl, storagePolicyVolumes } from '../store/retention.ts';
import type { Store } from '../store/store.ts';

const TTL_DAYS = /multiIf\(risk = \\?'low\\?', (\d+), risk = \\?'medium\\?', (\d+), (\d+)\)/;

/** What the `events` table states now: its retention (null without a TTL), its move to the cold volume, its storage policy. */
export async function currentTtl(store: Store, o: SchemaOptions = store.schema): Promise<{ retention: RetentionDays | null; hotDays: number | null; storagePolicy: string }> {
  const { engineFull, storagePolicy } = await eventsTableDefinition(store, o);
  const m = TTL_DAYS.exec(engineFull);
  return {
    retention: m ? { low: Number(m[1]), medium: Number(m[2]), high: Number(m[3]) } : null,
    hotDays: hotDaysOf(engineFull),
    storagePolicy,
  };
}

/** The retention the `events` table's TTL states now, or null when it has none. */
export async function currentRetention(store: Store): Promise<RetentionDays | null> {
  return (await currentTtl(store)).retention;
}

/** A storage policy the bridge cannot put `events` on: the message says why and what to do. */
export class StoragePolicyError extends Error {}

/**
 * Puts `events` on the storage policy of `--hot-days` when it is on another one, as far as
 * ClickHouse allows: the policy must exist on the server, hold the `cold` volume, and (for a
 * table that exists) keep every volume of the table's policy with its disks. Anything else is
 * refused here, before a MODIFY TTL or MODIFY SETTING would fail half-way on a cluster.
 */
async function ensureStoragePolicy(store: Store, o: SchemaOptions, have: string, log: Logger): Promise<void> {
  const want = o.storagePolicy ?? DEFAULT_STORAGE_POLICY;
  if (have === want) return;
  const target = await policyVolumes(store, o);
  const old = await storagePolicyVolumes(store, have);
  const missing = [...old].filter(([v, disks]) => !disks.every((d) => target.get(v)?.includes(d)));
  if (missing.length) {
    throw new StoragePolicyError(
      `--hot-days: ${o.database}.${storageName(o, 'events')} is on storage policy "${have}" (volumes ${[...old.keys()].join(', ')}), and ClickHouse only moves a table to a policy ` +
        `that keeps those volumes and disks; "${want}" lacks ${missing.map(([v, d]) => `volume "${v}" on ${d.join(', ')}`).join('; ')}. ` +
        `Use --storage-policy otel_audit_tiered_upgrade (deploy/clickhouse/storage-s3.xml) for a table created without --hot-days (${HOW})`,
    );
  }
  await setEventsStoragePolicy(store, o, want);
  log.info('events table moved to storage policy', { storage_policy: want, was: have });
}

const HOW = `docs/operations.md, "Hot and cold storage"`;

/**
 * With `--hot-days`, before any DDL: unless `events` is on the storage policy already, the server
 * has that policy, with the `cold` volume (a fresh install creates `events` on it). A table on it
 * needs no look at system.storage_policies, which the writer user may not be granted.
 */
export async function checkStoragePolicy(store: Store, o: SchemaOptions = store.schema): Promise<void> {
  if ((await currentTtl(store, o)).storagePolicy !== (o.storagePolicy ?? DEFAULT_STORAGE_POLICY)) await policyVolumes(store, o);
}

/** The storage policy's volumes and their disks; refused when the server lacks it or its `cold` volume. */
async function policyVolumes(store: Store, o: SchemaOptions): Promise<Map<string, string[]>> {
  const want = o.storagePolicy ?? DEFAULT_STORAGE_POLICY;
  const how = HOW;
  const target = await storagePolicyVolumes(store, want);
  if (target.size === 0) {
    throw new StoragePolicyError(`--hot-days: the ClickHouse server has no storage policy "${want}": install deploy/clickhouse/storage-s3.xml in its config.d/ (every node), or name yours with --storage-policy (${how})`);
  }
  if (!target.has(COLD_VOLUME)) {
    throw new StoragePolicyError(`--hot-days: storage policy "${want}" has no volume "${COLD_VOLUME}" for parts older than --hot-days; its volumes: ${[...target.keys()].join(', ')} (${how})`);
  }
  return target;
}

/**
 * Makes the TTL of `events` state the policy's retention (migration 4 sets the defaults) and
 * the move to cold storage: `--hot-days` when given (after putting the table on its storage
 * policy), else the move the table has now, so neither setting ever drops the other. On a
 * table with data, ClickHouse re-evaluates the TTL of existing parts (materialize_ttl_after_modify).
 */
export async function applyRetention(store: Store, want: RetentionDays, log: Logger, o: SchemaOptions = store.schema): Promise<boolean> {
  const have = await currentTtl(store, o);
  if (o.hotDays) await ensureStoragePolicy(store, o, have.storagePolicy, log);
  const hotDays = o.hotDays ?? have.hotDays ?? undefined;
  const r = have.retention;
  if (r && r.low === want.low && r.medium === want.medium && r.high === want.high && (hotDays ?? null) === have.hotDays) return false;
  await setEventsTtl(store, o, want, hotDays);
  log.info('retention by risk level set', { retention_days: want, was: r, ...(hotDays ? { hot_days: hotDays, was_hot_days: have.hotDays } : {}) });
  return true;
}

/** `migrate --hot-days`: the move to cold storage on an existing table, its retention as it is. */
export async function applyHotDays(store: Store, log: Logger, o: SchemaOptions = store.schema): Promise<boolean> {
  const have = await currentTtl(store, o);
  return applyRetention(store, have.retention ?? DEFAULT_RETENTION_DAYS, log, o);
}
