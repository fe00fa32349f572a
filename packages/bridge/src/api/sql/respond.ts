import type { ServerResponse } from 'node:http';

const CONTENT_TYPES: Record<string, string> = {
  csv: 'text/csv; charset=utf-8',
  json: 'application/json',
  jsonl: 'application/x-ndjson',
};

/**
 * Sends a query's output. The first chunk is awaited before the headers, so that an error the
 * engine reports at once (a syntax error, an unknown column, a limit) is thrown here and still
 * answered with a status; after that an error is thrown with the headers sent (the caller cuts
 * the connection). Stops pulling when the client goes away, and always returns the iterator, so
 * that the query behind it is stopped and its resources freed.
 */
export async function sendChunks(res: ServerResponse, chunks: AsyncIterator<Buffer>, format: string): Promise<void> {
  let first: IteratorResult<Buffer>;
  try {
    first = await chunks.next();
  } catch (err) {
    await chunks.return?.();
    throw err;
  }
  try {
    res.writeHead(200, { 'content-type': CONTENT_TYPES[format] ?? 'application/octet-stream' });
    let r = first;
    while (!r.done && !res.destroyed) {
      if (!res.write(r.value) && !res.destroyed) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      if (res.destroyed) break;
      r = await chunks.next();
    }
  } finally {
    await chunks.return?.();
  }
  if (!res.destroyed) res.end();
}
