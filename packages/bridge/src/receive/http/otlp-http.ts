import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Access } from '../../auth/index.ts';
import type { Logger } from '../../internal/logger.ts';
import type { Metrics } from '../../internal/metrics.ts';
import type { DecodeOptions } from '../../otlp/index.ts';
import { encodeExportResponseJson, encodeExportResponseProtobuf, encodeStatusJson, encodeStatusProtobuf } from '../../otlp/index.ts';
import { INGEST_STATUS, IngestError, ingestErrorOf } from '../errors.ts';
import type { Encoding, RequestAccess, RequestBody, Signal, TelemetrySink } from '../../otlp/index.ts';
import { ingestRequest, requestAccess } from '../ingest.ts';
import { readBody } from './body.ts';

export type { TelemetrySink } from '../../otlp/index.ts';

export interface OtlpHttpConfig {
  host: string;
  port: number;
  /** Largest accepted body, measured after decompression. */
  maxBodyBytes: number;
  /**
   * Requests being processed at once, counted from the end of their body (a slow upload does not
   * hold a place); more get 429 with Retry-After.
   */
  maxInFlight: number;
  /**
   * Request bytes (after decompression) held at once across requests, from the first byte read
   * until the answer; past it, 429 with Retry-After. A request alone is always admitted (up to
   * maxBodyBytes).
   */
  maxInFlightBytes: number;
  /** Open connections from one client address; more are answered 429 and closed. */
  maxConnectionsPerClient: number;
  /** Time for a request's headers to arrive, and the least time a body is given (ms). */
  clientTimeoutMs: number;
  /**
   * The slowest upload accepted (bytes per second on the wire): a body that has taken longer than
   * clientTimeoutMs + the bytes it sent / this rate is cut with 408 (readBody).
   */
  minBodyBytesPerSecond: number;
  decode?: DecodeOptions;
}

export const DEFAULT_OTLP_HTTP_CONFIG: OtlpHttpConfig = {
  host: '127.0.0.1',
  port: 4318,
  maxBodyBytes: 64 * 1024 * 1024,
  maxInFlight: 64,
  maxInFlightBytes: 128 * 1024 * 1024,
  maxConnectionsPerClient: 32,
  clientTimeoutMs: 10_000,
  minBodyBytesPerSecond: 32 * 1024,
};

/** Refused requests whose body is left unread are drained up to this size, else their connection is closed. */
const DRAIN_LIMIT = 64 * 1024;

/** OTLP/HTTP receiver: POST /v1/traces and /v1/logs, protobuf or JSON, optionally gzipped. */
export class OtlpHttpReceiver {
  readonly config: OtlpHttpConfig;
  private server: Server | null = null;
  private inFlight = 0;
  private inFlightBytes = 0;
  private stopping = false;
  /** Open connections by client address. */
  private readonly connections = new Map<string, number>();
  /** Connections over the per-client limit: answered 429 at once, closed shortly after. */
  private readonly refused = new WeakSet<Socket>();
  private readonly sink: TelemetrySink;
  private readonly log: Logger;
  private readonly access: Access;
  private readonly m;

  constructor(config: OtlpHttpConfig, sink: TelemetrySink, log: Logger, metrics: Metrics, access: Access = Access.open()) {
    this.config = config;
    this.sink = sink;
    this.log = log;
    this.access = access;
    this.m = {
      requests: metrics.counter('otel_audit_otlp_http_requests_total', 'OTLP/HTTP export requests'),
      rejectedRequests: metrics.counter('otel_audit_otlp_http_rejected_requests_total', 'OTLP/HTTP requests answered with an error status'),
      rejectedSpans: metrics.counter('otel_audit_spans_rejected_total', 'Spans rejected as invalid (partial success)'),
      rejectedLogs: metrics.counter('otel_audit_log_records_rejected_total', 'Log records rejected as invalid (partial success)'),
      throttled: metrics.counter('otel_audit_otlp_http_throttled_total', 'OTLP/HTTP requests answered 429 (in-flight requests or bytes over the limit)'),
      refusedConnections: metrics.counter('otel_audit_otlp_http_refused_connections_total', 'OTLP/HTTP connections refused: too many open from one client address'),
      slowBodies: metrics.counter('otel_audit_otlp_http_slow_bodies_total', 'OTLP/HTTP request bodies cut with 408: uploaded slower than the least rate accepted'),
    };
    metrics.gauge('otel_audit_otlp_http_in_flight_requests', 'OTLP/HTTP requests being processed (bodies complete)', () => this.inFlight);
    metrics.gauge('otel_audit_otlp_http_in_flight_bytes', 'OTLP/HTTP request bytes held (after decompression)', () => this.inFlightBytes);
  }

  async start(): Promise<AddressInfo> {
    const { clientTimeoutMs, maxBodyBytes, minBodyBytesPerSecond } = this.config;
    const server = createServer(
      {
        // Node's own timers, checked every connectionsCheckingInterval: headers (a new connection
        // that sends nothing is cut by it too), and the whole request as a backstop behind the
        // body's own deadline (readBody).
        headersTimeout: clientTimeoutMs,
        requestTimeout: 2 * clientTimeoutMs + Math.ceil((maxBodyBytes / minBodyBytesPerSecond) * 1000),
        connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(clientTimeoutMs / 4))),
      },
      (req, res) => {
        if (this.refused.has(req.socket)) return; // answered 429 already; closing
        this.handle(req, res).catch((err) => {
          this.log.error('unexpected error in the OTLP/HTTP receiver', { error: (err as Error).message });
          if (!res.headersSent) res.writeHead(INGEST_STATUS.INTERNAL.http).end();
        });
      },
    );
    server.keepAliveTimeout = 65_000;
    server.on('connection', (socket: Socket) => this.countConnection(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  /**
   * Counts a client's open connections; one past the limit is answered 429 (Retry-After: 1)
   * before anything is read from it, and closed: a client that opens many connections and
   * uploads slowly on each cannot take the receiver for itself.
   */
  private countConnection(socket: Socket): void {
    const client = socket.remoteAddress ?? 'unknown';
    const open = (this.connections.get(client) ?? 0) + 1;
    this.connections.set(client, open);
    socket.once('close', () => {
      const n = (this.connections.get(client) ?? 1) - 1;
      if (n > 0) this.connections.set(client, n);
      else this.connections.delete(client);
    });
    if (open <= this.config.maxConnectionsPerClient) return;
    this.refused.add(socket);
    this.m.refusedConnections.inc();
    this.m.throttled.inc();
    // Written on the socket (no request was read to answer), with its statuses from the one table.
    const e = new IngestError(
      'RESOURCE_EXHAUSTED',
      `too many connections from ${client} (limit ${this.config.maxConnectionsPerClient}, --max-connections-per-client); retry later`,
      1,
    );
    const body = encodeStatusJson(e.grpcStatus, e.message, e.retryAfterSeconds);
    socket.on('error', () => {});
    socket.end(
      `HTTP/1.1 ${e.httpStatus} ${STATUS_CODES[e.httpStatus]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `retry-after: ${e.retryAfterSeconds}\r\nconnection: close\r\n\r\n${body}`,
    );
    // Time for the client to read the answer before its unread request makes the close a reset.
    setTimeout(() => socket.destroy(), 1000).unref();
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
      // Before anything else, and before a byte of the body is read.
      const access = requestAccess(this.access, header(req, 'authorization'), header(req, 'x-otel-audit-tenant'));
      if (!signal) throw new IngestError('NOT_FOUND', `no OTLP endpoint at ${path}: use /v1/traces or /v1/logs`);
      if (req.method !== 'POST') throw new IngestError('METHOD_NOT_ALLOWED', `method ${req.method} not allowed on ${path}: use POST`);
      if (ctype !== 'application/json' && ctype !== 'application/x-protobuf' && ctype !== 'application/protobuf') {
        throw new IngestError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Type "${ctype}": use application/x-protobuf or application/json`);
      }
      this.m.requests.inc();
      if (this.stopping) throw new IngestError('UNAVAILABLE', 'the bridge is shutting down; retry later', 1);
      const overload = this.sink.overloaded?.();
      if (overload) throw new IngestError('UNAVAILABLE', overload.reason, overload.retryAfterSeconds);
      const declared = Number(req.headers['content-length']);
      if (this.inFlightBytes > 0 && Number.isFinite(declared) && this.inFlightBytes + declared > this.config.maxInFlightBytes) {
        this.m.throttled.inc();
        throw new IngestError('RESOURCE_EXHAUSTED', this.bytesMessage(), 1);
      }
      // Bytes count from the first one read (they are held in memory); the request's place
      // among maxInFlight only once the body is complete, so that slow uploads hold no place.
      let held = 0;
      const admit = (n: number): IngestError | undefined => {
        // Other requests hold bytes and this chunk would pass the limit: stop reading.
        if (this.inFlightBytes > held && this.inFlightBytes + n > this.config.maxInFlightBytes) {
          this.m.throttled.inc();
          cutShort = true;
          return new IngestError('RESOURCE_EXHAUSTED', this.bytesMessage(), 1);
        }
        held += n;
        this.inFlightBytes += n;
        return undefined;
      };
      let counted = false;
      try {
        const body = await readBody(req, {
          maxBytes: this.config.maxBodyBytes,
          minBytesPerSecond: this.config.minBodyBytesPerSecond,
          minTimeMs: this.config.clientTimeoutMs,
          admit,
        }).catch((err: unknown) => {
          if (err instanceof IngestError && err.code === 'REQUEST_TIMEOUT') {
            this.m.slowBodies.inc();
            cutShort = true;
          }
          throw err;
        });
        if (this.inFlight >= this.config.maxInFlight) {
          this.m.throttled.inc();
          throw new IngestError('RESOURCE_EXHAUSTED', `too many requests in flight (${this.config.maxInFlight}); retry later`, 1);
        }
        this.inFlight++;
        counted = true;
        const result = await this.process(signal, encoding, body, access);
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
        if (counted) this.inFlight--;
        this.inFlightBytes -= held;
      }
    } catch (err) {
      const e = ingestErrorOf(err);
      if (e.httpStatus >= 500) this.log.warn('OTLP/HTTP request failed', { status: e.httpStatus, error: e.message });
      this.m.rejectedRequests.inc();
      // A body not read to its end is drained when its declared size is moderate (so that the
      // client, still writing, reads the answer instead of a broken pipe: 413 up to 4× the
      // limit, other refusals up to 64 KiB); otherwise the connection is closed (an overloaded
      // bridge should not spend its time reading what it refuses). Too slow a body is never drained.
      const declared = Number(req.headers['content-length']);
      const drainable = declared <= (e.code === 'PAYLOAD_TOO_LARGE' ? 4 * this.config.maxBodyBytes : DRAIN_LIMIT);
      this.sendError(req, res, encoding, e, cutShort || (!req.complete && !drainable));
    }
  }

  private bytesMessage(): string {
    return `too many request bytes in flight (limit ${this.config.maxInFlightBytes}); retry later`;
  }

  private async process(
    signal: Signal,
    encoding: Encoding,
    body: RequestBody,
    access: RequestAccess,
  ): Promise<{ rejected: number; errorMessage: string } | undefined> {
    const { rejected, partial } = await ingestRequest({ signal, encoding, body, ...access }, this.sink, this.config.decode);
    (signal === 'traces' ? this.m.rejectedSpans : this.m.rejectedLogs).inc(rejected.length);
    return partial;
  }

  /** `close`: the body was not read to its end and is not worth draining: close the connection. */
  private sendError(req: IncomingMessage, res: ServerResponse, encoding: Encoding, e: IngestError, close = false): void {
    if (res.headersSent) return;
    const body =
      encoding === 'json'
        ? Buffer.from(encodeStatusJson(e.grpcStatus, e.message, e.retryAfterSeconds))
        : Buffer.from(encodeStatusProtobuf(e.grpcStatus, e.message, e.retryAfterSeconds));
    const headers: Record<string, string | number> = {
      'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
      'content-length': body.length,
    };
    if (e.retryAfterSeconds) headers['retry-after'] = String(e.retryAfterSeconds);
    if (e.code === 'METHOD_NOT_ALLOWED') headers['allow'] = 'POST';
    if (e.code === 'UNAUTHENTICATED') headers['www-authenticate'] = 'Bearer realm="otel-audit"';
    if (close || this.stopping) headers['connection'] = 'close';
    res.writeHead(e.httpStatus, headers);
    res.end(body);
    if (!close && !req.complete) {
      // The rest of the body is drained (Node reads it after the answer), at the least rate too.
      const socket = req.socket;
      const drainMs = Math.max(this.config.clientTimeoutMs, (DRAIN_LIMIT / this.config.minBodyBytesPerSecond) * 1000);
      setTimeout(() => {
        if (!req.complete) socket.destroy();
      }, drainMs).unref();
    }
  }
}

/** A request header's value (the first, if repeated); undefined when absent or empty. */
function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s ? s : undefined;
}
