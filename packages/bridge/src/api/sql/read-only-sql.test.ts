/**
 * Read-only SQL against the real engine (chDB on a temp dir): the tenant scope the engine
 * applies to every table and view, the session settings a query cannot change, the limits, and
 * the query slots.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../store/index.ts';
import { ReadOnlySql, SqlBusyError, type SqlLimits } from './read-only-sql.ts';

let store: Store;

const TENANTS = ['acme', 'globex', "o'brien"];
const TYPES = ['request', 'model_call', 'retrieval', 'tool_call', 'approval', 'system_effect'];

beforeAll(async () => {
  store = await Store.open({ dataDir: mkdtempSync(join(tmpdir(), 'sql-reader-test-')), database: 'otel_audit' });
  await store.migrate();
  const rows = TENANTS.flatMap((t, i) => TYPES.map((type, j) => `('${i}-${j}', '${t.replace(/'/g, "\\'")}', '${type}', 'case-${i}')`));
  await store.command(`INSERT INTO otel_audit.events (event_id, tenant, event_type, correlation_id) VALUES ${rows.join(', ')}`);
  await store.command(`INSERT INTO otel_audit.checkpoints (chain_id, tree_size) VALUES ('main-low', 18)`);
});
afterAll(async () => {
  await store?.close();
});

async function rows(sql: ReadOnlySql, query: string, tenants: readonly string[] | null): Promise<Array<Record<string, unknown>>> {
  let out = '';
  for await (const chunk of await sql.query(query, 'JSONEachRow', tenants)) out += chunk.toString();
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const tenantsOf = async (sql: ReadOnlySql, query: string, scope: readonly string[] | null) =>
  [...new Set((await rows(sql, query, scope)).map((r) => String(r.tenant)))].sort();

describe('tenant scope: the engine filters every read', () => {
  const sql = () => new ReadOnlySql(store);

  it.each(['events', 'otel_audit.events', 'timeline', 'model_calls', 'retrievals', 'tool_calls', 'approvals', 'system_effects'])(
    '%s shows a reader of acme only acme rows, and everyone\'s to a reader of every tenant',
    async (table) => {
      expect(await tenantsOf(sql(), `SELECT tenant FROM ${table}`, ['acme'])).toEqual(['acme']);
      expect(await tenantsOf(sql(), `SELECT tenant FROM ${table}`, null)).toEqual([...TENANTS].sort());
    },
  );

  it.each([
    'SELECT tenant FROM (SELECT * FROM events)',
    'WITH x AS (SELECT tenant FROM events) SELECT * FROM x',
    'SELECT tenant FROM events WHERE event_id IN (SELECT event_id FROM otel_audit.events)',
    "SELECT arrayJoin(['acme', 'globex']) AS tenant WHERE tenant IN (SELECT tenant FROM events)",
    'SELECT tenant FROM events UNION ALL SELECT tenant FROM approvals',
    'SELECT b.tenant AS tenant FROM events AS a FULL OUTER JOIN tool_calls AS b ON a.event_id = b.event_id WHERE b.tenant != \'\'',
    'SELECT tenant FROM view(SELECT tenant FROM timeline)',
    'SELECT (SELECT groupUniqArray(tenant) FROM events)[1] AS tenant',
  ])('%s: subqueries, CTEs, IN, UNION, JOIN, view() are filtered too', async (q) => {
    expect(await tenantsOf(sql(), q, ['acme'])).toEqual(['acme']);
  });

  it('counts and aggregates see the scope only; a tenant name with a quote is matched as is', async () => {
    expect(await rows(sql(), 'SELECT count() AS n FROM events', ['acme', "o'brien"])).toEqual([{ n: '12' }]);
    expect(await tenantsOf(sql(), 'SELECT tenant FROM events', ["o'brien"])).toEqual(["o'brien"]);
    expect(await rows(sql(), 'SELECT count() AS n FROM events', [])).toEqual([{ n: '0' }]);
  });

  it('a reader limited to tenants sees no checkpoints and no system.tables / system.columns; schema_migrations stays', async () => {
    const s = sql();
    expect(await rows(s, 'SELECT count() AS n FROM checkpoints', ['acme'])).toEqual([{ n: '0' }]);
    expect(await rows(s, 'SELECT count() AS n FROM system.tables', ['acme'])).toEqual([{ n: '0' }]);
    expect(await rows(s, 'SELECT count() AS n FROM system.columns', ['acme'])).toEqual([{ n: '0' }]);
    expect(Number((await rows(s, 'SELECT count() AS n FROM schema_migrations', ['acme']))[0].n)).toBeGreaterThan(0);
    expect(await rows(s, 'SELECT count() AS n FROM checkpoints', null)).toEqual([{ n: '1' }]);
    expect(await rows(s, 'SELECT DISTINCT database FROM system.tables', null)).toEqual([{ database: 'otel_audit' }]);
    expect(await rows(s, 'SELECT DISTINCT database FROM system.columns', null)).toEqual([{ database: 'otel_audit' }]);
  });

  it('nothing carries over between readers of different scopes on the same engine', async () => {
    const s = sql();
    for (const scope of [['acme'], null, ['globex'], null, ['acme']]) {
      expect(await tenantsOf(s, 'SELECT tenant FROM events', scope)).toEqual(scope ?? [...TENANTS].sort());
    }
  });
});

describe('the reader session', () => {
  it('holds the limits, the filter and readonly=1, and refuses to change them', async () => {
    const sql = new ReadOnlySql(store, { timeoutSeconds: 7, maxThreads: 1, maxMemoryBytes: 123_000_000, maxResultRows: 4321, maxResultBytes: 5_000_000 });
    const r = await store.openReader(await sql.sessionSettings(['acme']));
    try {
      const got = await r.text(
        "SELECT getSetting('readonly'), getSetting('max_execution_time'), getSetting('max_threads'), getSetting('max_memory_usage'), " +
          "getSetting('max_result_rows'), getSetting('max_result_bytes'), getSetting('result_overflow_mode'), getSetting('allow_introspection_functions'), currentDatabase()",
      );
      expect(got.trim().split('\t')).toEqual(['1', '7', '1', '123000000', '4321', '5000000', 'throw', 'false', 'otel_audit']);
      for (const stmt of ['SET readonly = 0', 'SET max_execution_time = 0', "SET additional_table_filters = {}", 'SELECT 1 SETTINGS max_threads = 8']) {
        await expect(r.text(stmt), stmt).rejects.toThrow(/in readonly mode/);
      }
      await expect(r.text("INSERT INTO otel_audit.events (event_id) VALUES ('x')")).rejects.toThrow(/readonly/);
      await expect(r.text("SELECT * FROM file('/etc/hostname', 'LineAsString')")).rejects.toThrow(/readonly/);
    } finally {
      r.close();
    }
    // The writer's connection is not read-only.
    await store.command("INSERT INTO otel_audit.checkpoints (chain_id, tree_size) VALUES ('writer-check', 1)");
    const [{ n }] = await store.rows<{ n: string }>("SELECT count() AS n FROM otel_audit.checkpoints WHERE chain_id = 'writer-check'");
    expect(n).toBe('1');
  });
});

describe('limits a query cannot lift', () => {
  const limited = (l: Partial<SqlLimits>) => new ReadOnlySql(store, l);

  it('a runaway query is stopped by the time limit, and the writer answers meanwhile', async () => {
    const sql = limited({ timeoutSeconds: 1.5 });
    const started = Date.now();
    const runaway = rows(sql, 'SELECT count() FROM numbers(1e12)', null).then(
      () => null,
      (err: Error) => err,
    );
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) {
      const t = Date.now();
      await store.ping();
      await store.command(`INSERT INTO otel_audit.checkpoints (chain_id, tree_size) VALUES ('during-runaway', ${i})`);
      expect(Date.now() - t).toBeLessThan(1000);
    }
    const err = await runaway;
    expect(err?.message).toMatch(/Timeout exceeded/);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('rows, bytes and memory over the limits are an error, not a cut result', async () => {
    await expect(rows(limited({ maxResultRows: 1000 }), 'SELECT number FROM numbers(200000)', null).then((r) => r.length)).rejects.toThrow(/Limit for result exceeded/);
    // The limits are checked block by block (65k rows): a result over them is cut off by an error after the first block.
    await expect(rows(limited({ maxResultBytes: 100_000 }), 'SELECT repeat(toString(number % 10), 100) FROM numbers(200000)', null).then((r) => r.length)).rejects.toThrow(/Limit for result exceeded/);
    await expect(rows(limited({ maxMemoryBytes: 20_000_000 }), 'SELECT groupArray(number) FROM numbers(50000000)', null)).rejects.toThrow(/MEMORY_LIMIT_EXCEEDED|memory limit/i);
  });

  it('at most `concurrency` queries run; the next is refused until a slot frees (also when the reader stops early)', async () => {
    const sql = limited({ concurrency: 1, timeoutSeconds: 1 });
    const busy = rows(sql, 'SELECT count() FROM numbers(1e12)', null).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 100));
    await expect(sql.query('SELECT 1', 'JSONEachRow', null)).rejects.toThrow(SqlBusyError);
    await busy;
    // A reader that takes the first chunk and goes away frees its slot.
    const out = await sql.query('SELECT number FROM numbers(3000000)', 'CSV', null);
    expect((await out.next()).done).toBe(false);
    await out.return!();
    expect(await rows(sql, 'SELECT 1 AS one', null)).toEqual([{ one: 1 }]);
    // A refused query frees its slot too.
    await expect(sql.query('DROP TABLE events', 'JSONEachRow', null)).rejects.toThrow(/DROP is not allowed/);
    expect(await rows(sql, 'SELECT 2 AS two', null)).toEqual([{ two: 2 }]);
  });
});
