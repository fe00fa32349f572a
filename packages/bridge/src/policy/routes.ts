/**
 * Reviewer endpoints (policy/README.md, "Reading sealed content" and "Erasure"):
 *  - GET  /api/v1/events/:eventId/content: the raw content sealed for a high-risk event
 *    (role content_reader, the event's tenant in the token's; each opening is itself stored as
 *    an `access` event before the content is answered);
 *  - POST /api/v1/erase {"subject": "...", "tenant"?: "..."}: deletes the subject's data keys (role admin).
 */
import type { IncomingMessage } from 'node:http';
import { ApiError, sendJson, type ApiServer } from '../api/server.ts';
import type { AccessRecord } from '../api/access-log.ts';
import { AccessError, tenantScope } from '../auth/index.ts';
import type { Logger } from '../internal/logger.ts';
import { subjectOf, type PrivacyFilter } from '../pipeline/privacy.ts';
import type { Store } from '../store/store.ts';
import { knownTenants } from './tenants.ts';

export interface PrivacyRoutesOptions {
  store: Store;
  privacy: PrivacyFilter;
  /** Stores an access event; resolves once it is durable. */
  recordAccess: (r: AccessRecord) => Promise<void>;
  log: Logger;
}

const EVENT_ID = /^[0-9a-f]{32}$/;

export function registerPrivacyRoutes(api: ApiServer, o: PrivacyRoutesOptions): void {
  api.route('GET', /^\/api\/v1\/events\/([^/]+)\/content$/, 'content_reader', 'open sealed content', async (_req, res, _url, m, principal) => {
    const scope = tenantScope(principal);
    const id = decodeURIComponent(m[1]).toLowerCase();
    if (!EVENT_ID.test(id)) throw new ApiError(400, `invalid event id "${m[1].slice(0, 64)}": expected 32 hex characters`);
    const rows = await o.store.rows<Row>(
      `SELECT event_id, tenant, risk, on_behalf_of, actor_id, correlation_id, content_sealed FROM ${o.store.database}.events WHERE event_id = {id:String} LIMIT 1`,
      { id },
    );
    const row = rows[0];
    // Another tenant's event is answered as not found, as if it did not exist.
    if (!row || (scope && !scope.includes(row.tenant))) throw new ApiError(404, `no event ${id}`);
    if (!row.content_sealed) {
      throw new ApiError(
        404,
        `event ${id} has no sealed content: only events whose content policy is "sealed" keep it (by default, risk high); this one is risk ${row.risk}`,
      );
    }
    const vault = o.privacy.vault;
    if (!vault) throw new ApiError(503, 'this bridge has no subject key store');
    const r = vault.open(row.content_sealed, id);
    if (r.status === 'erased') {
      throw new ApiError(
        410,
        `the sealed content of event ${id} is gone: its subject's data key was erased (otel-audit erase). ` +
          `The event, its digests and its redacted content remain, and the hash chain still verifies.`,
      );
    }
    if (r.status === 'invalid') throw new ApiError(500, `cannot open the sealed content of event ${id}: ${r.reason}`);
    // The reading is part of the trail, durably, before anything is shown.
    try {
      await o.recordAccess({ principal: principal.name, tenant: row.tenant, action: 'read_content', target: `event:${id}`, correlationId: row.correlation_id, risk: row.risk });
    } catch (err) {
      throw new ApiError(503, `cannot record this reading in the audit trail, so the content is not shown: ${(err as Error).message}`);
    }
    o.log.info('sealed content read by a reviewer', { event_id: id, tenant: row.tenant, principal: principal.name });
    res.setHeader('cache-control', 'no-store');
    sendJson(res, 200, {
      event_id: id,
      tenant: row.tenant,
      risk: row.risk,
      subject: subjectOf(row),
      content: JSON.parse(r.plaintext.toString('utf8')),
    });
  });

  api.route('POST', /^\/api\/v1\/erase$/, 'admin', 'erase subjects', async (req, res, _url, _m, principal) => {
    const scope = tenantScope(principal);
    const body = await readJson(req);
    const subject = body.subject;
    if (typeof subject !== 'string' || subject.trim() === '' || subject.length > 4096) {
      throw new ApiError(400, 'expected {"subject": "<the subject id, in clear or as stored>", "tenant": "<optional>"}');
    }
    if (body.tenant !== undefined && (typeof body.tenant !== 'string' || body.tenant === '')) {
      throw new ApiError(400, '"tenant" must be a non-empty string when given');
    }
    const vault = o.privacy.vault;
    if (!vault) throw new ApiError(503, 'this bridge has no subject key store');
    if (body.tenant !== undefined && scope && !scope.includes(body.tenant as string)) {
      throw new AccessError('PERMISSION_DENIED', `token "${principal.name}" may not erase in tenant "${String(body.tenant).slice(0, 64)}"`);
    }
    const tenants = body.tenant !== undefined ? [body.tenant as string] : (scope ?? (await knownTenants(o.store, true)));
    // The subject as stored may be the clear id, its pseudonym or its keyed hash (policy rules).
    const forms = new Set<string>([subject]);
    let erased = 0;
    const erasedIn = new Set<string>();
    for (const t of tenants) {
      const candidates = [subject, o.privacy.pseudonym(subject, t), o.privacy.hashValue(subject, t)];
      for (const c of candidates) {
        forms.add(c);
        if (vault.erase(t, c)) {
          erased++;
          erasedIn.add(t);
        }
      }
    }
    const [{ n }] = await o.store.rows<{ n: string }>(
      `SELECT count() AS n FROM ${o.store.database}.events WHERE content_sealed != '' AND tenant IN {tenants:Array(String)} ` +
        `AND multiIf(on_behalf_of != '', on_behalf_of, actor_id != '', actor_id, correlation_id) IN {forms:Array(String)}`,
      { tenants, forms: [...forms] },
    );
    // Counts and tenants only: the subject is personal data and stays out of the log.
    o.log.info('subject erased (data keys deleted)', { keys: erased, tenants: [...erasedIn] });
    sendJson(res, 200, { keys_erased: erased, tenants: [...erasedIn], sealed_events: Number(n) });
  });
}

interface Row {
  event_id: string;
  tenant: string;
  risk: string;
  on_behalf_of: string;
  actor_id: string;
  correlation_id: string;
  content_sealed: string;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 64 * 1024) throw new ApiError(413, 'request body over 64 KiB');
    chunks.push(c);
  }
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* below */
  }
  throw new ApiError(400, 'request body must be a JSON object');
}
