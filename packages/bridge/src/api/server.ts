import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import type { PrivacyFilter } from '../pipeline/privacy.ts';
import type { Store } from '../store/store.ts';
import type { AccessRecord } from './access-log.ts';
import { Access, AccessError, ANONYMOUS_PRINCIPAL, requireRole, tenantScope, type Principal, type Role } from '../auth/index.ts';
import { OUTPUT_FORMATS, parseFormat, QueryInputError, searchQuery, type OutputFormat, type SearchFilters } from './queries.ts';
import { readOnlySql, SqlBusyError, SqlRejectedError, type SqlLimits } from './sql/read-only-sql.ts';
import { sendChunks } from './sql/respond.ts';
import { knownTenants } from '../policy/tenants.ts';

export interface ApiConfig {
  host: string;
  port: number;
  /** Longest a query may run. */
  queryTimeoutSeconds: number;
  /** Limits of the `sql` endpoint's queries (api/sql/); the timeout defaults to queryTimeoutSeconds. */
  sql?: Partial<SqlLimits>;
}

export const DEFAULT_API_CONFIG: ApiConfig = { host: '127.0.0.1', port: 4319, queryTimeoutSeconds: 60 };

/** What the API needs from the running bridge besides the store. */
export interface BridgeStatus {
  ready(): { ok: boolean; reason: string };
  /** Decides pending events and waits until they are stored (POST /api/v1/flush). */
  flush(): Promise<void>;
  info(): Record<string, unknown>;
  /** Stores an access event (a read that is part of the trail); resolves once it is durable. */
  recordAccess(r: AccessRecord): Promise<void>;
}

/** `principal`: who asked, authenticated and holding the route's role. */
export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, match: RegExpExecArray, principal: Principal) => Promise<void>;

/** The role a route needs; `public` for the health checks only (DESIGN 3.4). */
export type RouteAccess = Role | 'public';

interface Route {
  method: string;
  pattern: RegExp;
  access: RouteAccess;
  /** What the role allows, for the 403 message ("may not <what>"). */
  what: string;
  handler: Handler;
}

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
  private readonly routes: Route[] = [];
  private readonly access: Access;
  private readonly store: Store;
  private readonly privacy: PrivacyFilter;
  private readonly metrics: Metrics;
  private readonly status: BridgeStatus;
  private readonly log: Logger;

  constructor(config: ApiConfig, store: Store, privacy: PrivacyFilter, metrics: Metrics, status: BridgeStatus, log: Logger, access: Access = Access.open()) {
    this.config = config;
    this.store = store;
    this.privacy = privacy;
    this.metrics = metrics;
    this.status = status;
    this.log = log;
    this.access = access;
    this.route('GET', /^\/healthz$/, 'public', 'check health', async (_q, res) => sendJson(res, 200, { status: 'ok' }));
    this.route('GET', /^\/readyz$/, 'public', 'check readiness', async (_q, res) => this.readyz(res));
    this.route('GET', /^\/metrics$/, 'reader', 'read metrics', async (_q, res) => this.metricsText(res));
    this.route('GET', /^\/api\/v1\/info$/, 'reader', 'read the bridge status', async (_q, res) => sendJson(res, 200, this.status.info()));
    this.route('GET', /^\/api\/v1\/timeline\/([^/]+)$/, 'reader', 'read events', async (_q, res, url, m, p) =>
      this.list(res, url, { correlationId: decodeURIComponent(m[1]) }, p),
    );
    this.route('GET', /^\/api\/v1\/traces\/([^/]+)$/, 'reader', 'read events', async (_q, res, url, m, p) =>
      this.list(res, url, { traceId: decodeURIComponent(m[1]) }, p),
    );
    this.route('GET', /^\/api\/v1\/events$/, 'reader', 'read events', async (_q, res, url, _m, p) => this.list(res, url, {}, p));
    this.route('POST', /^\/api\/v1\/sql$/, 'reader', 'run SQL', async (req, res, url, _m, p) => this.sql(req, res, url, tenantScope(p)));
    this.route('POST', /^\/api\/v1\/flush$/, 'admin', 'flush the pipeline', async (_q, res) => {
      await this.status.flush();
      sendJson(res, 200, { flushed: true });
    });
  }

  /**
   * Adds a route behind the access layer: a request reaches `handler` only with a valid token
   * holding `access` (every request does without an auth file). Stages with their own
   * endpoints (verify, proofs, content) register here.
   */
  route(method: string, pattern: RegExp, access: RouteAccess, what: string, handler: Handler): this {
    this.routes.push({ method, pattern, access, what, handler });
    return this;
  }

  async start(): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      this.dispatch(req, res).catch((err) => {
        const e =
          err instanceof ApiError
            ? err
            : err instanceof AccessError
              ? new ApiError(err.httpStatus, err.message)
              : err instanceof QueryInputError || err instanceof SqlRejectedError
                ? new ApiError(400, err.message)
                : null;
        if (err instanceof AccessError && err.code === 'UNAUTHENTICATED' && !res.headersSent) res.setHeader('www-authenticate', 'Bearer realm="otel-audit"');
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
    for (const route of this.routes) {
      const m = route.pattern.exec(url.pathname);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== req.method) continue;
      const principal = this.authorize(req, route);
      await route.handler(req, res, url, m, principal);
      return;
    }
    // An unknown path says nothing to a caller without a token (no probing of the API's surface).
    if (this.access.enabled) this.access.authenticate(req.headers.authorization);
    throw new ApiError(pathMatched ? 405 : 404, pathMatched ? `method ${req.method} not allowed on ${url.pathname}` : `no such endpoint: ${url.pathname}`);
  }

  /** The caller, when it may use the route; else throws AccessError (401 or 403). */
  private authorize(req: IncomingMessage, route: Route): Principal {
    if (route.access === 'public') return ANONYMOUS_PRINCIPAL;
    const principal = this.access.authenticate(req.headers.authorization);
    requireRole(principal, route.access, route.what);
    return principal;
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
  private async list(res: ServerResponse, url: URL, base: SearchFilters, principal: Principal): Promise<void> {
    const q = url.searchParams;
    const scope = tenantScope(principal);
    const asked = q.getAll('tenant');
    for (const t of asked) {
      if (scope && !scope.includes(t)) throw new AccessError('PERMISSION_DENIED', `token "${principal.name}" may not read tenant "${t.slice(0, 64)}"`);
    }
    // Pseudonyms are per tenant: look for the clear value's pseudonym under every tenant the
    // caller may read (or only under ?tenant=), and under the pre-tenant key (policy/README.md).
    const tenants = asked.length ? asked : (scope ?? (await knownTenants(this.store)));
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
      tenants: asked.length ? asked : (scope ?? undefined),
      limit: q.get('limit') ?? (base.correlationId || base.traceId ? 100_000 : 1000),
    };
    const format = parseFormat(q.get('format'));
    const { sql, params } = searchQuery(this.store.database, filters);
    if (q.get('export') === '1') {
      // An export is part of the trail, recorded durably before any row is sent: one access
      // event per tenant it may read, naming the filter.
      const target = `export:${[...q].filter(([k]) => k !== 'export' && k !== 'format').map(([k, v]) => `${k}=${v}`).join('&') || 'all'}`;
      try {
        for (const tenant of tenants) await this.status.recordAccess({ principal: principal.name, tenant, action: 'export', target: target.slice(0, 1000) });
      } catch (err) {
        throw new ApiError(503, `cannot record this export in the audit trail, so it is not sent: ${(err as Error).message}`);
      }
    }
    await this.streamQuery(res, sql, params, format);
  }

  /**
   * POST /api/v1/sql: one read-only SELECT (api/sql/read-only-sql.ts). `tenants`: the tenants
   * the caller may read (null: every tenant), which the engine applies to every table it reads.
   */
  private async sql(req: IncomingMessage, res: ServerResponse, url: URL, tenants: readonly string[] | null): Promise<void> {
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
    const format = parseFormat(fmt);
    const sql = readOnlySql(this.store, { timeoutSeconds: this.config.queryTimeoutSeconds, ...this.config.sql });
    // A client that goes away stops its query (a server cancels it; chDB between chunks).
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    let output: AsyncIterator<Buffer>;
    try {
      output = await sql.query(query, OUTPUT_FORMATS[format], tenants, gone.signal);
    } catch (err) {
      if (err instanceof SqlRejectedError) throw err;
      if (err instanceof SqlBusyError) {
        res.setHeader('retry-after', String(err.retryAfterSeconds));
        throw new ApiError(429, err.message);
      }
      throw new ApiError(400, `query failed: ${clickhouseMessage(err)}`);
    }
    await this.streamQuery(res, output, {}, format);
  }

  /** Streams a query's output: `source` is SQL for the store's own connection, or a running query's output. */
  private async streamQuery(
    res: ServerResponse,
    source: string | AsyncIterator<Buffer>,
    params: Record<string, unknown>,
    format: OutputFormat,
  ): Promise<void> {
    const stream =
      typeof source === 'string'
        ? this.store.stream(source, OUTPUT_FORMATS[format], params, { max_execution_time: this.config.queryTimeoutSeconds })
        : source;
    try {
      await sendChunks(res, stream, format);
    } catch (err) {
      // Before the headers, an engine error is the query's fault (syntax, unknown column, a limit).
      if (res.headersSent || err instanceof ApiError) throw err;
      throw new ApiError(400, `query failed: ${clickhouseMessage(err)}`);
    }
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
