import { mkdirSync, writeFileSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { ClickHouseLog } from './clickhouse-log.ts';
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
  /** `--hot-days` and `--storage-policy`: hot and cold storage of `events` (SchemaOptions, server mode). */
  hotDays?: number;
  storagePolicy?: string;
  requestTimeoutMs?: number;
  /**
   * Server mode: the URL of a read-only user for the `sql` command (openReader); unset, the
   * reader uses `url`'s user with `readonly=1` on every request (deploy/clickhouse/users.sql).
   */
  readerUrl?: string;
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
  private purging: Promise<void> | null = null;
  /** The embedded engine's first connection, which holds its configuration (see open). */
  private engine: EngineSession | null = null;
  /** How openReader reaches the engine: a new chDB session on the data path, or an HTTP client. */
  private reader: { path: string; Session: EngineSessionCtor } | ClickHouseClient | null = null;

  private constructor(client: ClickHouseClient, mode: StoreMode, schema: SchemaOptions) {
    this.client = client;
    this.mode = mode;
    this.schema = schema;
    this.database = schema.database;
  }

  static async open(config: StoreConfig): Promise<Store> {
    const schema: SchemaOptions = { database: config.database, cluster: config.cluster, hotDays: config.hotDays, storagePolicy: config.storagePolicy };
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
        log: { LoggerClass: ClickHouseLog },
      });
      const store = new Store(client, 'server', schema);
      store.reader = readerClient(config.readerUrl ?? config.url, schema.database, config.requestTimeoutMs);
      await store.ping();
      return store;
    }
    const path = resolve(config.dataDir, 'clickhouse');
    mkdirSync(path, { recursive: true, mode: 0o700 });
    // Loaded lazily: a server deployment never needs the native addon.
    const { createChdbConnection } = await import('chdb/connection');
    const { Session } = (await import('chdb')).default as unknown as { Session: EngineSessionCtor };
    const configFile = resolve(config.dataDir, 'clickhouse.xml');
    try {
      writeFileSync(configFile, EMBEDDED_ENGINE_CONFIG, { mode: 0o600 });
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
    const client = createClient({ connection, clickhouse_settings: BASE_SETTINGS, log: { LoggerClass: ClickHouseLog } } as Parameters<typeof createClient>[0]);
    const store = new Store(client, 'embedded', schema);
    store.engine = engine;
    store.reader = { path, Session };
    store.stagingDir = resolve(config.dataDir, 'staging');
    mkdirSync(store.stagingDir, { recursive: true, mode: 0o700 });
    // libchdb brings ClickHouse's jemalloc, which keeps freed pages until purged: under load
    // RSS grew to 1.4 GiB with 350 MiB live (V8 heap + buffers); purging cut the peak ~15 %.
    // Every second rather than every 5 s (the intake workers allocate in their own arenas too):
    // bench peak RSS 997–1,071 MiB against 1,038–1,202, no measurable CPU per span.
    store.purgeTimer = setInterval(() => {
      store.purging ??= store
        .command('SYSTEM JEMALLOC PURGE')
        .catch(() => {})
        .finally(() => (store.purging = null));
    }, 1_000);
    store.purgeTimer.unref();
    return store;
  }

  /**
   * The memory the engine holds by its own count (`MemoryTracking`), in bytes. For the embedded
   * engine, that is the bridge's own memory (a server's is not).
   */
  async engineMemory(): Promise<number> {
    const [r] = await this.rows<{ v: string }>("SELECT value AS v FROM system.metrics WHERE metric = 'MemoryTracking'");
    return Number(r?.v ?? 0);
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

  /** The stored head (newest seq and its hash) of each chain whose id starts with `prefix`. */
  async chainHeads(prefix: string): Promise<Map<string, { seq: number; hash: string }>> {
    // Aliases differ from the column names: ClickHouse would resolve `seq` in argMax to the alias.
    const rows = await this.rows<{ chain_id: string; head_seq: string; head_hash: string }>(
      `SELECT chain_id, max(seq) AS head_seq, argMax(hash, seq) AS head_hash FROM ${this.database}.events WHERE startsWith(chain_id, {p:String}) GROUP BY chain_id`,
      { p: prefix },
    );
    return new Map(rows.map((r) => [r.chain_id, { seq: Number(r.head_seq), hash: r.head_hash }]));
  }

  /** The ids of the `n` most recently ingested events, oldest first (re-sent spans are recognized by them). */
  async recentEventIds(n: number): Promise<string[]> {
    const rows = await this.rows<{ event_id: string }>(
      `SELECT event_id FROM (SELECT event_id, seq FROM ${this.database}.events ORDER BY ingest_time DESC, seq DESC LIMIT {n:UInt32}) ORDER BY seq`,
      { n },
    );
    return rows.map((r) => r.event_id);
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
    rows: Buffer | readonly Buffer[],
    dedupToken: string,
  ): Promise<void> {
    // Rows may come in chunks (the spool's reused row memory): sent and staged as they are.
    const chunks = Buffer.isBuffer(rows) ? [rows] : rows;
    const token = dedupToken.replace(/[\\']/g, (c) => `\\${c}`);
    const target = `${this.database}.${table}`;
    if (this.mode === 'server') {
      const r = await this.client.exec({
        query: `INSERT INTO ${target} SETTINGS insert_deduplication_token = '${token}' FORMAT RowBinary`,
        values: Readable.from(chunks),
        clickhouse_settings: BASE_SETTINGS,
      });
      r.stream.resume();
      return;
    }
    const file = join(this.stagingDir, `batch-${process.pid}-${++this.staged}.bin`);
    await writeFile(file, chunks);
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

  /**
   * A session for one read-only SQL query (api/sql/): `settings` and then `readonly=1` hold for
   * every statement it runs, and nothing it runs can change them (readonly=1 refuses any SET or
   * SETTINGS, writes, DDL and the table functions that make temporary tables, file() and url()
   * among them). Unqualified table names resolve to the audit database.
   *  - embedded: a chDB session of its own on the data path. Each session is a connection with
   *    its own settings, so readonly=1 there leaves the writer's connection as it was, and a
   *    long query on it holds up neither the writer nor other readers (one connection runs one
   *    query at a time, which is why every reader query gets a new one: ~1 ms).
   *  - server: the reader URL's user (or the writer's), every request carrying `settings` and
   *    readonly=1; the server checks request settings against the user's own profile before
   *    applying them, then a SETTINGS clause in the query against readonly=1.
   */
  async openReader(settings: Readonly<Record<string, string | number>>): Promise<ReaderSession> {
    const reader = this.reader;
    if (!reader) throw new Error('the store is closed');
    if (!('Session' in reader)) return new ServerReader(reader, { ...BASE_SETTINGS, ...settings, readonly: '1' } as ClickHouseSettings);
    const session = new reader.Session(reader.path) as ChdbSession;
    try {
      await session.queryAsync(`USE ${this.database}`, { format: 'TSV' });
      for (const [name, value] of Object.entries({ ...BASE_SETTINGS, ...settings })) {
        if (!/^[a-z_][a-z0-9_]*$/i.test(name)) throw new Error(`invalid setting name "${name}"`);
        await session.queryAsync(`SET ${name} = ${typeof value === 'number' ? value : quoteString(String(value))}`, { format: 'TSV' });
      }
      await session.queryAsync('SET readonly = 1', { format: 'TSV' });
    } catch (err) {
      session.close();
      throw err;
    }
    return new EmbeddedReader(session);
  }

  async close(): Promise<void> {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    // A purge still running when the engine closes keeps the data directory locked a while:
    // the next process to open it would be refused.
    await this.purging;
    await this.client.close();
    const reader = this.reader;
    this.reader = null;
    if (reader && !('Session' in reader)) await reader.close();
    this.engine?.close();
  }
}

/** One read-only SQL session (Store.openReader). */
export interface ReaderSession {
  /** Runs a statement and returns its whole output (for small results: formatQuery, EXPLAIN). */
  text(query: string, format?: string): Promise<string>;
  /**
   * Streams a statement's output in a ClickHouse format. Stopping the iteration early (or
   * `signal`) stops the query; the generator returns only once the engine has let go of it.
   */
  stream(query: string, format: string, signal?: AbortSignal): AsyncGenerator<Buffer>;
  close(): void;
}

interface EngineSession {
  close(): void;
}
type EngineSessionCtor = new (path: string, opts?: { connectionArgs: string[] }) => EngineSession;

/** The parts of chdb's Session that a reader uses. */
interface ChdbSession extends EngineSession {
  queryAsync(query: string, opts: { format: string }): Promise<{ text(): string }>;
  queryStream(query: string, opts: { format: string }): AsyncIterable<{ raw(): Uint8Array }>;
}

class EmbeddedReader implements ReaderSession {
  private readonly session: ChdbSession;
  constructor(session: ChdbSession) {
    this.session = session;
  }

  async text(query: string, format = 'TabSeparatedRaw'): Promise<string> {
    return (await this.session.queryAsync(query, { format })).text();
  }

  async *stream(query: string, format: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
    // chdb checks for an abort only between chunks, after the engine handed one over; the
    // engine's max_execution_time bounds the wait for a chunk.
    for await (const chunk of this.session.queryStream(query, { format })) {
      if (signal?.aborted) return;
      const raw = chunk.raw();
      yield Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    }
  }

  close(): void {
    this.session.close();
  }
}

class ServerReader implements ReaderSession {
  private readonly client: ClickHouseClient;
  private readonly settings: ClickHouseSettings;
  constructor(client: ClickHouseClient, settings: ClickHouseSettings) {
    this.client = client;
    this.settings = settings;
  }

  async text(query: string, format = 'TabSeparatedRaw'): Promise<string> {
    const rs = await this.client.query({ query, format: format as 'TabSeparatedRaw', clickhouse_settings: this.settings });
    return rs.text();
  }

  async *stream(query: string, format: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const rs = await this.client.query({ query, format: format as 'JSONEachRow', clickhouse_settings: this.settings, abort_signal: abort.signal });
      if (format === 'JSON') {
        // Not a streamable format for the client: one document.
        yield Buffer.from(await rs.text());
        return;
      }
      for await (const rows of rs.stream() as AsyncIterable<Array<{ text: string }>>) {
        yield Buffer.from(rows.map((r) => `${r.text}\n`).join(''));
      }
    } finally {
      // Closing the request makes the server cancel a read-only query
      // (cancel_http_readonly_queries_on_client_close, set by api/sql/).
      abort.abort();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  close(): void {}
}

/** The HTTP client of read-only queries: no compression, so no setting beyond the reader's own. */
function readerClient(url: string, database: string, requestTimeoutMs = 30_000): ClickHouseClient {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid ClickHouse reader URL "${redactUrl(url)}": expected http(s)://[user:password@]host:port`);
  }
  return createClient({
    url: `${u.protocol}//${u.host}`,
    username: decodeURIComponent(u.username) || 'default',
    password: decodeURIComponent(u.password),
    database,
    request_timeout: requestTimeoutMs,
    compression: { request: false, response: false },
    // A refused or failing query is the reader's error, answered to the reader: not a log line.
    log: { level: ClickHouseLogLevel.OFF },
  });
}

/** A ClickHouse string literal. */
export function quoteString(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/**
 * Server configuration of the embedded engine (written to `<dataDir>/clickhouse.xml` at each
 * start). A server deployment configures its own server.
 *  - Vertical merges for every merge: a horizontal merge of the events table (50 columns, ~3 KB
 *    rows) held ~490 MiB at once under load; one column at a time needs a fraction of it.
 *  - merge_selector_base 10 (default 5): fewer, wider merges. Under load, merges took more CPU
 *    than the inserts themselves (0.29 core at 10k spans/s); this halves that, for a few more
 *    parts between merges.
 *  - Not set: max_compress_block_size. At 128 KiB instead of 1 MiB an insert of a chained
 *    batch held ~80 MiB instead of ~370 (buffers per column stream, mostly never touched), but
 *    the bench's peak RSS did not move and its p99 at half rate was higher in 4 of 6 pairs.
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
