/**
 * Health, metrics, the bridge's status, flush, read-only SQL, the web UI's configuration and the
 * OpenAPI document.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { tenantScope } from '../../auth/index.ts';
import { OUTPUT_FORMATS, parseFormat } from '../queries.ts';
import { readOnlySql, SqlBusyError, SqlRejectedError } from '../sql/read-only-sql.ts';
import { errors } from '../schemas.ts';
import { ApiError, clickhouseMessage, principalOf, streamReply, type ApiContext } from '../server.ts';

const CONTENT_TYPES = { csv: 'text/csv; charset=utf-8', json: 'application/json', jsonl: 'application/x-ndjson' } as const;

export function registerSystemRoutes(ctx: ApiContext): void {
  const { api, store, status, metrics, config, sessions } = ctx;
  const statusSchema = {
    type: 'object',
    properties: { status: { type: 'string' }, reason: { type: 'string' } },
    required: ['status'],
    additionalProperties: false,
  };

  api.route({
    method: 'GET',
    url: '/healthz',
    config: { access: 'public', what: 'check health' },
    schema: { summary: 'Liveness: 200 while the process serves', tags: ['operations'], response: { 200: statusSchema } },
    handler: async () => ({ status: 'ok' }),
  });

  api.route({
    method: 'GET',
    url: '/readyz',
    config: { access: 'public', what: 'check readiness' },
    schema: {
      summary: 'Readiness: 200 when ClickHouse answers and the bridge takes requests',
      tags: ['operations'],
      response: { 200: statusSchema, 503: { description: 'not ready; reason says why', ...statusSchema } },
    },
    handler: async (_request, reply) => {
      const r = status.ready();
      if (!r.ok) return reply.code(503).send({ status: 'unavailable', reason: r.reason });
      try {
        await store.ping();
      } catch (err) {
        return reply.code(503).send({ status: 'unavailable', reason: `ClickHouse: ${(err as Error).message}` });
      }
      return { status: 'ready' };
    },
  });

  api.route({
    method: 'GET',
    url: '/metrics',
    config: { access: 'reader', what: 'read metrics' },
    schema: {
      summary: 'Prometheus metrics (docs/operations.md, "Metrics")',
      tags: ['operations'],
      response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors() },
    },
    handler: async (_request, reply) => reply.header('content-type', 'text/plain; version=0.0.4').send(metrics.exposition()),
  });

  api.route({
    method: 'GET',
    url: '/api/v1/info',
    config: { access: 'reader', what: 'read the bridge status' },
    schema: {
      summary: "The bridge's status: store, chain heads, pending events, checkpoints",
      tags: ['operations'],
      response: { 200: { type: 'object', additionalProperties: true }, ...errors() },
    },
    handler: async () => status.info(),
  });

  api.route({
    method: 'POST',
    url: '/api/v1/flush',
    config: { access: 'admin', what: 'flush the pipeline' },
    schema: {
      summary: 'Decide every pending event and store it now',
      tags: ['operations'],
      response: {
        200: { type: 'object', properties: { flushed: { type: 'boolean' } }, required: ['flushed'], additionalProperties: false },
        ...errors(),
      },
    },
    handler: async () => {
      await status.flush();
      return { flushed: true };
    },
  });

  api.route({
    method: 'GET',
    url: '/api/v1/ui-config',
    config: { access: 'reader', what: 'read the UI configuration' },
    schema: {
      summary: "What the web UI needs to know: links to traces, and who is signed in",
      tags: ['ui'],
      response: {
        200: {
          type: 'object',
          properties: {
            trace_url_template: { type: ['string', 'null'], description: 'a tracing UI\'s link to a trace, with {trace_id} (serve --trace-url-template)' },
            auth: { type: 'boolean', description: 'whether this bridge needs a credential: a token of its auth file, or a sign-in (GET /api/v1/session says which ways)' },
            principal: { type: 'string', description: "the token's name (local without an auth file)" },
            roles: { type: 'array', items: { type: 'string' } },
            tenants: { anyOf: [{ type: 'array', items: { type: 'string' } }, { const: '*' }] },
          },
          required: ['trace_url_template', 'auth', 'principal', 'roles', 'tenants'],
          additionalProperties: false,
        },
        ...errors(),
      },
    },
    handler: async (request) => {
      const p = principalOf(request);
      return { trace_url_template: config.traceUrlTemplate ?? null, auth: sessions.required, principal: p.name, roles: [...p.roles], tenants: p.tenants };
    },
  });

  api.route({
    method: 'GET',
    url: '/api/openapi.json',
    config: { access: 'reader', what: 'read the API description' },
    schema: {
      summary: 'This document: the OpenAPI 3.1 description of the API',
      tags: ['operations'],
      response: { 200: { type: 'object', additionalProperties: true }, ...errors() },
    },
    handler: async (request) => request.server.swagger(),
  });

  api.route({
    method: 'POST',
    url: '/api/v1/sql',
    config: { access: 'reader', what: 'run SQL' },
    bodyLimit: 1024 * 1024,
    schema: {
      summary: 'One read-only SELECT (docs/operations.md, "Read-only SQL")',
      description:
        'The body is the query as text, or JSON {"query": "...", "format": "jsonl|csv|json"} with content-type application/json. ' +
        'Refused queries get 400 naming what was wrong; more queries than the bridge runs at once get 429 with Retry-After.',
      tags: ['sql'],
      querystring: {
        type: 'object',
        properties: { format: { type: 'string', enum: ['jsonl', 'csv', 'json'], description: 'output: ClickHouse JSONEachRow, CSVWithNames or JSON' } },
        additionalProperties: false,
      },
      body: {
        content: {
          'text/plain': { schema: { type: 'string', description: 'the query' } },
          'application/json': {
            schema: {
              type: 'object',
              properties: { query: { type: 'string' }, format: { type: 'string', enum: ['jsonl', 'csv', 'json'] } },
              required: ['query'],
            },
          },
        },
      },
      response: {
        200: {
          description: 'the rows, in the requested format',
          content: {
            'application/x-ndjson': { schema: { type: 'string' } },
            'text/csv': { schema: { type: 'string' } },
            'application/json': { schema: { type: 'object', additionalProperties: true } },
          },
        },
        ...errors(400, 413, 429),
      },
    },
    handler: (request, reply) => runSql(ctx, request, reply),
  });
}

/** POST /api/v1/sql: one read-only SELECT (api/sql/read-only-sql.ts), in the caller's tenants. */
async function runSql(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const tenants = tenantScope(principalOf(request));
  let query: string;
  let fmt: string | undefined = (request.query as { format?: string }).format;
  const body = request.body as string | { query?: unknown; format?: unknown } | undefined;
  if (body !== null && typeof body === 'object') {
    // JSON (content-type application/json): {"query": "...", "format": "..."}.
    if (typeof body.query !== 'string') throw new ApiError(400, 'missing "query" (a string) in the request body');
    query = body.query;
    if (typeof body.format === 'string') fmt = body.format;
  } else {
    query = body ?? '';
  }
  const format = parseFormat(fmt);
  const sql = readOnlySql(ctx.store, { timeoutSeconds: ctx.config.queryTimeoutSeconds, ...ctx.config.sql });
  // A client that goes away stops its query (a server cancels it; chDB between chunks).
  const gone = new AbortController();
  reply.raw.once('close', () => gone.abort());
  let output: AsyncIterator<Buffer>;
  try {
    output = await sql.query(query, OUTPUT_FORMATS[format], tenants, gone.signal);
  } catch (err) {
    if (err instanceof SqlRejectedError) throw err;
    if (err instanceof SqlBusyError) throw new ApiError(429, err.message, { 'retry-after': String(err.retryAfterSeconds) });
    throw new ApiError(400, `query failed: ${clickhouseMessage(err)}`);
  }
  try {
    return await streamReply(reply, output, CONTENT_TYPES[format]);
  } catch (err) {
    // Before the reply, an engine error is the query's fault (syntax, unknown column, a limit).
    throw new ApiError(400, `query failed: ${clickhouseMessage(err)}`);
  }
}
