/**
 * JSON schemas of the API: shared ones (registered on the server, referenced as `Name#`) and
 * the query parameters every listing shares. Fastify validates requests with them and
 * @fastify/swagger turns them into /api/openapi.json, so the document is what is enforced.
 */
import { EVENT_TYPES } from '../model.ts';
import { EVENT_COLUMNS } from '../store/schema.ts';

type Schema = Record<string, unknown>;

/** JSON type of a column as JSONEachRow gives it (64-bit integers quoted, named tuples as objects). */
function columnSchema(type: string): Schema {
  const t = type.replace(/ CODEC\(.*\)$/, '').replace(/^LowCardinality\((.*)\)$/, '$1');
  if (t === 'String' || t.startsWith('DateTime64')) return { type: 'string' };
  if (t === 'UInt64') return { type: 'string', pattern: '^[0-9]+$', description: '64-bit integer, as a decimal string' };
  if (t === 'Nullable(UInt64)') return { type: ['string', 'null'], pattern: '^[0-9]+$', description: '64-bit integer, as a decimal string' };
  if (t === 'UInt32') return { type: 'integer', minimum: 0 };
  if (t === 'UInt8') return { type: 'integer', minimum: 0, maximum: 255 };
  if (t === 'Bool') return { type: 'boolean' };
  if (/^Map\(/.test(t)) return { type: 'object', additionalProperties: { type: 'string' } };
  if (/^Array\((LowCardinality\()?String\)?\)$/.test(t)) return { type: 'array', items: { type: 'string' } };
  const tuple = /^Array\(Tuple\((.*)\)\)$/.exec(t);
  if (tuple) {
    const fields = tuple[1].split(',').map((f) => f.trim().split(/\s+/));
    return {
      type: 'array',
      items: {
        type: 'object',
        properties: Object.fromEntries(fields.map(([name, ft]) => [name, ft === 'String' ? { type: 'string' } : { type: ['number', 'null'] }])),
        required: fields.map(([name]) => name),
        additionalProperties: false,
      },
    };
  }
  throw new Error(`api/schemas.ts: no JSON schema for column type ${type}`);
}

/** Columns that never leave the bridge in a listing or an event (the sealed ciphertext). */
export const HIDDEN_COLUMNS = ['content_sealed'] as const;

const eventColumns = EVENT_COLUMNS.filter(([n]) => !(HIDDEN_COLUMNS as readonly string[]).includes(n));

/** An audit event: every stored column but the sealed ciphertext, and whether there is some. */
export const EventSchema: Schema = {
  $id: 'Event',
  type: 'object',
  description:
    'One audit event: every column of otel_audit.events (DESIGN 3.2) except content_sealed, the ciphertext of sealed raw content, ' +
    'which only GET /api/v1/events/{id}/content opens; has_sealed_content says whether there is some.',
  properties: {
    ...Object.fromEntries(eventColumns.map(([n, t]) => [n, columnSchema(t)])),
    has_sealed_content: { type: 'boolean' },
  },
  required: [...eventColumns.map(([n]) => n), 'has_sealed_content'],
  additionalProperties: false,
};

export const ErrorSchema: Schema = {
  $id: 'Error',
  type: 'object',
  properties: { error: { type: 'string' } },
  required: ['error'],
  additionalProperties: false,
};

export const CheckpointRefSchema: Schema = {
  $id: 'CheckpointRef',
  type: 'object',
  description: 'A signed, anchored checkpoint.',
  properties: {
    chain_id: { type: 'string' },
    tree_size: { type: 'integer', description: 'events of the chain it covers (seq 1..tree_size)' },
    created_at: { type: 'string', description: 'when it was signed (ISO 8601)' },
  },
  required: ['chain_id', 'tree_size', 'created_at'],
  additionalProperties: false,
};

export const IntegritySchema: Schema = {
  $id: 'Integrity',
  type: 'object',
  description:
    'What the stored row proves (chain/integrity.ts). verified: its columns hash to its hash, and that hash is the leaf a signed, anchored ' +
    'checkpoint committed to. unanchored: hash and links fine, newer than the newest checkpoint (hash chain only). unchecked: hash fine, ' +
    'inclusion not checked within this request (run otel-audit verify). modified / broken: see reason.',
  properties: {
    status: { enum: ['verified', 'unanchored', 'unchecked', 'modified', 'broken'] },
    hash_ok: { type: 'boolean', description: "the row's columns hash (chain/canonical.ts) to its stored hash" },
    link_ok: { type: ['boolean', 'null'], description: 'prev_hash matches the hash of seq - 1 (null: not checked, or seq 1)' },
    included: { type: ['boolean', 'null'], description: 'its hash is the leaf the covering checkpoint signed (null: no checkpoint, or not checked)' },
    checkpoint: { anyOf: [{ $ref: 'CheckpointRef#' }, { type: 'null' }] },
    reason: { type: 'string' },
  },
  required: ['status', 'hash_ok', 'link_ok', 'included', 'checkpoint'],
  additionalProperties: false,
};

export const EventRefSchema: Schema = {
  $id: 'EventRef',
  type: 'object',
  description: 'A few columns of a related event.',
  properties: Object.fromEntries(
    ['event_id', 'event_type', 'name', 'event_time', 'trace_id', 'span_id', 'correlation_id', 'actor_id', 'decision', 'reviewer_id', 'tenant'].map((n) => [n, { type: 'string' }]),
  ),
  required: ['event_id', 'event_type', 'name', 'event_time', 'trace_id', 'span_id', 'correlation_id', 'actor_id', 'decision', 'reviewer_id', 'tenant'],
  additionalProperties: false,
};

export const EventWithIntegritySchema: Schema = {
  $id: 'EventWithIntegrity',
  description: 'An event and its integrity.',
  type: 'object',
  properties: { ...(EventSchema.properties as Schema), integrity: { $ref: 'Integrity#' } },
  required: [...(EventSchema.required as string[]), 'integrity'],
  additionalProperties: false,
};

export const EventPageSchema: Schema = {
  $id: 'EventPage',
  type: 'object',
  properties: {
    events: { type: 'array', items: { anyOf: [{ $ref: 'EventWithIntegrity#' }, { $ref: 'Event#' }] } },
    next_cursor: { type: ['string', 'null'], description: 'pass as ?cursor= for the next page; null on the last page' },
  },
  required: ['events', 'next_cursor'],
  additionalProperties: false,
};

export const SHARED_SCHEMAS: Schema[] = [ErrorSchema, EventSchema, CheckpointRefSchema, IntegritySchema, EventWithIntegritySchema, EventRefSchema, EventPageSchema];

export const ref = (name: string): Schema => ({ $ref: `${name}#` });

/** The error replies every route may give (besides its own). */
export function errors(...statuses: number[]): Record<number, Schema> {
  const describe: Record<number, string> = {
    400: 'bad input (the message names the parameter)',
    401: 'no token, or not a token of this bridge (with WWW-Authenticate)',
    403: "the token lacks the route's role, or names a tenant it does not hold",
    404: 'not found (or in a tenant the token does not hold)',
    410: 'gone',
    413: 'request body too large',
    429: 'too busy: retry after Retry-After seconds',
    500: 'internal error',
    503: 'unavailable',
  };
  return Object.fromEntries([401, 403, ...statuses].map((s) => [s, { description: describe[s], ...ref('Error') }]));
}

/** A yes/no query parameter: 1 or true, 0 or false (read with isOn). */
export const flag = (description: string): Schema => ({ type: 'string', enum: ['1', '0', 'true', 'false'], description });
export const isOn = (v: unknown): boolean => v === '1' || v === 'true' || v === true;

const stringList = (description: string): Schema => ({
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
  description,
});

/** Filters shared by /events and the exports (api/queries.ts SearchFilters). */
export const FILTER_PROPERTIES: Schema = {
  correlation_id: { type: 'string', maxLength: 4096, description: 'the case, ticket or task id' },
  actor: stringList('acting identity or the human it acted for, in clear or as stored (pseudonyms are matched); repeatable'),
  reviewer: stringList('approval reviewer, in clear or as stored; repeatable'),
  type: { type: 'string', description: `event types, comma-separated: ${EVENT_TYPES.join(', ')}` },
  tool: { type: 'string', maxLength: 1024 },
  target: { type: 'string', maxLength: 1024, description: 'target system, target id, or "system/id"' },
  status: { type: 'string', maxLength: 256, description: 'status, comma-separated (ok, error, timeout, denied, ...)' },
  risk: { type: 'string', description: 'risk levels, comma-separated: low, medium, high' },
  from: { type: 'string', description: 'ISO 8601, "YYYY-MM-DD HH:MM:SS" (UTC), or a duration ago (15m, 2h, 7d); inclusive' },
  to: { type: 'string', description: 'as from; exclusive' },
  q: {
    type: 'string',
    minLength: 1,
    maxLength: 200,
    description: 'free text, case-insensitive, in name, content (as stored: redacted), attribute values, tool name, target, rationale and source ids',
  },
  tenant: stringList('only these tenants (must be among the token\'s); repeatable'),
};

export const FORMAT_PROPERTY: Schema = {
  type: 'string',
  enum: ['jsonl', 'csv', 'json'],
  default: 'jsonl',
  description: 'jsonl: one event per line, every column typed; csv: for people (docs/api.md, "CSV"); json: a page {events, next_cursor}',
};

export const LIST_QUERY_PROPERTIES: Schema = {
  format: FORMAT_PROPERTY,
  limit: { type: 'integer', minimum: 1, maximum: 10_000_000, description: 'jsonl/csv: at most this many events; json: page size, at most 1000 (default 100)' },
  cursor: { type: 'string', maxLength: 2048, description: 'json: the next_cursor of the previous page' },
  integrity: flag("json: add each event's integrity (chain/integrity.ts)"),
  excel: flag('csv: start with a UTF-8 byte order mark, and neutralize cells a spreadsheet would run as formulas'),
};

/** The 200 reply of a listing: JSON lines, CSV, or a JSON page. */
export const LIST_RESPONSE: Schema = {
  description: 'jsonl (default): one Event per line; csv; json: an EventPage',
  content: {
    'application/x-ndjson': { schema: { type: 'string', description: 'one Event (JSON) per line' } },
    'text/csv': { schema: { type: 'string' } },
    'application/json': { schema: ref('EventPage') },
  },
};
