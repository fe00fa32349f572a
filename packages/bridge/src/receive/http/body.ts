import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';

export class HttpError extends Error {
  readonly status: number;
  readonly retryAfterSeconds?: number;
  constructor(status: number, message: string, retryAfterSeconds?: number) {
    super(message);
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * Reads a request body, decompressing gzip/deflate on the fly, and stops as soon as the
 * decompressed size passes the limit: a gzip bomb costs at most `limit` bytes of memory.
 * `admit` is told of every decompressed chunk before it is kept; an error it returns stops the
 * read (the receiver's bound on bytes in flight across requests).
 */
export async function readBody(req: IncomingMessage, limit: number, admit?: (bytes: number) => HttpError | undefined): Promise<Buffer> {
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  let source: NodeJS.ReadableStream = req;
  let inflater: Gunzip | Inflate | null = null;
  if (encoding === 'gzip' || encoding === 'x-gzip') inflater = createGunzip();
  else if (encoding === 'deflate') inflater = createInflate();
  else if (encoding !== 'identity' && encoding !== '') {
    req.resume();
    throw new HttpError(415, `unsupported Content-Encoding "${encoding}": use gzip, deflate or none`);
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  if (inflater) source = req.pipe(inflater);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      const stop =
        size > limit
          ? new HttpError(413, `request body exceeds the limit of ${limit} bytes${inflater ? ' after decompression' : ''}`)
          : admit?.(chunk.length);
      if (stop) {
        req.unpipe();
        inflater?.destroy();
        req.resume();
        throw stop;
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, `cannot read the request body: ${(err as Error).message}`);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}
