/**
 * How the API reads events: each query in a read-only session of its own (Store.openReader:
 * embedded, a chDB session on the data directory, which streams; a server, the reader user),
 * never on the writer's connection, so that a long export holds up neither ingest nor other
 * readers. The tenant scope is in the statement (`tenant IN ...`) and, again, in the session
 * (`additional_table_filters`), so that a statement that forgot it still reads the caller's
 * tenants only.
 */
import { StringDecoder } from 'node:string_decoder';
import type { ReaderSession, Store } from '../store/store.ts';
import { quoteString } from '../store/store.ts';
import { MAPS_AS_PAIRS, parseRow } from '../store/json-rows.ts';
import { bindParams } from './queries.ts';

export interface ReadOptions {
  /** The tenants the caller may read; null: every tenant. */
  tenants: readonly string[] | null;
  /** Longest the query may run (seconds); 0: no limit (exports, stopped when the client goes away). */
  timeoutSeconds: number;
  signal?: AbortSignal;
}

export class EventReads {
  readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  private async session(o: ReadOptions, extra: Record<string, string | number> = {}): Promise<ReaderSession> {
    const settings: Record<string, string | number> = {
      ...extra,
      max_execution_time: o.timeoutSeconds,
      timeout_overflow_mode: 'throw',
      max_threads: 2,
      // An export sorts the whole filtered range: past this, on disk, so that it streams in
      // bounded memory however large (as verify's sorted read does, chain/source.ts).
      max_bytes_before_external_sort: 256 * 1024 * 1024,
    };
    if (o.tenants) {
      const scope = o.tenants.length ? `tenant IN (${o.tenants.map(quoteString).join(', ')})` : '0';
      settings.additional_table_filters = `{${quoteString(`${this.store.database}.events`)}: ${quoteString(scope)}}`;
    }
    if (this.store.mode === 'server') settings.cancel_http_readonly_queries_on_client_close = 1;
    return this.store.openReader(settings);
  }

  /** Every row of a bounded query, parsed. */
  async rows<T = Record<string, unknown>>(sql: string, params: Record<string, unknown>, o: ReadOptions): Promise<T[]> {
    const session = await this.session(o, MAPS_AS_PAIRS);
    try {
      const text = await session.text(bindParams(sql, params), 'JSONEachRow');
      const out: T[] = [];
      for (const line of text.split('\n')) if (line) out.push(parseRow<T>(line));
      return out;
    } finally {
      session.close();
    }
  }

  /** A query's output in a ClickHouse format, streamed; returning the iterator stops the query. */
  async *stream(sql: string, params: Record<string, unknown>, format: string, o: ReadOptions, extra: Record<string, string | number> = {}): AsyncGenerator<Buffer> {
    const session = await this.session(o, extra);
    try {
      yield* session.stream(bindParams(sql, params), format, o.signal);
    } finally {
      session.close();
    }
  }

  /** A query's rows, parsed one by one as they stream (JSONEachRow). */
  async *streamRows<T = Record<string, unknown>>(sql: string, params: Record<string, unknown>, o: ReadOptions): AsyncGenerator<T> {
    let rest = '';
    // A chunk may end inside a character: decode across chunks.
    const decoder = new StringDecoder('utf8');
    for await (const chunk of this.stream(sql, params, 'JSONEachRow', o, MAPS_AS_PAIRS)) {
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
}
