import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../internal/logger.ts';
import type { Metrics } from '../../internal/metrics.ts';
import { OtlpDecodeError, type DecodeOptions } from '../otlp/decode.ts';
import { ingestRequest, type Encoding, type Signal, type TelemetrySink } from '../otlp/request.ts';
import { encodeExportResponseJson, encodeExportResponseProtobuf, encodeStatusJson, encodeStatusProtobuf } from '../otlp/encode.ts';
import { HttpError, readBody } from './body.ts';

export type { TelemetrySink } from '../otlp/request.ts';

export interface OtlpHttpConfig {
  host: string;
  port: number;
  /** Largest accepted body, measured after decompression. */
  maxBodyBytes: number;
  /** Requests being processed at once; more get 429 with Retry-After. */
  maxInFlight: number;
  /**
   * Request bytes (after decompression) held at once across requests, from the first byte read
   * until the answer; past it, 429 with Retry-After. A request alone is always admitted (up to
   * maxBodyBytes).
   */
  maxInFlightBytes: number;
  decode?: DecodeOptions;
}

export const DEFAULT_OTLP_HTTP_CONFIG: OtlpHttpConfig = {
  host: '127.0.0.1',
  port: 4318,
  maxBodyBytes: 64 * 1024 * 1024,
  maxInFlight: 64,
  maxInFlightBytes: 128 * 1024 * 1024,
};

const GRPC_CODE_FOR_STATUS: Record<number, number> = { 400: 3, 413: 8, 415: 3, 404: 5, 405: 12, 429: 8, 503: 14, 500: 13 };

/** OTLP/HTTP receiver: POST /v1/traces and /v1/logs, protobuf or JSON, optionally gzipped. */
export class OtlpHttpReceiver {
  readonly config: OtlpHttpConfig;
  private server: Server | null = null;
  private inFlight = 0;
  private inFlightBytes = 0;
  private stopping = false;
  private readonly sink: TelemetrySink;
  private readonly log: Logger;
  private readonly m;

  constructor(config: OtlpHttpConfig, sink: TelemetrySink, log: Logger, metrics: Metrics) {
    this.config = config;
    this.sink = sink;
    this.log = log;
    this.m = {
      requests: metrics.counter('otel_audit_otlp_http_requests_total', 'OTLP/HTTP export requests'),
      rejectedRequests: metrics.counter('otel_audit_otlp_http_rejected_requests_total', 'OTLP/HTTP requests answered with an error status'),
      rejectedSpans: metrics.counter('otel_audit_spans_rejected_total', 'Spans rejected as invalid (partial success)'),
      rejectedLogs: metrics.counter('otel_audit_log_records_rejected_total', 'Log records rejected as invalid (partial success)'),
      throttled: metrics.counter('otel_audit_otlp_http_throttled_total', 'OTLP/HTTP requests answered 429 (in-flight requests or bytes over the limit)'),
    };
    metrics.gauge('otel_audit_otlp_http_in_flight_requests', 'OTLP/HTTP requests being processed', () => this.inFlight);
    metrics.gauge('otel_audit_otlp_http_in_flight_bytes', 'OTLP/HTTP request bytes held (after decompression)', () => this.inFlightBytes);
  }

  async start(): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.log.error('unexpected error in the OTLP/HTTP receiver', { error: (err as Error).message });
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    server.keepAliveTimeout = 65_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  /**
   * Stops accepting; resolves when in-flight requests are answered. Requests that still arrive
   * on open keep-alive connections get 503 (retry elsewhere or later) and every answer closes its
   * connection, so that clients under load cannot keep the bridge from stopping; connections
   * still open after 10 s are closed.
   */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.stopping = true;
    await new Promise<void>((resolve) => {
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      const force = setTimeout(() => server.closeAllConnections(), 10_000);
      server.close(() => {
        clearInterval(idle);
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let cutShort = false;
    const path = (req.url ?? '').split('?')[0];
    const signal: Signal | null = path === '/v1/traces' ? 'traces' : path === '/v1/logs' ? 'logs' : null;
    const ctype = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const encoding: Encoding = ctype === 'application/json' ? 'json' : 'protobuf';
    try {
      if (!signal) throw new HttpError(404, `no OTLP endpoint at ${path}: use /v1/traces or /v1/logs`);
      if (req.method !== 'POST') throw new HttpError(405, `method ${req.method} not allowed on ${path}: use POST`);
      if (ctype !== 'application/json' && ctype !== 'application/x-protobuf' && ctype !== 'application/protobuf') {
        throw new HttpError(415, `unsupported Content-Type "${ctype}": use application/x-protobuf or application/json`);
      }
      this.m.requests.inc();
      if (this.stopping) throw new HttpError(503, 'the bridge is shutting down; retry later', 1);
      const overload = this.sink.overloaded?.();
      if (overload) throw new HttpError(503, overload.reason, overload.retryAfterSeconds);
      if (this.inFlight >= this.config.maxInFlight) {
        this.m.throttled.inc();
        throw new HttpError(429, `too many requests in flight (${this.config.maxInFlight}); retry later`, 1);
      }
      const declared = Number(req.headers['content-length']);
      if (this.inFlightBytes > 0 && Number.isFinite(declared) && this.inFlightBytes + declared > this.config.maxInFlightBytes) {
        this.m.throttled.inc();
        throw new HttpError(429, this.bytesMessage(), 1);
      }
      this.inFlight++;
      let held = 0;
      const admit = (n: number): HttpError | undefined => {
        // Other requests hold bytes and this chunk would pass the limit: stop reading.
        if (this.inFlightBytes > held && this.inFlightBytes + n > this.config.maxInFlightBytes) {
          this.m.throttled.inc();
          cutShort = true;
          return new HttpError(429, this.bytesMessage(), 1);
        }
        held += n;
        this.inFlightBytes += n;
        return undefined;
      };
      try {
        const body = await readBody(req, this.config.maxBodyBytes, admit);
        const result = await this.process(signal, encoding, body, tenantOf(req));
        const out =
          encoding === 'json'
            ? Buffer.from(encodeExportResponseJson(signal, result))
            : Buffer.from(encodeExportResponseProtobuf(signal, result));
        res.writeHead(200, {
          'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
          'content-length': out.length,
          ...(this.stopping ? { connection: 'close' } : {}),
        });
        res.end(out);
      } finally {
        this.inFlight--;
        this.inFlightBytes -= held;
      }
    } catch (err) {
      const e =
        err instanceof HttpError
          ? err
          : err instanceof OtlpDecodeError
            ? new HttpError(400, err.message)
            : new HttpError(503, `the bridge cannot store this request now: ${(err as Error).message}`, 5);
      if (e.status >= 500) this.log.warn('OTLP/HTTP request failed', { status: e.status, error: e.message });
      this.m.rejectedRequests.inc();
      // A body not read to its end is drained when its declared size is moderate (so that the
      // client, still writing, reads the answer instead of a broken pipe: 413 up to 4× the
      // limit, other refusals up to 64 KiB); otherwise the connection is closed (an overloaded
      // bridge should not spend its time reading what it refuses).
      const declared = Number(req.headers['content-length']);
      const drainable = declared <= (e.status === 413 ? 4 * this.config.maxBodyBytes : 64 * 1024);
      this.sendError(res, encoding, e, cutShort || (!req.complete && !drainable));
    }
  }

  private bytesMessage(): string {
    return `too many request bytes in flight (limit ${this.config.maxInFlightBytes}); retry later`;
  }

  private async process(
    signal: Signal,
    encoding: Encoding,
    body: Buffer,
    tenant: string | undefined,
  ): Promise<{ rejected: number; errorMessage: string } | undefined> {
    const { rejected, partial } = await ingestRequest({ signal, encoding, body, tenant }, this.sink, this.config.decode);
    (signal === 'traces' ? this.m.rejectedSpans : this.m.rejectedLogs).inc(rejected.length);
    return partial;
  }

  /** `close`: the body was not read to its end and is not worth draining: close the connection. */
  private sendError(res: ServerResponse, encoding: Encoding, e: HttpError, close = false): void {
    if (res.headersSent) return;
    const code = GRPC_CODE_FOR_STATUS[e.status] ?? 2;
    const body =
      encoding === 'json'
        ? Buffer.from(encodeStatusJson(code, e.message, e.retryAfterSeconds))
        : Buffer.from(encodeStatusProtobuf(code, e.message, e.retryAfterSeconds));
    const headers: Record<string, string | number> = {
      'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
      'content-length': body.length,
    };
    if (e.retryAfterSeconds) headers['retry-after'] = String(e.retryAfterSeconds);
    if (e.status === 405) headers['allow'] = 'POST';
    if (close || this.stopping) headers['connection'] = 'close';
    res.writeHead(e.status, headers);
    res.end(body);
  }
}

/** A tenant set by a trusted front proxy (see README); the resource attribute is the fallback. */
function tenantOf(req: IncomingMessage): string | undefined {
  const t = req.headers['x-otel-audit-tenant'];
  return typeof t === 'string' && t ? t : undefined;
}
