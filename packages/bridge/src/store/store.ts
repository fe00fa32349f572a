import { mkdirSync, writeFileSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { structureOf } from './rowbinary.ts';
import { MIGRATIONS, migrationTableDdl, storageName, type SchemaOptions } from './schema.ts';

export interface StoreConfig {
  /** ClickHouse server URL (http(s)://user:pass@host:8123). Unset: embedded chDB under dataDir. */
  url?: string;
  /** Where the embedded engine keeps its files (`<dataDir>/clickhouse`). */
  dataDir: string;
  database: string;
  /** Cluster name for the cluster DDL variant (server mode only). */
  cluster?: string;
  requestTimeoutMs?: number;
}

export type StoreMode = 'embedded' | 'server';

/**
 * Settings every statement runs with. Through chdb/connection a per-call setting becomes a
 * session-wide SET, so every call states the same ones and nothing leaks between calls.
 */
const BASE_SETTINGS: ClickHouseSettings = {
  output_format_json_quote_64bit_integers: 1,
  date_time_output_format: 'simple',
};

/**
 * The ClickHouse store: one `@clickhouse/client` code path for the embedded engine (chDB
 * through chdb/connection) and for a server over HTTP.
 */
export class Store {
  readonly client: ClickHouseClient;
  readonly mode: StoreMode;
  readonly database: string;
  readonly schema: SchemaOptions;

  /** Where the embedded store stages RowBinary batches for `INSERT ... SELECT FROM file()`. */
  private stagingDir = '';
  private staged = 0;
  private purgeTimer: NodeJS.Timeout | null = null;
  /** The embedded engine's first connection, which holds its configuration (see open). */
  private engine: EngineSession | null = null;

  private constructor(client: ClickHouseClient, mode: StoreMode, schema: SchemaOptions) {
    this.client = client;
    this.mode = mode;
    this.schema = schema;
    this.database = schema.database;
  }

  static async open(config: StoreConfig): Promise<Store> {
    const schema: SchemaOptions = { database: config.database, cluster: config.cluster };
    if (config.url) {
      let url: URL;
      try {
        url = new URL(config.url);
      } catch {
        throw new Error(`invalid ClickHouse URL "${redactUrl(config.url)}": expected http(s)://[user:password@]host:port`);
      }
      const client = createClient({
        url: `${url.protocol}//${url.host}`,
        username: decodeURIComponent(url.username) || 'default',
        password: decodeURIComponent(url.password),
        request_timeout: config.requestTimeoutMs ?? 30_000,
        clickhouse_settings: BASE_SETTINGS,
      });
      const store = new Store(client, 'server', schema);
      await store.ping();
      return store;
    }
    const path = resolve(config.dataDir, 'clickhouse');
    mkdirSync(path, { recursive: true });
    // Loaded lazily: a server deployment never needs the native addon.
    const { createChdbConnection } = await import('chdb/connection');
    const { Session } = (await import('chdb')).default as unknown as { Session: EngineSessionCtor };
    const configFile = resolve(config.dataDir, 'clickhouse.xml');
    try {
      writeFileSync(configFile, EMBEDDED_ENGINE_CONFIG);
    } catch (err) {
      throw new Error(`cannot write the embedded ClickHouse configuration ${configFile}: ${(err as Error).message}. Check that --data-dir is writable.`);
    }
    let connection;
    let engine: EngineSession;
    try {
      // The first connection to a data directory starts the engine with its arguments; the
      // client's connection (same directory) then shares that engine.
      engine = new Session(path, { connectionArgs: [`--config-file=${configFile}`] });
      try {
        connection = createChdbConnection({ path });
      } catch (err) {
        engine.close();
        throw err;
      }
    } catch (err) {
      throw new Error(
        `cannot open the embedded ClickHouse store at ${path}: ${(err as Error).message}. ` +
          `The embedded store belongs to one process: is another bridge running on this data directory?`,
      );
    }
    const client = createClient({ connection, clickhouse_settings: BASE_SETTINGS } as Parameters<typeof createClient>[0]);
    const store = new Store(client, 'embedded', schema);
    store.engine = engine;
    store.stagingDir = resolve(config.dataDir, 'staging');
    mkdirSync(store.stagingDir, { recursive: true, mode: 0o700 });
    // libchdb brings ClickHouse's jemalloc, which keeps freed pages until purged: under load
    // RSS grew to 1.4 GiB with 350 MiB live (V8 heap + buffers); purging cut the peak ~15 %.
    store.purgeTimer = setInterval(() => {
      store.command('SYSTEM JEMALLOC PURGE').catch(() => {});
    }, 5_000);
    store.purgeTimer.unref();
    return store;
  }

  async ping(): Promise<void> {
    const r = await this.client.ping();
    if (!r.success) {
      throw new Error(`ClickHouse is not reachable: ${(r as { error?: Error }).error?.message ?? 'ping failed'}`);
    }
  }

  /** Applies the migrations not yet recorded; idempotent. Returns the versions applied now. */
  async migrate(): Promise<number[]> {
    const o = this.schema;
    await this.command(`CREATE DATABASE IF NOT EXISTS ${o.database}${o.cluster ? ` ON CLUSTER '${o.cluster}'` : ''}`);
    await this.command(migrationTableDdl(o));
    const table = `${o.database}.${storageName(o, 'schema_migrations')}`;
    const done = new Set((await this.rows<{ version: number }>(`SELECT version FROM ${table}`)).map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const stmt of m.statements(o)) await this.command(stmt);
      await this.client.insert({
        table,
        values: [{ version: m.version, name: m.name }],
        format: 'JSONEachRow',
        clickhouse_settings: { ...BASE_SETTINGS, insert_deduplication_token: `migration-${m.version}` },
      });
      applied.push(m.version);
    }
    return applied;
  }

  async schemaVersion(): Promise<number> {
    const table = `${this.database}.${storageName(this.schema, 'schema_migrations')}`;
    const r = await this.rows<{ v: string | number }>(`SELECT max(version) AS v FROM ${table}`);
    return Number(r[0]?.v ?? 0);
  }

  async command(query: string): Promise<void> {
    await this.client.command({ query, clickhouse_settings: BASE_SETTINGS });
  }

  /** Runs a query and returns all rows (use only for bounded results). */
  async rows<T>(query: string, params?: Record<string, unknown>): Promise<T[]> {
    const rs = await this.client.query({ query, format: 'JSONEachRow', query_params: params, clickhouse_settings: BASE_SETTINGS });
    return rs.json<T>();
  }

  /**
   * Inserts pre-serialized JSONEachRow text. The dedup token makes a replay of the same batch
   * (after a crash, from the write-ahead log) a no-op inside ClickHouse's dedup window.
   */
  async insertJsonEachRow(table: string, body: string, dedupToken: string): Promise<void> {
    // exec sends the body as is (insert() would re-encode it), and the token goes in the
    // statement's own SETTINGS so that it never lingers in a chDB session.
    const token = dedupToken.replace(/[\\']/g, (c) => `\\${c}`);
    const r = await this.client.exec({
      query: `INSERT INTO ${this.database}.${table} SETTINGS insert_deduplication_token = '${token}' FORMAT JSONEachRow`,
      values: Readable.from([Buffer.from(body)]),
      clickhouse_settings: BASE_SETTINGS,
    });
    r.stream.resume();
  }

  /**
   * Inserts rows already encoded as RowBinary in the order of `columns`. Embedded: chdb's
   * insert takes text only, so the bytes go through a staging file and `file()`; a server
   * gets them as the request body.
   */
  async insertRowBinary(
    table: string,
    columns: ReadonlyArray<readonly [string, string]>,
    rows: Buffer,
    dedupToken: string,
  ): Promise<void> {
    const token = dedupToken.replace(/[\\']/g, (c) => `\\${c}`);
    const target = `${this.database}.${table}`;
    if (this.mode === 'server') {
      const r = await this.client.exec({
        query: `INSERT INTO ${target} SETTINGS insert_deduplication_token = '${token}' FORMAT RowBinary`,
        values: Readable.from([rows]),
        clickhouse_settings: BASE_SETTINGS,
      });
      r.stream.resume();
      return;
    }
    const file = join(this.stagingDir, `batch-${process.pid}-${++this.staged}.bin`);
    await writeFile(file, rows);
    try {
      const structure = structureOf(columns).replace(/[\\']/g, (c) => `\\${c}`);
      await this.command(
        `INSERT INTO ${target} SETTINGS insert_deduplication_token = '${token}' SELECT * FROM file('${file}', RowBinary, '${structure}')`,
      );
    } finally {
      await unlink(file).catch(() => {});
    }
  }

  /**
   * Streams a query's raw output in a ClickHouse format (CSVWithNames, JSONEachRow,
   * PrettyCompactMonoBlock, ...). The server path streams end to end; chdb/connection
   * materializes a result before handing it over, so the embedded path pages through
   * `LIMIT`-free queries in one go (acceptable for the embedded single-node store).
   */
  async *stream(query: string, format: string, params?: Record<string, unknown>, settings?: ClickHouseSettings): AsyncGenerator<Buffer> {
    const rs = await this.client.query({
      query,
      format: format as 'JSONEachRow',
      query_params: params,
      clickhouse_settings: { ...BASE_SETTINGS, ...settings },
    });
    for await (const chunk of rs.stream() as AsyncIterable<unknown>) {
      // Row-based formats yield arrays of Row; others raw buffers.
      if (Array.isArray(chunk)) {
        for (const row of chunk as Array<{ text: string }>) yield Buffer.from(row.text + '\n');
      } else {
        yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      }
    }
  }

  async close(): Promise<void> {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    await this.client.close();
    this.engine?.close();
  }
}

interface EngineSession {
  close(): void;
}
type EngineSessionCtor = new (path: string, opts: { connectionArgs: string[] }) => EngineSession;

/**
 * Server configuration of the embedded engine (written to `<dataDir>/clickhouse.xml` at each
 * start). A server deployment configures its own server.
 *  - Vertical merges for every merge: a horizontal merge of the events table (50 columns, ~3 KB
 *    rows) held ~490 MiB at once under load; one column at a time needs a fraction of it.
 *  - merge_selector_base 10 (default 5): fewer, wider merges. Under load, merges took more CPU
 *    than the inserts themselves (0.29 core at 10k spans/s); this halves that, for a few more
 *    parts between merges.
 */
const EMBEDDED_ENGINE_CONFIG = `<clickhouse>
  <merge_tree>
    <vertical_merge_algorithm_min_rows_to_activate>1</vertical_merge_algorithm_min_rows_to_activate>
    <vertical_merge_algorithm_min_columns_to_activate>1</vertical_merge_algorithm_min_columns_to_activate>
    <merge_selector_base>10</merge_selector_base>
  </merge_tree>
</clickhouse>
`;

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):([^@/]*)@/, '//$1:***@');
}
