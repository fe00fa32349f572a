/**
 * The `sql` command and endpoint: one SELECT, read-only by the engine's own rules.
 *
 * Every query gets a reader session of its own (Store.openReader) in which the limits, the
 * tenant filter and then readonly=1 are set before the query's text is seen, so nothing the
 * query says can write, change a setting or lift a limit. In that session:
 *   1. `SELECT formatQuery('<text>')`: ClickHouse parses the text as one statement (a second one
 *      is a syntax error: nothing of the text runs) and prints it back, comments gone;
 *   2. `EXPLAIN AST <that>`: ClickHouse's parse tree, which policy.ts checks (one SELECT, tables
 *      of the audit database, functions that reach nothing outside the query);
 *   3. the very text that was checked runs, and its output streams back.
 * The text is never run before it is checked, and never run raw: through chDB, a text with
 * several statements runs them all, `EXPLAIN AST SELECT 1; DROP TABLE t` included.
 *
 * At most `concurrency` queries run at once; more get SqlBusyError (429 with Retry-After), so
 * that readers never take more than a known share of the engine from ingest and /readyz.
 */
import { engineFunctions, explainAst, formatQuery, readerTableFilters, type ReaderSession, type Store } from '../../store/index.ts';
import { AstReadError, readAst } from './ast.ts';
import { checkSelect, FunctionCatalog, SqlRejectedError } from './policy.ts';

export { SqlRejectedError } from './policy.ts';

export interface SqlLimits {
  /** max_execution_time: a query running longer is stopped by the engine. */
  timeoutSeconds: number;
  /** max_memory_usage of one query. */
  maxMemoryBytes: number;
  /** max_result_rows and max_result_bytes (result_overflow_mode 'throw'): more is an error, not a cut. */
  maxResultRows: number;
  maxResultBytes: number;
  /** max_threads of one query. */
  maxThreads: number;
  /** Queries running at once; more are refused with 429. */
  concurrency: number;
}

export const DEFAULT_SQL_LIMITS: SqlLimits = {
  timeoutSeconds: 60,
  maxMemoryBytes: 1024 ** 3,
  maxResultRows: 10_000_000,
  maxResultBytes: 1024 ** 3,
  maxThreads: 2,
  concurrency: 2,
};

/** Too many queries running: answer 429 with Retry-After. */
export class SqlBusyError extends Error {
  readonly retryAfterSeconds = 1;
}

/** Longest query text (the API also refuses bodies over 1 MiB). */
const MAX_QUERY_BYTES = 1024 * 1024;

export class ReadOnlySql {
  readonly limits: SqlLimits;
  private readonly store: Store;
  private running = 0;
  private catalog: Promise<FunctionCatalog> | null = null;

  constructor(store: Store, limits: Partial<SqlLimits> = {}) {
    this.store = store;
    this.limits = { ...DEFAULT_SQL_LIMITS, ...limits };
  }

  /**
   * Checks `text` and starts it; the output (in a ClickHouse format) comes from the returned
   * iterator, which holds a query slot until it is done or returned. `tenants`: the tenants
   * the reader may see, or null for every tenant. Throws SqlRejectedError (a query that is not
   * allowed: nothing of it ran), SqlBusyError, or the engine's error.
   */
  async query(text: string, format: string, tenants: readonly string[] | null, signal?: AbortSignal): Promise<AsyncIterableIterator<Buffer>> {
    if (this.running >= this.limits.concurrency) {
      throw new SqlBusyError(`${this.running} sql queries are running, the most this bridge runs at once: retry in a moment`);
    }
    this.running++;
    let session: ReaderSession | null = null;
    const release = once(() => {
      session?.close();
      this.running--;
    });
    try {
      session = await this.openSession(tenants);
      const checked = await this.checkIn(session, text);
      return new QueryOutput(session.stream(checked, format, signal), release);
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Checks `text` as `query` does and returns the statement that would run (for tests). */
  async check(text: string, tenants: readonly string[] | null = null): Promise<string> {
    const session = await this.openSession(tenants);
    try {
      return await this.checkIn(session, text);
    } finally {
      session.close();
    }
  }

  /**
   * The settings every reader session starts with, before readonly=1: limits, and a filter the
   * engine adds to every read of each table (`additional_table_filters`), set on every query
   * (for a reader of every tenant too) so that nothing carries over between readers.
   */
  async sessionSettings(tenants: readonly string[] | null): Promise<Record<string, string | number>> {
    const l = this.limits;
    const settings: Record<string, string | number> = {
      max_execution_time: l.timeoutSeconds,
      timeout_overflow_mode: 'throw',
      max_memory_usage: l.maxMemoryBytes,
      max_result_rows: l.maxResultRows,
      max_result_bytes: l.maxResultBytes,
      result_overflow_mode: 'throw',
      max_threads: l.maxThreads,
      // Room for the query text inside formatQuery('...').
      max_query_size: 4 * MAX_QUERY_BYTES,
      allow_introspection_functions: 0,
      additional_table_filters: await readerTableFilters(this.store, tenants),
    };
    if (this.store.mode === 'server') settings.cancel_http_readonly_queries_on_client_close = 1;
    return settings;
  }

  private async openSession(tenants: readonly string[] | null): Promise<ReaderSession> {
    return this.store.openReader(await this.sessionSettings(tenants));
  }

  /** Steps 1 and 2 of the module comment; returns the checked statement. */
  private async checkIn(session: ReaderSession, text: string): Promise<string> {
    if (Buffer.byteLength(text) > MAX_QUERY_BYTES) throw new SqlRejectedError('the query is longer than 1 MiB');
    if (!text.trim()) throw new SqlRejectedError('empty query');
    let formatted: string;
    try {
      formatted = await formatQuery(session, text);
    } catch (err) {
      const msg = engineMessage(err);
      if (/Multi-statements are not allowed/.test(msg)) {
        const at = /failed at position (\d+)/.exec(msg)?.[1];
        throw new SqlRejectedError(`only one statement is allowed${at ? ` (another one follows the first at position ${at})` : ''}: nothing ran`);
      }
      throw new SqlRejectedError(msg);
    }
    if (!formatted.trim()) throw new SqlRejectedError('empty query');
    refuseControlCharactersInNames(formatted);
    let dump: string;
    try {
      dump = await explainAst(session, formatted);
    } catch (err) {
      const msg = engineMessage(err);
      // The session's readonly=1 refuses a SETTINGS clause as soon as EXPLAIN applies it.
      const setting = /Cannot modify '([^']+)' setting in readonly mode/.exec(msg)?.[1];
      if (setting) throw new SqlRejectedError(`SETTINGS is not allowed: the bridge sets the query limits, and a query may not change them (it tried ${setting})`);
      if (/UNKNOWN_QUERY_PARAMETER|Substitution .* is not set/.test(msg)) {
        throw new SqlRejectedError('query parameters ({name:Type}) are not supported: write the values into the query');
      }
      throw new SqlRejectedError(msg);
    }
    let roots;
    try {
      roots = readAst(dump);
    } catch (err) {
      if (err instanceof AstReadError) throw new SqlRejectedError(`the query's parse could not be checked (${err.message}), so it does not run`);
      throw err;
    }
    checkSelect(roots, formatted, { database: this.store.database, catalog: await this.functionCatalog() });
    return formatted;
  }

  /** The engine's function catalog, read once. */
  functionCatalog(): Promise<FunctionCatalog> {
    this.catalog ??= (async () => {
      const { functions, tableFunctions } = await engineFunctions(this.store);
      return new FunctionCatalog(functions, tableFunctions);
    })().catch((err) => {
      this.catalog = null;
      throw err;
    });
    return this.catalog;
  }
}

/**
 * In ClickHouse's rendering of a query, a quoted name is backquoted and a line break or other
 * control character in it is written as a backslash escape. EXPLAIN AST prints names raw, so
 * such a name could print lines that are not nodes: refuse it.
 */
function refuseControlCharactersInNames(formatted: string): void {
  for (let i = 0; i < formatted.length; i++) {
    const q = formatted[i];
    if (q !== "'" && q !== '`' && q !== '"') continue;
    let j = i + 1;
    for (; j < formatted.length; j++) {
      const c = formatted[j];
      if (c === '\\') {
        if (q !== "'") throw new SqlRejectedError('quoted names with escapes (line breaks, control characters) are not allowed');
        j++;
        continue;
      }
      if (c === q) break;
    }
    i = j;
  }
}

/** The first line of a ClickHouse error, without its code prefix, version and our wrapper. */
function engineMessage(err: unknown): string {
  const msg = (err as Error).message ?? String(err);
  return msg
    .split('\n')[0]
    .replace(/^Code: \d+\. DB::Exception: /, '')
    .replace(/: In scope SELECT formatQuery\(.*$/, '')
    .replace(/\s*\(version [^)]*\)/, '')
    .slice(0, 500);
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}

/** A query's output; returning it (or reaching its end, or an error) frees its slot. */
class QueryOutput implements AsyncIterableIterator<Buffer> {
  private readonly inner: AsyncGenerator<Buffer>;
  private readonly release: () => void;
  constructor(inner: AsyncGenerator<Buffer>, release: () => void) {
    this.inner = inner;
    this.release = release;
  }

  async next(): Promise<IteratorResult<Buffer>> {
    try {
      const r = await this.inner.next();
      if (r.done) this.release();
      return r;
    } catch (err) {
      this.release();
      throw err;
    }
  }

  async return(): Promise<IteratorResult<Buffer>> {
    try {
      // Waits for a chunk being computed: the engine is done with the query when this returns.
      await this.inner.return(undefined);
    } finally {
      this.release();
    }
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this;
  }
}

const instances = new WeakMap<Store, ReadOnlySql>();

/** The ReadOnlySql of a store (one per store, so that the concurrency limit is the store's). */
export function readOnlySql(store: Store, limits: Partial<SqlLimits> = {}): ReadOnlySql {
  let r = instances.get(store);
  if (!r) instances.set(store, (r = new ReadOnlySql(store, limits)));
  return r;
}
