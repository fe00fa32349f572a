/**
 * Events, timelines, traces and cases (docs/api.md):
 *
 *   GET /api/v1/events                 filters; jsonl (default) and csv stream, json is a page
 *                                      {events, next_cursor}; export=1 records an access event
 *   GET /api/v1/timeline/:correlationId, /api/v1/traces/:traceId   the same, for one case / trace
 *   GET /api/v1/events/:eventId        one event, its integrity, and its links
 *   GET /api/v1/cases/:correlationId   a case's summary and integrity
 *   GET /api/v1/cases/:correlationId/events   its events, paged, each with its integrity
 *
 * A reader limited to tenants reads only their rows: every statement says `tenant IN (...)`,
 * and the read-only session it runs in filters the table again (store/reads.ts). Another
 * tenant's event or case is "not found". The statements are the store's (store/event-queries.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessError, tenantScope, type Principal } from '../../auth/index.ts';
import { IntegrityTally, type IntegrityChecker } from '../../chain/integrity.ts';
import { knownTenants } from '../../policy/tenants.ts';
import {
  approvalsOf,
  CASE_ORDER,
  caseEvents,
  caseEventsPage,
  caseSummary,
  decodeCursor,
  encodeCursor,
  EVENT_ORDER,
  linkedEvents,
  searchEvents,
  storedEvent,
  streamEventRows,
  streamEvents,
} from '../../store/index.ts';
import { csvChunks } from '../csv.ts';
import { eventFilters, QueryInputError, type SearchFilters } from '../queries.ts';
import { errors, FILTER_PROPERTIES, flag, HIDDEN_COLUMNS, isOn, LIST_QUERY_PROPERTIES, LIST_RESPONSE, ref } from '../schemas.ts';
import { ApiError, principalOf, streamReply, type ApiContext } from '../server.ts';

export interface EventRouteDeps {
  integrity: IntegrityChecker;
  /** The instance's chain id (an event stored twice, in two chains, is shown from its own). */
  chainId: string;
}

type Row = Record<string, unknown>;

interface ListQuery {
  format?: 'jsonl' | 'csv' | 'json';
  limit?: number;
  cursor?: string;
  integrity?: string;
  excel?: string;
  export?: string;
  correlation_id?: string;
  actor?: string | string[];
  reviewer?: string | string[];
  type?: string;
  tool?: string;
  target?: string;
  status?: string;
  risk?: string;
  from?: string;
  to?: string;
  q?: string;
  tenant?: string | string[];
}

const many = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The most events of one JSON page. */
export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

/** An event as the API shows it: without the sealed ciphertext, saying whether there is some. */
export function publicEvent(row: Row): Row {
  if (!('content_sealed' in row)) return row;
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) if (!(HIDDEN_COLUMNS as readonly string[]).includes(k)) out[k] = v;
  out.has_sealed_content = row.content_sealed !== '' && row.content_sealed !== null && row.content_sealed !== undefined;
  return out;
}

const CASE_PARAMS = {
  type: 'object',
  properties: { correlationId: { type: 'string', minLength: 1, maxLength: 2048 } },
  required: ['correlationId'],
} as const;

export function registerEventRoutes(ctx: ApiContext, deps: EventRouteDeps): void {
  const { api, store, privacy, status } = ctx;
  const timeout = ctx.config.queryTimeoutSeconds;

  /** The tenants of ?tenant= (each must be the caller's), or the caller's scope (null: every tenant). */
  function askedTenants(principal: Principal, asked: string[]): readonly string[] | null {
    const scope = tenantScope(principal);
    for (const t of asked) {
      if (scope && !scope.includes(t)) throw new AccessError('PERMISSION_DENIED', `token "${principal.name}" may not read tenant "${t.slice(0, 64)}"`);
    }
    return asked.length ? asked : scope;
  }

  /** Timeline, trace and search: the same filters, streamed or paged in the requested format. */
  async function list(request: FastifyRequest, reply: FastifyReply, base: SearchFilters, defaultLimit: number): Promise<unknown> {
    const principal = principalOf(request);
    const q = request.query as ListQuery;
    const tenants = askedTenants(principal, many(q.tenant));
    // Pseudonyms are per tenant: look for the clear value's pseudonym under every tenant the
    // caller may read (or only under ?tenant=), and under the pre-tenant key (policy/README.md).
    const actor = many(q.actor);
    const reviewer = many(q.reviewer);
    const searchTenants = actor.length || reviewer.length ? (tenants ?? (await knownTenants(store))) : [];
    const identities = (v: string[]) => v.flatMap((x) => privacy.searchForms(x, searchTenants));
    const filters: SearchFilters = {
      ...base,
      correlationId: base.correlationId ?? q.correlation_id,
      actor: actor.length ? identities(actor) : undefined,
      reviewer: reviewer.length ? identities(reviewer) : undefined,
      type: q.type,
      tool: q.tool,
      target: q.target,
      status: q.status,
      risk: q.risk,
      from: q.from,
      to: q.to,
      q: q.q,
      tenants: tenants ?? undefined,
    };
    const scope = tenantScope(principal);
    const format = q.format ?? 'jsonl';
    const exporting = isOn(q.export);
    const withIntegrity = isOn(q.integrity);
    const excel = isOn(q.excel);
    if (format === 'json') {
      if (exporting) throw new QueryInputError('export=1 streams csv or jsonl: a json reply is one page');
      const limit = q.limit ?? DEFAULT_PAGE;
      if (limit > MAX_PAGE) throw new QueryInputError(`invalid query parameter "limit": at most ${MAX_PAGE} events per page with format=json (export with format=csv or jsonl)`);
      const after = q.cursor ? decodeCursor(q.cursor, EVENT_ORDER) : undefined;
      const rows = await searchEvents(store, eventFilters(filters), { allColumns: withIntegrity, after, limit: limit + 1 }, { tenants: scope, timeoutSeconds: timeout });
      return page(rows, limit, EVENT_ORDER, withIntegrity);
    }
    if (q.cursor !== undefined || withIntegrity) throw new QueryInputError('cursor and integrity are for format=json');
    if (excel && format !== 'csv') throw new QueryInputError('excel=1 is for format=csv');
    // An export streams the whole filtered range (limit only when asked).
    const limit = q.limit ?? (exporting ? undefined : defaultLimit);
    const checked = eventFilters(filters);
    if (exporting) {
      // An export is part of the trail, recorded durably before any row is sent: one access
      // event per tenant it may read, naming the filter.
      const raw = new URLSearchParams(request.url.split('?')[1] ?? '');
      const target = `export:${[...raw].filter(([k]) => k !== 'export' && k !== 'format' && k !== 'excel').map(([k, v]) => `${k}=${v}`).join('&') || 'all'}`;
      try {
        for (const tenant of tenants ?? (await knownTenants(store))) await status.recordAccess({ principal: principal.name, tenant, action: 'export', target: target.slice(0, 1000) });
      } catch (err) {
        throw new ApiError(503, `cannot record this export in the audit trail, so it is not sent: ${(err as Error).message}`);
      }
    }
    // Exports run as long as the client reads; listings within the query timeout.
    const o = { tenants: scope, timeoutSeconds: exporting ? 0 : timeout, signal: abortOnClose(reply) };
    if (format === 'jsonl') return streamReply(reply, streamEvents(store, checked, { limit }, 'JSONEachRow', o), 'application/x-ndjson');
    const name = base.correlationId ?? base.traceId ?? 'events';
    reply.header('content-disposition', `attachment; filename="${name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || 'events'}.csv"`);
    return streamReply(reply, csvChunks(streamEventRows(store, checked, { limit }, o), excel), 'text/csv; charset=utf-8');
  }

  /** A JSON page of `limit` rows out of `limit + 1` read, and the cursor after it. */
  async function page(rows: Row[], limit: number, order: readonly string[], withIntegrity: boolean): Promise<{ events: Row[]; next_cursor: string | null }> {
    const shown = rows.slice(0, limit);
    const next = rows.length > limit ? encodeCursor(shown[shown.length - 1], order) : null;
    if (!withIntegrity) return { events: shown.map(publicEvent), next_cursor: next };
    const integrity = await deps.integrity.check(shown);
    return { events: shown.map((r, i) => ({ ...publicEvent(r), integrity: integrity[i] })), next_cursor: next };
  }

  const listQuery = () => ({
    type: 'object',
    properties: { ...LIST_QUERY_PROPERTIES, export: flag('csv/jsonl: the whole filtered range, recorded as an access event per tenant read'), ...FILTER_PROPERTIES },
    additionalProperties: false,
  });

  api.route({
    method: 'GET',
    url: '/api/v1/events',
    config: { access: 'reader', what: 'read events' },
    schema: {
      summary: 'Search events; export them',
      description:
        'jsonl and csv stream (limit default 1000; with export=1 the whole filtered range, recorded in the trail as an access event per tenant read). ' +
        'json is one page in the stable order (event_time, chain_id, seq): {events, next_cursor}, limit at most 1000 (default 100).',
      tags: ['events'],
      querystring: listQuery(),
      response: { 200: LIST_RESPONSE, ...errors(400, 503) },
    },
    handler: (request, reply) => list(request, reply, {}, 1000),
  });

  api.route({
    method: 'GET',
    url: '/api/v1/timeline/:correlationId',
    config: { access: 'reader', what: 'read events' },
    schema: {
      summary: 'Every event of one case, in time order, across traces',
      tags: ['events'],
      params: CASE_PARAMS,
      querystring: listQuery(),
      response: { 200: LIST_RESPONSE, ...errors(400) },
    },
    handler: (request, reply) => list(request, reply, { correlationId: (request.params as { correlationId: string }).correlationId }, 100_000),
  });

  api.route({
    method: 'GET',
    url: '/api/v1/traces/:traceId',
    config: { access: 'reader', what: 'read events' },
    schema: {
      summary: 'The audit events of one trace',
      tags: ['events'],
      params: { type: 'object', properties: { traceId: { type: 'string', maxLength: 256, description: '32 hex characters' } }, required: ['traceId'] },
      querystring: listQuery(),
      response: { 200: LIST_RESPONSE, ...errors(400) },
    },
    handler: (request, reply) => list(request, reply, { traceId: (request.params as { traceId: string }).traceId }, 100_000),
  });

  api.route({
    method: 'GET',
    url: '/api/v1/events/:eventId',
    config: { access: 'reader', what: 'read events' },
    schema: {
      summary: 'One event, whole: every column, its integrity and its links',
      description:
        'links.linked: the events its span links point at (for an approval, the proposal it decides); links.unresolved: links to spans ' +
        'with no stored event (in the caller\'s tenants); links.approvals: the approval events whose links point at this event.',
      tags: ['events'],
      params: { type: 'object', properties: { eventId: { type: 'string', maxLength: 256, description: '32 hex characters' } }, required: ['eventId'] },
      response: {
        200: {
          type: 'object',
          properties: {
            event: ref('Event'),
            integrity: ref('Integrity'),
            links: {
              type: 'object',
              properties: {
                linked: { type: 'array', items: ref('EventRef') },
                unresolved: {
                  type: 'array',
                  items: { type: 'object', properties: { trace_id: { type: 'string' }, span_id: { type: 'string' } }, required: ['trace_id', 'span_id'], additionalProperties: false },
                },
                approvals: { type: 'array', items: ref('EventRef') },
              },
              required: ['linked', 'unresolved', 'approvals'],
              additionalProperties: false,
            },
          },
          required: ['event', 'integrity', 'links'],
          additionalProperties: false,
        },
        ...errors(400, 404),
      },
    },
    handler: async (request) => {
      const scope = tenantScope(principalOf(request));
      const raw = (request.params as { eventId: string }).eventId;
      const id = raw.toLowerCase();
      if (!/^[0-9a-f]{32}$/.test(id)) throw new ApiError(400, `invalid event id "${raw.slice(0, 64)}": expected 32 hex characters`);
      const o = { tenants: scope, timeoutSeconds: timeout };
      const row = await storedEvent(store, { id, ownChainPrefix: `${deps.chainId}-` }, o);
      // Another tenant's event is answered as not found, as if it did not exist.
      if (!row) throw new ApiError(404, `no stored event with id "${id}"`);
      const [integrity] = await deps.integrity.check([row]);
      const links = (row.links as Array<{ trace_id: string; span_id: string }>) ?? [];
      const linkedRows = links.length ? await linkedEvents(store, links, o) : [];
      const found = new Set(linkedRows.map((r) => `${r.trace_id}/${r.span_id}`));
      const approvals = await approvalsOf(store, { trace_id: String(row.trace_id), span_id: String(row.span_id) }, o);
      return {
        event: publicEvent(row),
        integrity,
        links: {
          linked: linkedRows,
          unresolved: links.filter((l) => !found.has(`${l.trace_id}/${l.span_id}`)).map((l) => ({ trace_id: l.trace_id, span_id: l.span_id })),
          approvals,
        },
      };
    },
  });

  api.route({
    method: 'GET',
    url: '/api/v1/cases/:correlationId',
    config: { access: 'reader', what: 'read events' },
    schema: {
      summary: "A case's summary and integrity",
      description:
        'Counts by event type, first and last time, actors, tenants, traces, and the integrity of every event of the case (chain/integrity.ts): ' +
        '"verified up to checkpoint N" or what is broken. integrity=false skips the check (it reads every event: ~1 s per 30,000 events).',
      tags: ['cases'],
      params: CASE_PARAMS,
      querystring: { type: 'object', properties: { integrity: flag('0 or false: skip the integrity check (default: checked)') }, additionalProperties: false },
      response: {
        200: {
          type: 'object',
          properties: {
            correlation_id: { type: 'string' },
            events: { type: 'integer' },
            by_type: { type: 'object', additionalProperties: { type: 'integer' } },
            first_time: { type: 'string' },
            last_time: { type: 'string' },
            actors: { type: 'array', items: { type: 'string' }, description: 'acting identities (at most 100)' },
            tenants: { type: 'array', items: { type: 'string' } },
            traces: { type: 'integer' },
            integrity: {
              anyOf: [
                {
                  type: 'object',
                  properties: {
                    status: { enum: ['verified', 'unanchored', 'unchecked', 'broken'] },
                    summary: { type: 'string' },
                    counts: { type: 'object', additionalProperties: { type: 'integer' } },
                    checkpoints: { type: 'array', items: ref('CheckpointRef') },
                    problems: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: { event_id: { type: 'string' }, chain_id: { type: 'string' }, seq: { type: 'integer' }, status: { type: 'string' }, reason: { type: 'string' } },
                        required: ['event_id', 'chain_id', 'seq', 'status', 'reason'],
                        additionalProperties: false,
                      },
                    },
                  },
                  required: ['status', 'summary', 'counts', 'checkpoints', 'problems'],
                  additionalProperties: false,
                },
                { type: 'null' },
              ],
            },
          },
          required: ['correlation_id', 'events', 'by_type', 'first_time', 'last_time', 'actors', 'tenants', 'traces', 'integrity'],
          additionalProperties: false,
        },
        ...errors(400, 404),
      },
    },
    handler: async (request, reply) => {
      const scope = tenantScope(principalOf(request));
      const id = (request.params as { correlationId: string }).correlationId;
      const i = (request.query as { integrity?: string }).integrity;
      const withIntegrity = i === undefined || isOn(i);
      const o = { tenants: scope, timeoutSeconds: timeout, signal: abortOnClose(reply) };
      const { byType, totals } = await caseSummary(store, id, o);
      if (!totals || Number(totals.n) === 0) throw new ApiError(404, `no events for case "${id.slice(0, 200)}"`);
      let integrity = null;
      if (withIntegrity) {
        const tally = new IntegrityTally();
        const budget = deps.integrity.budget();
        let batch: Row[] = [];
        const flushBatch = async () => {
          const results = await deps.integrity.check(batch, budget);
          batch.forEach((r, i) => tally.add(r, results[i]));
          batch = [];
        };
        for await (const row of caseEvents(store, id, o)) {
          batch.push(row);
          if (batch.length >= 2000) await flushBatch();
        }
        if (batch.length) await flushBatch();
        integrity = tally.summary();
      }
      return {
        correlation_id: id,
        events: Number(totals.n),
        by_type: Object.fromEntries(byType.map((r) => [r.event_type, Number(r.n)])),
        first_time: String(totals.first_time),
        last_time: String(totals.last_time),
        actors: (totals.actors ?? []).sort(),
        tenants: (totals.tenants ?? []).sort(),
        traces: Number(totals.traces),
        integrity,
      };
    },
  });

  api.route({
    method: 'GET',
    url: '/api/v1/cases/:correlationId/events',
    config: { access: 'reader', what: 'read events' },
    schema: {
      summary: "A case's events, paged, each with its integrity",
      description:
        'In the order of the table\'s sort key: tenant, then time, then event id (one tenant: time order), so that any page of a large case ' +
        'reads only its own rows. next_cursor is null on the last page.',
      tags: ['cases'],
      params: CASE_PARAMS,
      querystring: {
        type: 'object',
        properties: {
          cursor: { type: 'string', maxLength: 2048 },
          limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE },
          integrity: flag('0 or false: leave out each event\'s integrity (default: included)'),
        },
        additionalProperties: false,
      },
      response: { 200: ref('EventPage'), ...errors(400, 404) },
    },
    handler: async (request) => {
      const scope = tenantScope(principalOf(request));
      const id = (request.params as { correlationId: string }).correlationId;
      const q = request.query as { cursor?: string; limit: number; integrity?: string };
      const withIntegrity = q.integrity === undefined || isOn(q.integrity);
      const after = q.cursor ? decodeCursor(q.cursor, CASE_ORDER) : undefined;
      const rows = await caseEventsPage(store, id, { allColumns: withIntegrity, after, limit: q.limit + 1 }, { tenants: scope, timeoutSeconds: timeout });
      if (rows.length === 0 && !q.cursor) throw new ApiError(404, `no events for case "${id.slice(0, 200)}"`);
      return page(rows, q.limit, CASE_ORDER, withIntegrity);
    },
  });
}

/** Aborted when the client goes away before the reply is sent (stops a streamed query). */
function abortOnClose(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}
