/**
 * Rows of a SELECT streamed with bounded memory: a chain in seq order (chain-queries.ts), an
 * evidence pack's case (evidence-queries.ts).
 *
 * Why not pages of `WHERE seq > last ORDER BY seq LIMIT 50000`: the events table is sorted by
 * (tenant, correlation_id, event_time, event_id), so inside a merged part consecutive seqs are
 * spread over every granule, and each page reads (nearly) the whole table: O(n²/page). Instead
 * one query sorts by seq inside the engine (spilling to disk past `max_bytes_before_external_sort`)
 * and the result is read as a stream:
 *  - server: @clickhouse/client streams the HTTP response end to end;
 *  - embedded: chdb/connection materializes results, so the query runs on a second chDB session
 *    bound to the same data directory (allowed: same-path sessions share the engine), through
 *    chDB's native streaming cursor. A separate session, because any other query on a session
 *    cancels its active stream, and the bridge keeps inserting while verify runs.
 */
import { createRequire } from 'node:module';
import { StringDecoder } from 'node:string_decoder';
import { MAPS_AS_PAIRS, parseRow } from './json-rows.ts';
import type { Store } from './store.ts';

/** Engine-side limits of the sorting query: small blocks, sort spilled to disk past 256 MiB. */
const STREAM_SETTINGS: Record<string, string | number> = {
  output_format_json_quote_64bit_integers: 1,
  date_time_output_format: 'simple',
  max_block_size: 8192,
  max_bytes_before_external_sort: 256 * 1024 * 1024,
  ...MAPS_AS_PAIRS,
};

interface ChdbStreamChunk {
  text(): string;
}
interface ChdbSession {
  queryStreamBind(sql: string, params: object, opts: { format: string }): AsyncIterable<ChdbStreamChunk>;
  close(): void;
}

/** The data directory of an embedded store's chDB session, or null for a server store. */
function chdbPath(store: Store): string | null {
  if (store.mode !== 'embedded') return null;
  const conn = (store.client as unknown as { connection?: { chdb?: { session?: { path?: string } } } }).connection;
  const path = conn?.chdb?.session?.path;
  if (!path) throw new Error('the embedded store does not expose its chDB session path');
  return path;
}

/**
 * The rows of any SELECT (bound parameters only), streamed as parsed JSONEachRow objects with
 * the engine-side limits above: end to end on a server, through a chDB session of its own on
 * the embedded store (see the file comment). Map columns are read as pairs (json-rows.ts).
 */
export async function* streamRows<T = Record<string, unknown>>(store: Store, sql: string, params: Record<string, unknown>): AsyncGenerator<T> {
  const path = chdbPath(store);
  if (path === null) {
    let rest = '';
    // A chunk may end inside a character: decode across chunks.
    const decoder = new StringDecoder('utf8');
    for await (const chunk of store.stream(sql, 'JSONEachRow', params, STREAM_SETTINGS as never)) {
      const text = rest + decoder.write(chunk);
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) if (l) yield parseRow<T>(l);
    }
    rest += decoder.end();
    if (rest) yield parseRow<T>(rest);
    return;
  }
  const settings = Object.entries(STREAM_SETTINGS)
    .map(([k, v]) => `${k} = ${typeof v === 'number' ? v : `'${v}'`}`)
    .join(', ');
  // chdb is a dependency of this package; loaded lazily like store.ts does.
  const { Session } = createRequire(import.meta.url)('chdb') as { Session: new (path: string) => ChdbSession };
  const session = new Session(path);
  try {
    const stream = session.queryStreamBind(`${sql} SETTINGS ${settings}`, params, { format: 'JSONEachRow' });
    const chunks = stream[Symbol.asyncIterator]();
    let pending = chunks.next();
    try {
      for (;;) {
        const { done, value: chunk } = await pending;
        if (done) break;
        // Fetch ahead: the engine produces the next chunk on its own thread while this one is parsed.
        pending = chunks.next();
        const text = chunk.text();
        let start = 0;
        while (start < text.length) {
          let end = text.indexOf('\n', start);
          if (end < 0) end = text.length;
          if (end > start) yield parseRow<T>(text.slice(start, end));
          start = end + 1;
        }
      }
    } finally {
      pending.catch(() => {}); // a fetch still in flight when the consumer stopped early
      await chunks.return?.(undefined);
    }
  } finally {
    session.close();
  }
}
