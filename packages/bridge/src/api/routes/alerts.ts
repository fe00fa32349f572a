/**
 * Alerts (detect/, docs/detections.md):
 *
 *   GET  /api/v1/alerts    the stored alerts, in the caller's tenants; jsonl (default), csv, or json {alerts}
 *   POST /api/v1/detect    evaluates the rules over a range now, in the caller's tenants (admin)
 *
 * HTTP only: the rules and the alerts table belong to detect/, their SQL to the store
 * (store/detection-queries.ts).
 */
import { tenantScope } from '../../auth/index.ts';
import { chTime, DetectError, RULE_IDS, SEVERITIES, type Alert, type Detector, type RuleId } from '../../detect/index.ts';
import { parseTimeArg } from '../../internal/time.ts';
import { detection } from '../../store/index.ts';
import { csvField } from '../csv.ts';
import { errors } from '../schemas.ts';
import { ApiError, principalOf, type ApiContext } from '../server.ts';

export interface AlertRouteDeps {
  /** Absent: the alerts stored are listed, and POST /api/v1/detect answers 503. */
  detector?: Detector;
}

const ALERT_FIELDS = ['alert_id', 'tenant', 'rule', 'severity', 'correlation_id', 'subject', 'event_ids', 'first_event_time', 'last_event_time', 'detected_at', 'explanation', 'details'];

const AlertSchema = {
  type: 'object',
  description: 'One alert: an incident a detection rule found, citing the events it is about.',
  properties: {
    alert_id: { type: 'string', description: 'stable: derived from the incident (the same incident found again has the same id)' },
    tenant: { type: 'string' },
    rule: { type: 'string', enum: [...RULE_IDS] },
    severity: { type: 'string', enum: [...SEVERITIES] },
    correlation_id: { type: 'string', description: 'the case it is about ("" when it spans cases)' },
    subject: { type: 'string', description: 'what it is about: an actor, a tool, a prompt version, a service' },
    event_ids: { type: 'array', items: { type: 'string' }, description: 'the events it cites (GET /api/v1/events/{id})' },
    first_event_time: { type: 'string' },
    last_event_time: { type: 'string' },
    detected_at: { type: 'string' },
    explanation: { type: 'string', description: 'a sentence a person can read' },
    details: { type: 'object', additionalProperties: true, description: "what the rule measured (counts, the kind of bypass, ...)" },
  },
  required: ALERT_FIELDS,
  additionalProperties: false,
} as const;

const TIME = { type: 'string', maxLength: 64, description: 'ISO 8601, "YYYY-MM-DD hh:mm:ss" (UTC), or a duration ago: 15m, 2h, 7d' };
const RULES_PARAM = { type: 'string', maxLength: 512, description: `comma-separated rule ids: ${RULE_IDS.join(', ')}` };

interface ListQuery {
  format?: 'jsonl' | 'csv' | 'json';
  from?: string;
  to?: string;
  rule?: string;
  severity?: string;
  correlation_id?: string;
  limit?: number;
}

function time(v: string | undefined, name: string): Date | undefined {
  if (v === undefined) return undefined;
  try {
    return parseTimeArg(v);
  } catch (err) {
    throw new ApiError(400, `invalid query parameter "${name}": ${(err as Error).message}`);
  }
}

function ruleList(v: string | undefined): RuleId[] | undefined {
  if (v === undefined) return undefined;
  const ids = v.split(',').map((x) => x.trim()).filter(Boolean);
  for (const id of ids) if (!(RULE_IDS as readonly string[]).includes(id)) throw new ApiError(400, `invalid rule "${id.slice(0, 64)}": expected one of ${RULE_IDS.join(', ')}`);
  return ids as RuleId[];
}

/** An alert row as the API gives it: details parsed. */
function publicAlert(row: Record<string, unknown>): Record<string, unknown> {
  let details: unknown = {};
  try {
    details = JSON.parse(String(row.details || '{}'));
  } catch {
    details = { raw: row.details };
  }
  return { ...row, details };
}

function csvLine(a: Record<string, unknown>): string {
  return ALERT_FIELDS.map((k) => csvField(k === 'event_ids' ? (a[k] as string[]).join(' ') : k === 'details' ? JSON.stringify(a[k]) : String(a[k] ?? ''))).join(',') + '\r\n';
}

export function registerAlertRoutes(ctx: ApiContext, deps: AlertRouteDeps): void {
  const { api, store } = ctx;

  api.route({
    method: 'GET',
    url: '/api/v1/alerts',
    config: { access: 'reader', what: 'read alerts' },
    schema: {
      summary: 'List alerts: incidents the detection rules found, citing their events',
      description:
        'Alerts of the caller\'s tenants only. from/to select incidents by the time of their events (an incident that ends at or after from and starts before to), ' +
        'oldest first. jsonl (default) and csv: one alert a line; json: {alerts}.',
      tags: ['alerts'],
      querystring: {
        type: 'object',
        properties: {
          format: { type: 'string', enum: ['jsonl', 'csv', 'json'] },
          from: TIME,
          to: TIME,
          rule: RULES_PARAM,
          severity: { type: 'string', maxLength: 64, description: 'comma-separated: low, medium, high' },
          correlation_id: { type: 'string', maxLength: 2048 },
          limit: { type: 'integer', minimum: 1, maximum: 100_000, default: 10_000 },
        },
        additionalProperties: false,
      },
      response: {
        200: {
          description: 'jsonl (default): one Alert per line; csv: one alert per row; json: {alerts}',
          content: {
            'application/x-ndjson': { schema: { type: 'string', description: 'one Alert (JSON) per line' } },
            'text/csv': { schema: { type: 'string' } },
            'application/json': {
              schema: {
                type: 'object',
                properties: { alerts: { type: 'array', items: AlertSchema } },
                required: ['alerts'],
                additionalProperties: false,
              },
            },
          },
        },
        ...errors(400),
      },
    },
    handler: async (request, reply) => {
      const scope = tenantScope(principalOf(request));
      const q = request.query as ListQuery;
      const from = time(q.from, 'from');
      const to = time(q.to, 'to');
      const severity = q.severity?.split(',').map((s) => s.trim()).filter(Boolean);
      for (const s of severity ?? []) if (!(SEVERITIES as readonly string[]).includes(s)) throw new ApiError(400, `invalid severity "${s.slice(0, 32)}": expected low, medium or high`);
      const filters = {
        from: from && chTime(from),
        to: to && chTime(to),
        rules: ruleList(q.rule),
        severity,
        correlationId: q.correlation_id,
        tenants: scope,
        limit: q.limit ?? 10_000,
      };
      const rows = (await detection.listAlerts(store, filters, { tenants: scope, timeoutSeconds: ctx.config.queryTimeoutSeconds })).map(publicAlert);
      const format = q.format ?? 'jsonl';
      if (format === 'json') return { alerts: rows };
      if (format === 'csv') {
        reply.type('text/csv; charset=utf-8');
        return reply.send(ALERT_FIELDS.join(',') + '\r\n' + rows.map(csvLine).join(''));
      }
      reply.type('application/x-ndjson');
      return reply.send(rows.map((r) => JSON.stringify(r) + '\n').join(''));
    },
  });

  api.route({
    method: 'POST',
    url: '/api/v1/detect',
    config: { access: 'admin', what: 'run detections', body: 'json' },
    schema: {
      summary: 'Evaluate the detection rules over a time range now; store new alerts',
      description:
        'Over the events whose time is in [from, to) of the caller\'s tenants. An incident already stored is not raised again, so a range may be re-run at will. ' +
        'Answers the alerts raised by this run.',
      tags: ['alerts'],
      body: {
        type: 'object',
        properties: { from: TIME, to: TIME, rule: RULES_PARAM },
        required: ['from'],
        additionalProperties: false,
      },
      response: {
        200: {
          type: 'object',
          properties: {
            from: { type: 'string' },
            to: { type: 'string' },
            rules: { type: 'array', items: { type: 'string' } },
            found: { type: 'integer', description: 'incidents in the range, stored before or now' },
            raised: { type: 'array', items: AlertSchema, description: 'the alerts this run stored' },
          },
          required: ['from', 'to', 'rules', 'found', 'raised'],
          additionalProperties: false,
        },
        ...errors(400, 503),
      },
    },
    handler: async (request) => {
      if (!deps.detector) throw new ApiError(503, 'this bridge runs no detections');
      const scope = tenantScope(principalOf(request));
      const b = request.body as { from: string; to?: string; rule?: string };
      const from = time(b.from, 'from')!;
      const to = time(b.to, 'to') ?? new Date();
      try {
        const r = await deps.detector.evaluate({ from, to, tenants: scope, rules: ruleList(b.rule) });
        return { ...r, raised: r.raised.map((a: Alert) => publicAlert(a as unknown as Record<string, unknown>)) };
      } catch (err) {
        if (err instanceof DetectError) throw new ApiError(400, err.message);
        throw err;
      }
    },
  });
}
