/**
 * The statements behind policy/retention.ts: what the `events` table states now (from the
 * server's system tables) and the two ALTERs that change it, its TTL and its storage policy.
 * The decisions (what to set, what to refuse) stay in policy/. `o` is the schema options the
 * caller states the table with (policy/ defaults it to the store's own).
 */
import { eventsTtl, onCluster, storageName, type RetentionDays, type SchemaOptions } from './schema.ts';
import type { Store } from './store.ts';

/** How `events` is defined now: its `engine_full` (which holds its TTL) and storage policy; '' for either when the table does not exist. */
export async function eventsTableDefinition(store: Store, o: SchemaOptions): Promise<{ engineFull: string; storagePolicy: string }> {
  const rows = await store.rows<{ engine_full: string; storage_policy: string }>(
    `SELECT engine_full, storage_policy FROM system.tables WHERE database = {db:String} AND name = {table:String}`,
    { db: o.database, table: storageName(o, 'events') },
  );
  return { engineFull: rows[0]?.engine_full ?? '', storagePolicy: rows[0]?.storage_policy ?? '' };
}

/** A storage policy's volumes (by priority) and their disks; empty when the server has no such policy. */
export async function storagePolicyVolumes(store: Store, policy: string): Promise<Map<string, string[]>> {
  const rows = await store.rows<{ volume_name: string; disks: string[] }>(`SELECT volume_name, disks FROM system.storage_policies WHERE policy_name = {p:String} ORDER BY volume_priority`, { p: policy });
  return new Map(rows.map((r) => [r.volume_name, r.disks] as const));
}

/** Puts `events` on another storage policy (ClickHouse checks that it keeps the old one's volumes and disks). */
export async function setEventsStoragePolicy(store: Store, o: SchemaOptions, policy: string): Promise<void> {
  await store.command(`ALTER TABLE ${o.database}.${storageName(o, 'events')}${onCluster(o)} MODIFY SETTING storage_policy = '${policy}'`);
}

/** Sets the TTL of `events` (schema.ts `eventsTtl`: the deletes by risk, and the move to cold storage with `hotDays`). */
export async function setEventsTtl(store: Store, o: SchemaOptions, retention: RetentionDays, hotDays: number | undefined): Promise<void> {
  await store.command(`ALTER TABLE ${o.database}.${storageName(o, 'events')}${onCluster(o)} MODIFY TTL ${eventsTtl(retention, hotDays)}`);
}
