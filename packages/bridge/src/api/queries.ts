import { EVENT_TYPES } from '../model.ts';
import { dateToClickHouse, parseTimeArg } from '../internal/time.ts';

/** Output formats of every listing endpoint and command. */
export const OUTPUT_FORMATS = { jsonl: 'JSONEachRow', csv: 'CSVWithNames', json: 'JSON' } as const;
export type OutputFormat = keyof typeof OUTPUT_FORMATS;

export class QueryInputError extends Error {}

export interface SearchFilters {
  /** Only these tenants' rows (a reader's scope, or ?tenant=); undefined: every tenant. */
  tenants?: readonly string[];
  correlationId?: string;
  traceId?: string;
  actor?: string[];
  reviewer?: string[];
  type?: string;
  tool?: string;
  from?: string;
  to?: string;
  /** A whole number, or its text as received (validated here). */
  limit?: number | string;
}

export interface BuiltQuery {
  sql: string;
  params: Record<string, unknown>;
}

const HEX32 = /^[0-9a-f]{32}$/;

/**
 * A WHERE clause from filters, with bound parameters only. Identities are matched both as
 * given and as their pseudonym, since the privacy floor may have stored either.
 */
export function searchQuery(db: string, f: SearchFilters, order = 'event_time, seq'): BuiltQuery {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (f.tenants !== undefined) {
    where.push('tenant IN {tenants:Array(String)}');
    params.tenants = f.tenants;
  }
  if (f.correlationId !== undefined) {
    where.push('correlation_id = {correlation_id:String}');
    params.correlation_id = f.correlationId;
  }
  if (f.traceId !== undefined) {
    const t = f.traceId.toLowerCase();
    if (!HEX32.test(t)) throw new QueryInputError(`invalid trace id "${f.traceId}": expected 32 hex characters`);
    where.push('trace_id = {trace_id:String}');
    params.trace_id = t;
  }
  if (f.actor?.length) {
    where.push('(actor_id IN {actor:Array(String)} OR on_behalf_of IN {actor:Array(String)})');
    params.actor = f.actor;
  }
  if (f.reviewer?.length) {
    where.push('reviewer_id IN {reviewer:Array(String)}');
    params.reviewer = f.reviewer;
  }
  if (f.type) {
    const types = f.type.split(',').map((t) => t.trim());
    for (const t of types) {
      if (!(EVENT_TYPES as readonly string[]).includes(t)) {
        throw new QueryInputError(`invalid event type "${t}": expected one of ${EVENT_TYPES.join(', ')}`);
      }
    }
    where.push('event_type IN {types:Array(String)}');
    params.types = types;
  }
  if (f.tool) {
    where.push('tool_name = {tool:String}');
    params.tool = f.tool;
  }
  for (const [key, op] of [
    ['from', '>='],
    ['to', '<'],
  ] as const) {
    const v = f[key];
    if (v === undefined) continue;
    let d: Date;
    try {
      d = parseTimeArg(v);
    } catch (err) {
      throw new QueryInputError(`--${key}: ${(err as Error).message}`);
    }
    where.push(`event_time ${op} toDateTime64({${key}:String}, 9, 'UTC')`);
    params[key] = dateToClickHouse(d);
  }
  const limit = Number(f.limit ?? 1000);
  if (!/^\d+$/.test(String(f.limit ?? 1000)) || limit < 1 || limit > 10_000_000) {
    throw new QueryInputError(`invalid limit "${f.limit}": expected a whole number from 1 to 10000000`);
  }
  const sql =
    `SELECT * FROM ${db}.events` +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY ${order} LIMIT ${limit}`;
  return { sql, params };
}

export function parseFormat(v: string | null | undefined, fallback: OutputFormat = 'jsonl'): OutputFormat {
  if (!v) return fallback;
  if (v in OUTPUT_FORMATS) return v as OutputFormat;
  throw new QueryInputError(`invalid format "${v}": expected one of ${Object.keys(OUTPUT_FORMATS).join(', ')}`);
}
