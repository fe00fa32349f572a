/**
 * Reviewer endpoints (policy/README.md, "Reading sealed content" and "Erasure"); the work is
 * the privacy stage's (policy/reviewer.ts):
 *  - GET  /api/v1/events/:eventId/content: the raw content sealed for a high-risk event
 *    (role content_reader, the event's tenant in the token's; each opening is itself stored as
 *    an `access` event before the content is answered);
 *  - POST /api/v1/erase {"subject": "...", "tenant"?: "..."}: deletes the subject's data keys (role admin).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessError, tenantScope } from '../../auth/index.ts';
import { eraseSubject, openSealedContent, storedSubject, type SealedRow } from '../../policy/reviewer.ts';
import { knownTenants } from '../../policy/tenants.ts';
import { sealedEvent } from '../../store/index.ts';
import { errors } from '../schemas.ts';
import { ApiError, principalOf, type ApiContext } from '../server.ts';

const EVENT_ID = /^[0-9a-f]{32}$/;
const STATUS = { none: 404, no_vault: 503, erased: 410, invalid: 500 } as const;

export function registerPrivacyRoutes(ctx: ApiContext): void {
  const { api, store, privacy, status, log } = ctx;

  api.route({
    method: 'GET',
    url: '/api/v1/events/:eventId/content',
    config: { access: 'content_reader', what: 'open sealed content' },
    schema: {
      summary: "Open an event's sealed raw content",
      description:
        'Needs the content_reader role. Every opening is stored as an access event (actor: the token\'s name) before the content is answered; ' +
        'if that cannot be made durable, nothing is shown (503). 404 when the event has no sealed content, 410 when its subject was erased.',
      tags: ['privacy'],
      params: { type: 'object', properties: { eventId: { type: 'string', maxLength: 256 } }, required: ['eventId'] },
      response: {
        200: {
          type: 'object',
          properties: {
            event_id: { type: 'string' },
            tenant: { type: 'string' },
            risk: { type: 'string' },
            subject: { type: 'string', description: 'whose data it is, as stored' },
            content: { description: 'the raw content, as the app sent it' },
          },
          required: ['event_id', 'tenant', 'risk', 'subject', 'content'],
          additionalProperties: false,
        },
        ...errors(400, 404, 410, 500, 503),
      },
    },
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const principal = principalOf(request);
      const scope = tenantScope(principal);
      const raw = (request.params as { eventId: string }).eventId;
      const id = raw.toLowerCase();
      if (!EVENT_ID.test(id)) throw new ApiError(400, `invalid event id "${raw.slice(0, 64)}": expected 32 hex characters`);
      const row: SealedRow | undefined = await sealedEvent(store, id, { tenants: scope, timeoutSeconds: ctx.config.queryTimeoutSeconds });
      // Another tenant's event is answered as not found, as if it did not exist.
      if (!row || (scope && !scope.includes(row.tenant))) throw new ApiError(404, `no event ${id}`);
      const opened = openSealedContent(privacy, row);
      if (opened.status !== 'ok') throw new ApiError(STATUS[opened.status], opened.reason);
      // The reading is part of the trail, durably, before anything is shown.
      try {
        await status.recordAccess({ principal: principal.name, tenant: row.tenant, action: 'read_content', target: `event:${id}`, correlationId: row.correlation_id, risk: row.risk });
      } catch (err) {
        throw new ApiError(503, `cannot record this reading in the audit trail, so the content is not shown: ${(err as Error).message}`);
      }
      log.info('sealed content read by a reviewer', { event_id: id, tenant: row.tenant, principal: principal.name });
      reply.header('cache-control', 'no-store');
      return { event_id: id, tenant: row.tenant, risk: row.risk, subject: opened.subject, content: opened.content };
    },
  });

  api.route({
    method: 'POST',
    url: '/api/v1/erase',
    config: { access: 'admin', what: 'erase subjects', body: 'json' },
    bodyLimit: 64 * 1024,
    schema: {
      summary: "Erase a subject's data keys (crypto-shredding)",
      description: 'The sealed content of the subject\'s events can no longer be read; the events, their digests and the hash chain stay.',
      tags: ['privacy'],
      body: {
        type: 'object',
        properties: {
          subject: { type: 'string', minLength: 1, maxLength: 4096, description: 'the subject id, in clear or as stored' },
          tenant: { type: 'string', minLength: 1, description: "only in this tenant; default: every tenant of the token (for a token of all tenants, every tenant whose events reached the bridge, stored or not)" },
        },
        required: ['subject'],
        additionalProperties: false,
      },
      response: {
        200: {
          type: 'object',
          properties: { keys_erased: { type: 'integer' }, tenants: { type: 'array', items: { type: 'string' } }, sealed_events: { type: 'integer' } },
          required: ['keys_erased', 'tenants', 'sealed_events'],
          additionalProperties: false,
        },
        ...errors(400, 413, 503),
      },
    },
    handler: async (request: FastifyRequest) => {
      const principal = principalOf(request);
      const scope = tenantScope(principal);
      const body = request.body as { subject: string; tenant?: string };
      if (body.subject.trim() === '') throw new ApiError(400, 'expected {"subject": "<the subject id, in clear or as stored>", "tenant": "<optional>"}');
      if (!privacy.vault) throw new ApiError(503, 'this bridge has no subject key store');
      if (body.tenant !== undefined && scope && !scope.includes(body.tenant)) {
        throw new AccessError('PERMISSION_DENIED', `token "${principal.name}" may not erase in tenant "${body.tenant.slice(0, 64)}"`);
      }
      // Without a tenant: every tenant whose events reached the bridge, stored or not yet (the
      // vault lists them), so that content still on its way is never sealed either.
      const tenants = body.tenant !== undefined ? [body.tenant] : (scope ?? [...new Set([...(await knownTenants(store, true)), ...privacy.vault.tenants()])]);
      // The erasure is part of the trail, durably, before any key goes: one access event per
      // tenant it covers, naming the subject as its events do (its pseudonym), never in clear.
      try {
        await Promise.all(
          tenants.map((tenant) => status.recordAccess({ principal: principal.name, tenant, action: 'erase', target: `subject:${storedSubject(privacy, body.subject, tenant)}`.slice(0, 1000) })),
        );
      } catch (err) {
        throw new ApiError(503, `cannot record this erasure in the audit trail, so nothing was erased: ${(err as Error).message}`);
      }
      const result = await eraseSubject(privacy, store, body.subject, tenants);
      // Counts and tenants only: the subject is personal data and stays out of the log.
      log.info('subject erased (data keys deleted)', { keys: result.keys_erased, tenants: result.tenants });
      return result;
    },
  });
}
