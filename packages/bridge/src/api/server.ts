/**
 * The query API (api/README.md): Fastify, with every route behind the access layer (auth/).
 *
 * Why Fastify: JSON-schema validation of every request is built in (a bad parameter is a 400
 * naming it, before a handler runs), the OpenAPI document (`/api/openapi.json`, through
 * @fastify/swagger) is generated from those same schemas so it cannot drift from what is
 * enforced, replies can be streams (exports of any size, verify's progress lines), and it is a
 * mature, small-dependency server.
 *
 * Access is decided in one place: each route declares `config: {access, what}` (a role, or
 * `public`), `route()` refuses a route without it, and one `onRequest` hook, which runs before
 * the body is read, authenticates the caller and checks the role. An unknown path needs a token
 * too (with an auth file), so the API's surface cannot be probed.
 */
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifySchema, type RouteOptions } from 'fastify';
import swagger from '@fastify/swagger';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import type { PrivacyFilter } from '../policy/privacy.ts';
import type { Store } from '../store/store.ts';
import type { AccessRecord } from './access-log.ts';
import { Access, AccessError, ANONYMOUS_PRINCIPAL, requireRole, ROLES, Sessions, type OidcConfig, type Principal, type Role, type SessionOptions } from '../auth/index.ts';
import { QueryInputError } from './queries.ts';
import { SqlRejectedError, type SqlLimits } from './sql/read-only-sql.ts';
import { SHARED_SCHEMAS } from './schemas.ts';

export interface ApiConfig {
  host: string;
  port: number;
  /** Longest a query may run. */
  queryTimeoutSeconds: number;
  /** Limits of the `sql` endpoint's queries (api/sql/); the timeout defaults to queryTimeoutSeconds. */
  sql?: Partial<SqlLimits>;
  /** The built web UI (index.html, assets/); default: `ui/dist` beside this package's `api/`. */
  uiDir?: string;
  /** A tracing UI's link to a trace, with `{trace_id}` (`--trace-url-template`), for the web UI. */
  traceUrlTemplate?: string;
  /** Signed-in browsers' sessions (auth/session.ts): idle and absolute expiry. */
  sessions?: Partial<SessionOptions>;
  /** OpenID Connect sign-in (auth/oidc-config.ts), when configured. */
  oidc?: OidcConfig;
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

/** The role a route needs; `public` for the health checks and the web UI's shell (DESIGN 3.4). */
export type RouteAccess = Role | 'public';

/** Every route's `config`: who may call it. */
export interface RouteConfig {
  access: RouteAccess;
  /** What the role allows, for the 403 message ("may not <what>"). */
  what: string;
  /**
   * `json`: the body is a JSON object (parsed whatever the content type; empty is `{}`),
   * validated against the route's body schema. Otherwise the body stays text.
   */
  body?: 'json';
}

/** A route of the API: Fastify's route options, with the access config required. */
export type ApiRoute = RouteOptions & { config: RouteConfig; schema: FastifySchema & { summary: string } };

/** An error with the HTTP status to answer; its message goes to the client as {"error": ...}. */
export class ApiError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

const principals = new WeakMap<FastifyRequest, Principal>();

/** Who made the request: authenticated, and holding the route's role (set by the access hook). */
export function principalOf(request: FastifyRequest): Principal {
  const p = principals.get(request);
  if (!p) throw new Error('internal: a route ran without the access hook');
  return p;
}

const ACCESS_VALUES: readonly string[] = [...ROLES, 'public'];

/** Fastify's `/api/v1/events/:id` as a RegExp over a concrete path (for 405 answers). */
function pathPattern(url: string): RegExp {
  const re = url
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${re}$`);
}

/** Everything a route module gets: the server to add routes to, and the bridge around it. */
export interface ApiContext {
  api: ApiServer;
  store: Store;
  privacy: PrivacyFilter;
  metrics: Metrics;
  status: BridgeStatus;
  log: Logger;
  access: Access;
  /** Signed-in browsers (auth/session.ts): the access hook asks it who a request is. */
  sessions: Sessions;
  config: ApiConfig;
}

/**
 * The query API: the only way other processes reach the embedded store. JSON errors
 * `{"error": "..."}`; listings stream as JSON lines or CSV. Routes are added with `route()` by
 * the route modules in `api/routes/` before `start()`.
 */
export class ApiServer {
  readonly config: ApiConfig;
  readonly context: ApiContext;
  private readonly routeList: ApiRoute[] = [];
  private app: FastifyInstance | null = null;
  private building: Promise<FastifyInstance> | null = null;
  private readonly log: Logger;
  private readonly sessions: Sessions;

  constructor(config: ApiConfig, store: Store, privacy: PrivacyFilter, metrics: Metrics, status: BridgeStatus, log: Logger, access: Access = Access.open()) {
    this.config = config;
    this.log = log;
    this.sessions = new Sessions(access, config.sessions, { oidc: config.oidc !== undefined });
    this.context = { api: this, store, privacy, metrics, status, log, access, sessions: this.sessions, config };
  }

  /**
   * Adds a route behind the access layer: a request reaches its handler only with a valid token
   * holding `config.access` (every request does without an auth file). Throws for a route
   * without an access config or without a summary (the OpenAPI document needs one).
   */
  route(r: ApiRoute): this {
    const c = r.config as Partial<RouteConfig> | undefined;
    const name = `${String(r.method)} ${r.url}`;
    if (!c || !ACCESS_VALUES.includes(c.access as string) || !c.what) {
      throw new Error(`route ${name} has no access config: give it config: {access: ${ACCESS_VALUES.join('|')}, what: "..."}`);
    }
    if (!r.schema?.summary) throw new Error(`route ${name} has no schema.summary: every route is documented in /api/openapi.json`);
    if (this.app || this.building) throw new Error(`route ${name} added after the API started`);
    this.routeList.push(r);
    return this;
  }

  /** The routes added so far (method, url, access), for tests and the documentation. */
  get routes(): ReadonlyArray<{ method: string; url: string; config: RouteConfig }> {
    return this.routeList.map((r) => ({ method: String(r.method), url: r.url, config: r.config }));
  }

  /** The Fastify instance with every route, ready (built once). */
  build(): Promise<FastifyInstance> {
    this.building ??= this.create().then((app) => (this.app = app));
    return this.building;
  }

  async start(): Promise<AddressInfo> {
    const app = await this.build();
    await app.listen({ port: this.config.port, host: this.config.host });
    return app.server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    const app = this.app;
    if (!app) return;
    this.app = null;
    await app.close();
  }

  private async create(): Promise<FastifyInstance> {
    const app = Fastify({
      logger: false,
      exposeHeadRoutes: false,
      // Correlation ids are free text of up to a few hundred characters.
      routerOptions: { maxParamLength: 2048 },
      bodyLimit: 1024 * 1024,
      forceCloseConnections: 'idle',
      // Unknown query parameters are refused (400), not dropped: a misspelt filter would
      // otherwise widen a listing silently.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false, allowUnionTypes: true } },
    });
    // Replies are plain JSON.stringify: response schemas document the API (and the tests
    // check real replies against them); they never reshape data on the way out.
    app.setSerializerCompiler(() => (data) => JSON.stringify(data));
    for (const s of SHARED_SCHEMAS) app.addSchema(s);
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'otel-audit query API',
          version: '1',
          description:
            'The bridge\'s query API (docs/api.md). With an auth file every operation but /healthz, /readyz and the web UI\'s shell needs ' +
            '`Authorization: Bearer <token>` holding the role named by `x-otel-audit-role` (or a signed-in browser\'s session cookie, see /api/v1/session, ' +
            'with `X-CSRF-Token` on every method but GET); errors are `{"error": "..."}`.',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      },
      refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
      transform: ({ schema, url, route }) => {
        const cfg = route.config as RouteConfig;
        const out: Record<string, unknown> = { ...(schema as Record<string, unknown>) };
        out.security = cfg.access === 'public' ? [] : [{ bearer: [] }];
        out['x-otel-audit-role'] = cfg.access;
        return { schema: out as FastifySchema, url };
      },
    });
    // A JSON body is parsed; any other arrives as text (the sql route takes a query as text).
    // Routes that take JSON whatever the content type parse text in preValidation (below).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
      const text = String(body);
      if (!/^application\/([\w.-]+\+)?json\b/i.test(String(req.headers['content-type'] ?? ''))) return done(null, text);
      if (!text.trim()) return done(null, undefined);
      try {
        done(null, parseJson(text));
      } catch {
        done(new ApiError(400, 'request body is not valid JSON'), undefined);
      }
    });

    // The one place access is decided: before the body is read, for every request.
    app.addHook('onRequest', async (request) => {
      if (request.is404) {
        // An unknown path says nothing to a caller without a token, except a browser asking for
        // a page of the web UI (its shell holds no data).
        if (!isUiPage(request)) this.sessions.authenticate(request);
        return;
      }
      const cfg = request.routeOptions.config as Partial<RouteConfig>;
      if (!cfg || !ACCESS_VALUES.includes(cfg.access as string)) throw new ApiError(500, 'internal: route without an access config');
      if (cfg.access === 'public') {
        principals.set(request, ANONYMOUS_PRINCIPAL);
        return;
      }
      // A bearer token, or a signed-in browser's session cookie (with X-CSRF-Token but for GET).
      const { principal } = this.sessions.authenticate(request);
      requireRole(principal, cfg.access as Role, cfg.what as string);
      principals.set(request, principal);
    });
    app.addHook('preValidation', async (request) => {
      const cfg = request.routeOptions.config as Partial<RouteConfig>;
      if (cfg?.body !== 'json') return;
      let v: unknown = request.body;
      if (typeof v === 'string') {
        const text = v.trim();
        try {
          v = text ? parseJson(text) : undefined;
        } catch {
          throw new ApiError(400, 'request body is not valid JSON: expected a JSON object');
        }
      }
      if (v === undefined) v = {};
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ApiError(400, 'request body must be a JSON object');
      request.body = v;
    });
    app.addHook('onRoute', (r) => {
      const cfg = r.config as Partial<RouteConfig> | undefined;
      if (!cfg || !ACCESS_VALUES.includes(cfg.access as string)) throw new Error(`route ${String(r.method)} ${r.url} has no access config`);
    });

    app.setErrorHandler((err: FastifyError, request, reply) => this.answerError(err, request, reply));
    const patterns = this.routeList.map((r) => ({ method: String(r.method), re: pathPattern(r.url) }));
    app.setNotFoundHandler(async (request, reply) => {
      const ui = this.uiFallback;
      if (ui && isUiPage(request)) return ui(request, reply);
      const path = request.url.split('?')[0];
      const known = patterns.filter((p) => p.re.test(path));
      if (known.length) throw new ApiError(405, `method ${request.method} not allowed on ${path}`, { allow: [...new Set(known.map((p) => p.method))].join(', ') });
      throw new ApiError(404, `no such endpoint: ${path}`);
    });
    for (const r of this.routeList) app.route(r);
    await app.ready();
    return app;
  }

  /** Serves the web UI's index.html for a page path no route has (set by api/routes/ui.ts). */
  uiFallback: ((request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) | null = null;

  private answerError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    let status: number;
    let message: string;
    if (err instanceof ApiError) {
      status = err.status;
      message = err.message;
      for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
    } else if (err instanceof AccessError) {
      status = err.httpStatus;
      message = err.message;
      if (err.code === 'UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer realm="otel-audit"');
    } else if (err instanceof QueryInputError || err instanceof SqlRejectedError) {
      status = 400;
      message = err.message;
    } else if (err.validation) {
      status = 400;
      message = validationMessage(err);
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413;
      message = `request body over ${formatBytes(request.routeOptions.bodyLimit ?? 1024 * 1024)}`;
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      // Fastify's own refusals (a malformed URL, an unsupported media type): their message.
      status = err.statusCode;
      message = err.message;
    } else {
      status = 500;
      message = `query failed: ${clickhouseMessage(err)}`;
      this.log.error('query API error', { path: request.url.split('?')[0], error: (err as Error).message });
    }
    if (reply.raw.headersSent) {
      reply.raw.destroy(err);
      return;
    }
    void reply.code(status).header('content-type', 'application/json').send({ error: message });
  }
}

/** JSON.parse without `__proto__` and `constructor` keys (no prototype games with handlers' objects). */
function parseJson(text: string): unknown {
  return JSON.parse(text, (k, v) => (k === '__proto__' || k === 'constructor' ? undefined : v));
}

/** A browser's request for a page of the web UI: a GET outside the API that accepts HTML. */
export function isUiPage(request: FastifyRequest): boolean {
  if (request.method !== 'GET') return false;
  const path = request.url.split('?')[0];
  if (path.startsWith('/api/') || path === '/api' || path === '/metrics' || path === '/healthz' || path === '/readyz') return false;
  return /\btext\/html\b/.test(String(request.headers.accept ?? ''));
}

/** "querystring parameter limit: must be <= 1000" from Fastify's validation error. */
function validationMessage(err: FastifyError): string {
  const places: Record<string, string> = { querystring: 'query parameter', params: 'path parameter', body: 'body field', headers: 'header' };
  const where = places[err.validationContext ?? ''] ?? err.validationContext ?? 'input';
  const v = err.validation?.[0] as { instancePath?: string; message?: string; params?: Record<string, unknown>; keyword?: string } | undefined;
  if (!v) return err.message;
  const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  if (v.keyword === 'additionalProperties') return `unknown ${where} "${String(v.params?.additionalProperty)}"`;
  if (v.keyword === 'required') return `missing ${where} "${[path, String(v.params?.missingProperty)].filter(Boolean).join('.')}"`;
  if (v.keyword === 'enum') return `invalid ${where} "${path}": must be one of ${(v.params?.allowedValues as unknown[]).join(', ')}`;
  return `invalid ${where} "${path}": ${v.message}`;
}

function formatBytes(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
}

/**
 * Streams `chunks` as the reply. The first chunk is awaited before the status is sent, so that
 * an error the engine reports at once (a syntax error, an unknown column, a limit) is still
 * answered with a status; a later error cuts the connection. A client that goes away stops the
 * iteration (and the query behind it).
 */
export async function streamReply(reply: FastifyReply, chunks: AsyncIterator<Buffer>, contentType: string): Promise<FastifyReply> {
  let first: IteratorResult<Buffer>;
  try {
    first = await chunks.next();
  } catch (err) {
    await chunks.return?.();
    throw err;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      let r = first;
      while (!r.done) {
        yield r.value;
        r = await chunks.next();
      }
    } finally {
      await chunks.return?.();
    }
  }
  return reply.header('content-type', contentType).send(Readable.from(rest(), { objectMode: false }));
}

/** ClickHouse errors carry a long stack trace; keep the first line the user can act on. */
export function clickhouseMessage(err: unknown): string {
  const msg = (err as Error).message ?? String(err);
  return msg.split('\n')[0].replace(/\s*\(version [^)]*\)\s*$/, '').slice(0, 500);
}
