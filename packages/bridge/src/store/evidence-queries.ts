/**
 * What evidence/ reads of the `events` table beyond a chain's rows (chain-queries.ts): the full
 * rows of one case.
 */
import type { Store } from './store.ts';
import { streamRows } from './stream-rows.ts';

export interface CaseRowsQuery {
  correlationId: string;
  /** Only these tenants' rows; null: every tenant. */
  tenants: readonly string[] | null;
}

/**
 * Every column of a case's rows, streamed (stream-rows.ts, Map columns read as pairs), in the
 * table's own order (its sort key: tenant, correlation_id, event_time, event_id), so that the
 * engine reads them in order instead of sorting whole rows: for 50,000 events that halves the
 * engine's memory (evidence/README.md, "Cost").
 */
export function caseRows(store: Store, q: CaseRowsQuery): AsyncGenerator<Record<string, unknown>> {
  const sql =
    `SELECT * FROM ${store.database}.events WHERE correlation_id = {id:String}` +
    (q.tenants ? ' AND tenant IN {tenants:Array(String)}' : '') +
    ' ORDER BY tenant, correlation_id, event_time, event_id';
  return streamRows<Record<string, unknown>>(store, sql, { id: q.correlationId, tenants: q.tenants ?? [] });
}
