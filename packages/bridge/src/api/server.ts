import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import type { PrivacyFilter } from '../pipeline/privacy.ts';
import type { Store } from '../store/store.ts';
import { OUTPUT_FORMATS, parseFormat, QueryInputError, searchQuery, type OutputFormat, type SearchFilters } from './queries.ts';
import { checkReadOnlySql, SqlRejectedError } from './sql-guard.ts';
import { knownTenants } from '../policy/tenants.ts';

export interface ApiConfig {
  host: string;
  port: number;
  /** Longest a query may run. */
  queryTimeoutSeconds: number;
}

export const DEFAULT_API_CONFIG: ApiConfig = { host: '127.0.0.1', port: 4319, queryTimeoutSeconds: 60 };

/** What the API needs from the running bridge besides the store. */
export interface BridgeStatus {
  ready(): { ok: boolean; reason: string };
  /** Decides pending events and waits until they are stored (POST /api/v1/flush). */
  flush(): Promise<void>;
  info(): Record<string, unknown>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, match: RegExpExecArray) => Promise<void>;

/** An error with the HTTP status to answer; its message goes to the client as {"error": ...}. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * The query API: the only way other processes reach the embedded store. JSON errors
 * `{"error": "..."}`; listings stream as JSON lines or CSV.
 */
export class ApiServer {
  readonly config: ApiConfig;
  private server: Server | null = null;
  private readonly routes: Array<[method: string, pattern: RegExp, handler: Handler]>;
  private readonly store: Store;
  private readonly privacy: PrivacyFilter;
  private readonly metrics: Metrics;
  private readonly status: BridgeStatus;
  private readonly log: Logger;

  constructor(config: ApiConfig, store: Store, privacy: PrivacyFilter, metrics: Metrics, status: BridgeStatus, log: Logger) {
    this.config = config;
    this.store = store;
    this.privacy = privacy;
    this.metrics = metrics;
    this.status = status;
    this.log = log;
    this.routes = [
      ['GET', /^\/healthz$/, async (_q, res) => sendJson(res, 200, { status: 'ok' })],
      ['GET', /^\/readyz$/, async (_q, res) => this.readyz(res)],
      ['GET', /^\/metrics$/, async (_q, res) => this.metricsText(res)],
      ['GET', /^\/api\/v1\/info$/, async (_q, res) => sendJson(res, 200, this.status.info())],
      ['GET', /^\/api\/v1\/timeline\/([^/]+)$/, async (_q, res, url, m) => this.list(res, url, { correlationId: decodeURIComponent(m[1]) })],
      ['GET', /^\/api\/v1\/traces\/([^/]+)$/, async (_q, res, url, m) => this.list(res, url, { traceId: decodeURIComponent(m[1]) })],
      ['GET', /^\/api\/v1\/events$/, async (_q, res, url) => this.list(res, url, {})],
      ['POST', /^\/api\/v1\/sql$/, async (req, res, url) => this.sql(req, res, url)],
      ['POST', /^\/api\/v1\/flush$/, async (_q, res) => {
        await this.status.flush();
        sendJson(res, 200, { flushed: true });
      }],
    ];
  }

  /** Adds a route; stages with their own endpoints (verify, proofs, UI) register here. */
  route(method: string, pattern: RegExp, handler: Handler): this {
    this.routes.push([method, pattern, handler]);
    return this;
  }

  async start(): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      this.dispatch(req, res).catch((err) => {
        const e = err instanceof ApiError ? err : err instanceof QueryInputError || err instanceof SqlRejectedError ? new ApiError(400, err.message) : null;
        if (!e) this.log.error('query API error', { path: (req.url ?? '').split('?')[0], error: (err as Error).message });
        if (res.headersSent) {
          res.destroy(err as Error);
          return;
        }
        sendJson(res, e?.status ?? 500, { error: e?.message ?? `query failed: ${clickhouseMessage(err)}` });
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let pathMatched = false;
    for (const [method, pattern, handler] of this.routes) {
      const m = pattern.exec(url.pathname);
      if (!m) continue;
      pathMatched = true;
      if (method !== req.method) continue;
      await handler(req, res, url, m);
      return;
    }
    throw new ApiError(pathMatched ? 405 : 404, pathMatched ? `method ${req.method} not allowed on ${url.pathname}` : `no such endpoint: ${url.pathname}`);
  }

  private async readyz(res: ServerResponse): Promise<void> {
    const r = this.status.ready();
    if (!r.ok) return sendJson(res, 503, { status: 'unavailable', reason: r.reason });
    try {
      await this.store.ping();
    } catch (err) {
      return sendJson(res, 503, { status: 'unavailable', reason: `ClickHouse: ${(err as Error).message}` });
    }
    sendJson(res, 200, { status: 'ready' });
  }

  private async metricsText(res: ServerResponse): Promise<void> {
    const body = this.metrics.exposition();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(body);
  }

  /** Timeline, trace and search: the same filters, streamed in the requested format. */
  private async list(res: ServerResponse, url: URL, base: SearchFilters): Promise<void> {
    const q = url.searchParams;
    // Pseudonyms are per tenant: look for the clear value's pseudonym under every known tenant
    // (or only under ?tenant=), and under the pre-tenant key (policy/README.md).
    const tenants = q.get('tenant') ? [q.get('tenant')!] : await knownTenants(this.store);
    const identities = (v: string[]) => v.flatMap((x) => this.privacy.searchForms(x, tenants));
    const filters: SearchFilters = {
      ...base,
      actor: q.getAll('actor').length ? identities(q.getAll('actor')) : undefined,
      reviewer: q.getAll('reviewer').length ? identities(q.getAll('reviewer')) : undefined,
      type: q.get('type') ?? undefined,
      tool: q.get('tool') ?? undefined,
      from: q.get('from') ?? undefined,
      to: q.get('to') ?? undefined,
      correlationId: base.correlationId ?? q.get('correlation_id') ?? undefined,
      limit: q.get('limit') ?? (base.correlationId || base.traceId ? 100_000 : 1000),
    };
    const format = parseFormat(q.get('format'));
    const { sql, params } = searchQuery(this.store.database, filters);
    await this.streamQuery(res, sql, params, format);
  }

  private async sql(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > 1024 * 1024) throw new ApiError(413, 'query text over 1 MiB');
      chunks.push(c);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let query: string;
    let fmt: string | null = url.searchParams.get('format');
    if ((req.headers['content-type'] ?? '').startsWith('application/json')) {
      let body: { query?: unknown; format?: unknown };
      try {
        body = JSON.parse(text);
      } catch {
        throw new ApiError(400, 'request body is not valid JSON: expected {"query": "...", "format": "jsonl|csv|json"}');
      }
      if (typeof body.query !== 'string') throw new ApiError(400, 'missing "query" (a string) in the request body');
      query = body.query;
      if (typeof body.format === 'string') fmt = body.format;
    } else {
      query = text;
    }
    const checked = checkReadOnlySql(query);
    await this.streamQuery(res, checked, {}, parseFormat(fmt), this.store.mode === 'server' ? { readonly: '2' } : {});
  }

  private async streamQuery(
    res: ServerResponse,
    sql: string,
    params: Record<string, unknown>,
    format: OutputFormat,
    settings: Record<string, string> = {},
  ): Promise<void> {
    const stream = this.store.stream(sql, OUTPUT_FORMATS[format], params, {
      max_execution_time: this.config.queryTimeoutSeconds,
      ...settings,
    });
    // Pull the first chunk before sending headers, so a query error still gets a 400 status.
    let first: IteratorResult<Buffer>;
    try {
      first = await stream.next();
    } catch (err) {
      throw new ApiError(400, `query failed: ${clickhouseMessage(err)}`);
    }
    res.writeHead(200, {
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : format === 'json' ? 'application/json' : 'application/x-ndjson',
    });
    if (!first.done) res.write(first.value);
    for await (const chunk of stream) {
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const out = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
  res.end(out);
}

/** ClickHouse errors carry a long stack trace; keep the first line the user can act on. */
function clickhouseMessage(err: unknown): string {
  const msg = (err as Error).message ?? String(err);
  return msg.split('\n')[0].replace(/\s*\(version [^)]*\)\s*$/, '').slice(0, 500);
}
