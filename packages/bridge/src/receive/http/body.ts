import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';
import type { RequestBody } from '../../otlp/index.ts';
import { IngestError } from '../errors.ts';

export interface BodyLimits {
  /** Largest body, measured after decompression. */
  maxBytes: number;
  /**
   * The slowest upload accepted, in bytes per second on the wire: once minTimeMs have passed, the
   * body must keep up this rate: it is cut (408) when it has taken longer than minTimeMs + the
   * bytes received so far / minBytesPerSecond. So a body of any size completes in at most
   * minTimeMs + its size / minBytesPerSecond, and one that stalls, or trickles, is cut soon after
   * minTimeMs, whatever size it announced. Unset: no limit.
   */
  minBytesPerSecond?: number;
  /** The least time any body is given (ms). */
  minTimeMs?: number;
  /**
   * Told of every decompressed chunk before it is kept; an error it returns stops the read (the
   * receiver's bound on bytes in flight across requests).
   */
  admit?: (bytes: number) => IngestError | undefined;
}

/**
 * Reads a request body, decompressing gzip/deflate on the fly, and stops as soon as the
 * decompressed size passes the limit (a gzip bomb costs at most `maxBytes` of memory), `admit`
 * refuses a chunk, or the upload is too slow (REQUEST_TIMEOUT). On such a stop the rest of the
 * body is discarded as it comes, until the caller's answer closes the connection (or drains it).
 * Gives the chunks as read when there are several: they are joined where the request is decoded.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<RequestBody> {
  const { maxBytes, admit } = limits;
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  let inflater: Gunzip | Inflate | null = null;
  if (encoding === 'gzip' || encoding === 'x-gzip') inflater = createGunzip();
  else if (encoding === 'deflate') inflater = createInflate();
  else if (encoding !== 'identity' && encoding !== '') {
    return Promise.reject(new IngestError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding "${encoding}": use gzip, deflate or none`));
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(new IngestError('PAYLOAD_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${maxBytes} bytes`));
  }
  const source: NodeJS.ReadableStream = inflater ? req.pipe(inflater) : req;
  const started = Date.now();
  return new Promise<RequestBody>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let wire = 0;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (err: IngestError | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      source.removeListener('data', onData);
      source.removeListener('end', onEnd);
      source.removeListener('error', onError);
      req.removeListener('data', onWire);
      req.removeListener('close', onClose);
      req.removeListener('error', onError);
      if (err) {
        if (inflater) {
          req.unpipe(inflater);
          inflater.destroy();
        }
        // The rest is discarded as it comes, until the caller's answer closes the connection (or
        // the body ends, on a connection worth keeping).
        req.resume();
        reject(err);
      } else resolve(chunks.length === 1 ? chunks[0]! : chunks); // joined where it is decoded (otlp/ wholeBody)
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      const stop =
        size > maxBytes
          ? new IngestError('PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${maxBytes} bytes${inflater ? ' after decompression' : ''}`)
          : admit?.(chunk.length);
      if (stop) finish(stop);
      else chunks.push(chunk);
    };
    const onWire = (chunk: Buffer) => {
      wire += chunk.length;
    };
    const onEnd = () => finish(null);
    const onError = (err: Error) => finish(new IngestError('INVALID_ARGUMENT', `cannot read the request body: ${err.message}`));
    // A client gone mid-body: req does not pass that on to the inflater, which would wait forever.
    const onClose = () => {
      if (!req.complete) finish(new IngestError('INVALID_ARGUMENT', 'the client closed the connection before the end of the body'));
    };
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', onError);
    if (inflater) req.once('error', onError);
    req.once('close', onClose);
    req.on('data', onWire);

    const rate = limits.minBytesPerSecond;
    if (rate && rate > 0) {
      const minTime = limits.minTimeMs ?? 10_000;
      // The time the body is allowed so far grows with what it has sent.
      const allowed = () => minTime + (wire / rate) * 1000;
      const check = () => {
        const left = allowed() - (Date.now() - started);
        if (left > 0) {
          timer = setTimeout(check, Math.min(left, 2 ** 31 - 1));
          timer.unref();
          return;
        }
        const seconds = Math.round((Date.now() - started) / 100) / 10;
        finish(new IngestError('REQUEST_TIMEOUT', `the request body came too slowly: ${wire} bytes in ${seconds} s (the least rate accepted is ${rate} bytes/s)`));
      };
      check();
    }
  });
}
