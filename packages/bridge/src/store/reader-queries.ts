/**
 * The statements the `sql` endpoint's gate (api/sql/) asks of the engine about a reader's
 * query and about the audit database, as typed functions: the gate checks, the store writes
 * the SQL. Each runs in a reader session (`Store.openReader`), read-only by the engine's rules.
 */
import { quoteString, type ReaderSession, type Store } from './store.ts';

/**
 * ClickHouse's own rendering of a query text (`formatQuery`): the text parsed as one statement
 * (a second one is a syntax error, and nothing of the text runs) and printed back, comments
 * gone. Throws the engine's error.
 */
export async function formatQuery(session: ReaderSession, text: string): Promise<string> {
  return (await session.text(`SELECT formatQuery(${quoteString(text)})`)).replace(/\n$/, '');
}

/** The parse tree of a statement that `formatQuery` printed, as `EXPLAIN AST` prints it. */
export function explainAst(session: ReaderSession, formatted: string): Promise<string> {
  return session.text(`EXPLAIN AST ${formatted}`);
}

/**
 * `additional_table_filters` (a map literal) for a reader of `tenants` (null: every tenant).
 * Every reader: system.tables and system.columns show the audit database only. A reader
 * limited to tenants: each table and view of the audit database with a `tenant` column shows
 * those tenants' rows only (the views read `events`, so they are filtered twice), and every
 * other table of it (checkpoints: heads of chains that hold every tenant's events) and those
 * two system tables show nothing. The list of tables is read on every call, so a table added
 * by a later migration is never read unfiltered.
 */
export async function readerTableFilters(store: Store, tenants: readonly string[] | null): Promise<string> {
  const db = store.database;
  const filters = new Map<string, string>();
  for (const t of ['tables', 'columns']) filters.set(`system.${t}`, tenants ? '0' : `database = ${quoteString(db)}`);
  if (tenants) {
    const scope = tenants.length ? `tenant IN (${tenants.map(quoteString).join(', ')})` : '0';
    for (const { table, hasTenant } of await tenantColumns(store)) {
      if (hasTenant) filters.set(`${db}.${table}`, scope);
      else if (!/^schema_migrations(_local)?$/.test(table)) filters.set(`${db}.${table}`, '0');
    }
  }
  return `{${[...filters].map(([k, v]) => `${quoteString(k)}: ${quoteString(v)}`).join(', ')}}`;
}

/** The audit database's tables and views, each with whether it has a `tenant` column. */
async function tenantColumns(store: Store): Promise<Array<{ table: string; hasTenant: boolean }>> {
  const session = await store.openReader({});
  try {
    const rows = await session.text(
      `SELECT table, max(name = 'tenant') AS has_tenant FROM system.columns WHERE database = ${quoteString(store.database)} GROUP BY table ORDER BY table`,
      'JSONEachRow',
    );
    return rows
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const r = JSON.parse(line) as { table: string; has_tenant: number | string };
        return { table: r.table, hasTenant: Number(r.has_tenant) === 1 };
      });
  } finally {
    session.close();
  }
}

/** A row of `system.functions`. */
export interface EngineFunction {
  name: string;
  is_aggregate: number | string;
  case_insensitive: number | string;
  alias_to: string;
  categories: string;
}

/** The engine's functions and table functions (`system.functions`, `system.table_functions`). */
export async function engineFunctions(store: Store): Promise<{ functions: EngineFunction[]; tableFunctions: string[] }> {
  const session = await store.openReader({});
  try {
    const fn = await session.text('SELECT name, is_aggregate, case_insensitive, alias_to, categories FROM system.functions', 'JSONEachRow');
    const tf = await session.text('SELECT name FROM system.table_functions', 'TabSeparatedRaw');
    return {
      functions: fn
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as EngineFunction),
      tableFunctions: tf.split('\n').filter(Boolean),
    };
  } finally {
    session.close();
  }
}
