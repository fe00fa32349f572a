/**
 * Reads for readers (the API's, on behalf of a caller): each query in a read-only session of
 * its own (Store.openReader: embedded, a chDB session on the data directory, which streams; a
 * server, the reader user), never on the writer's connection, so that a long export holds up
 * neither ingest nor other readers. The tenant scope is in the statement (`tenant IN ...`, the
 * *-queries.ts files) and, again, in the session (`additional_table_filters`), so that a
 * statement that forgot it still reads the caller's tenants only.
 */
import { StringDecoder } from 'node:string_decoder';
import { MAPS_AS_PAIRS, parseRow } from './json-rows.ts';
import { quoteString, type ReaderSession, type Store } from './store.ts';

/** A read's input refused before anything runs (the API answers 400, naming it). */
export class QueryInputError extends Error {}

export interface ReadOptions {
  /** The tenants the caller may read; null: every tenant. */
  tenants: readonly string[] | null;
  /** Longest the query may run (seconds); 0: no limit (exports, stopped when the client goes away). */
  timeoutSeconds: number;
  signal?: AbortSignal;
}

async function session(store: Store, o: ReadOptions, extra: Record<string, string | number> = {}): Promise<ReaderSession> {
  const settings: Record<string, string | number> = {
    ...extra,
    max_execution_time: o.timeoutSeconds,
    timeout_overflow_mode: 'throw',
    max_threads: 2,
    // An export sorts the whole filtered range: past this, on disk, so that it streams in
    // bounded memory however large (as verify's sorted read does, stream-rows.ts).
    max_bytes_before_external_sort: 256 * 1024 * 1024,
  };
  if (o.tenants) {
    const scope = o.tenants.length ? `tenant IN (${o.tenants.map(quoteString).join(', ')})` : '0';
    settings.additional_table_filters = `{${quoteString(`${store.database}.events`)}: ${quoteString(scope)}}`;
  }
  if (store.mode === 'server') settings.cancel_http_readonly_queries_on_client_close = 1;
  return store.openReader(settings);
}

/** Every row of a bounded query, parsed (Map columns read as pairs: json-rows.ts). */
export async function readerRows<T = Record<string, unknown>>(store: Store, sql: string, params: Record<string, unknown>, o: ReadOptions): Promise<T[]> {
  const s = await session(store, o, MAPS_AS_PAIRS);
  try {
    const text = await s.text(bindParams(sql, params), 'JSONEachRow');
    const out: T[] = [];
    for (const line of text.split('\n')) if (line) out.push(parseRow<T>(line));
    return out;
  } finally {
    s.close();
  }
}

/** A query's output in a ClickHouse format, streamed; returning the iterator stops the query. */
export async function* readerStream(
  store: Store,
  sql: string,
  params: Record<string, unknown>,
  format: string,
  o: ReadOptions,
  extra: Record<string, string | number> = {},
): AsyncGenerator<Buffer> {
  const s = await session(store, o, extra);
  try {
    yield* s.stream(bindParams(sql, params), format, o.signal);
  } finally {
    s.close();
  }
}

/** A query's rows, parsed one by one as they stream (JSONEachRow). */
export async function* readerRowStream<T = Record<string, unknown>>(store: Store, sql: string, params: Record<string, unknown>, o: ReadOptions): AsyncGenerator<T> {
  let rest = '';
  // A chunk may end inside a character: decode across chunks.
  const decoder = new StringDecoder('utf8');
  for await (const chunk of readerStream(store, sql, params, 'JSONEachRow', o, MAPS_AS_PAIRS)) {
    const text = rest + decoder.write(chunk);
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      if (end > start) yield parseRow<T>(text.slice(start, end));
      start = end + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest.trim()) yield parseRow<T>(rest);
}

/**
 * Writes bound parameters into the statement as literals: reader sessions are read-only, and
 * there `SET param_...` is refused. Only the placeholders these statements hold are replaced,
 * in one pass, so a value is never read as SQL.
 */
export function bindParams(sql: string, params: Record<string, unknown>): string {
  return sql.replace(/\{([a-z_][a-z0-9_]*):([A-Za-z0-9()]+)\}/g, (_m, name: string, type: string) => {
    if (!(name in params)) throw new Error(`internal: no value for query parameter ${name}`);
    const v = params[name];
    switch (type) {
      case 'String':
        return quoteString(String(v));
      case 'UInt64': {
        const s = String(v);
        if (!/^\d{1,20}$/.test(s)) throw new QueryInputError(`invalid number "${s.slice(0, 32)}"`);
        return s;
      }
      case 'Array(String)':
        return `[${(v as unknown[]).map((x) => quoteString(String(x))).join(', ')}]`;
      case 'Array(UInt64)':
        return `[${(v as unknown[]).map((x) => (/^\d{1,20}$/.test(String(x)) ? String(x) : '0')).join(', ')}]`;
      default:
        throw new Error(`internal: query parameter type ${type} is not supported`);
    }
  });
}
