/**
 * What policy/ reads of the `events` table: the tenants it holds (policy/tenants.ts) and the
 * sealed events of a subject (policy/reviewer.ts, erasure).
 */
import type { Store } from './store.ts';

/** Every tenant the `events` table holds a row of, in no order. */
export async function storedTenants(store: Store): Promise<string[]> {
  const rows = await store.rows<{ tenant: string }>(`SELECT DISTINCT tenant FROM ${store.database}.events`);
  return rows.map((r) => r.tenant);
}

/**
 * How many events in these tenants carry sealed content of a subject named in any of `forms`.
 * The subject of a row is its first non-empty of on_behalf_of, actor_id, correlation_id: the
 * same rule as `subjectOf` in policy/privacy.ts, which picks the key content is sealed under.
 */
export async function sealedEventCount(store: Store, tenants: readonly string[], forms: readonly string[]): Promise<number> {
  const [{ n }] = await store.rows<{ n: string }>(
    `SELECT count() AS n FROM ${store.database}.events WHERE content_sealed != '' AND tenant IN {tenants:Array(String)} ` +
      `AND multiIf(on_behalf_of != '', on_behalf_of, actor_id != '', actor_id, correlation_id) IN {forms:Array(String)}`,
    { tenants, forms },
  );
  return Number(n);
}
