import { storedTenants } from '../store/policy-queries.ts';
import type { Store } from '../store/store.ts';

const TTL_MS = 30_000;
const cache = new WeakMap<Store, { at: number; tenants: Promise<string[]> }>();

/**
 * The tenants the store holds events of (plus `default`), refreshed every 30 s: pseudonyms are
 * per tenant, so a search by clear value looks for the value's pseudonym under each of them.
 */
export function knownTenants(store: Store, fresh = false): Promise<string[]> {
  const hit = cache.get(store);
  if (hit && !fresh && Date.now() - hit.at < TTL_MS) return hit.tenants;
  const tenants = storedTenants(store).then((stored) => [...new Set(['default', ...stored])]);
  cache.set(store, { at: Date.now(), tenants });
  tenants.catch(() => cache.delete(store));
  return tenants;
}
