import { EVENT_TYPES } from '../model.ts';
import { dateToClickHouse, parseTimeArg } from '../internal/time.ts';
import { quoteString } from '../store/store.ts';
import { HIDDEN_COLUMNS } from './schemas.ts';

/** Output formats of every listing endpoint and command (and the `sql` endpoint's ClickHouse formats). */
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
  /** Comma-separated event types. */
  type?: string;
  tool?: string;
  /** A target system, a target id, or "system/id". */
  target?: string;
  /** Comma-separated statuses. */
  status?: string;
  /** Comma-separated risk levels. */
  risk?: string;
  from?: string;
  to?: string;
  /** Free text (bounded: 1-200 characters). */
  q?: string;
}

export interface BuiltQuery {
  sql: string;
  params: Record<string, unknown>;
}

const HEX32 = /^[0-9a-f]{32}$/;
const RISKS = ['low', 'medium', 'high'];
export const MAX_Q_LENGTH = 200;

const list = (v: string) =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/**
 * The WHERE conditions of filters, with bound parameters only. Identities are matched both as
 * given and as their pseudonym, since the privacy floor may have stored either (the caller
 * passes every search form in `actor` / `reviewer`).
 */
export function filterConditions(f: SearchFilters): { where: string[]; params: Record<string, unknown> } {
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
    if (!HEX32.test(t)) throw new QueryInputError(`invalid trace id "${f.traceId.slice(0, 64)}": expected 32 hex characters`);
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
    const types = list(f.type);
    for (const t of types) {
      if (!(EVENT_TYPES as readonly string[]).includes(t)) {
        throw new QueryInputError(`invalid event type "${t.slice(0, 64)}": expected one of ${EVENT_TYPES.join(', ')}`);
      }
    }
    where.push('event_type IN {types:Array(String)}');
    params.types = types;
  }
  if (f.tool) {
    where.push('tool_name = {tool:String}');
    params.tool = f.tool;
  }
  if (f.target) {
    const slash = f.target.indexOf('/');
    if (slash > 0) {
      where.push('(target_system = {target_system:String} AND target_id = {target_id:String} OR target_id = {target:String})');
      params.target_system = f.target.slice(0, slash);
      params.target_id = f.target.slice(slash + 1);
    } else {
      where.push('(target_system = {target:String} OR target_id = {target:String})');
    }
    params.target = f.target;
  }
  if (f.status) {
    where.push('status IN {statuses:Array(String)}');
    params.statuses = list(f.status);
  }
  if (f.risk) {
    const risks = list(f.risk);
    for (const r of risks) if (!RISKS.includes(r)) throw new QueryInputError(`invalid risk "${r.slice(0, 64)}": expected low, medium or high`);
    where.push('risk IN {risks:Array(String)}');
    params.risks = risks;
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
  if (f.q !== undefined) {
    const q = f.q.trim();
    if (!q || q.length > MAX_Q_LENGTH) throw new QueryInputError(`invalid q: expected 1 to ${MAX_Q_LENGTH} characters of text`);
    // Substring search over the stored (redacted) text; the sealed ciphertext is never searched.
    const hit = (col: string) => `positionCaseInsensitiveUTF8(${col}, {q:String}) > 0`;
    where.push(
      `(${[
        hit('name'),
        hit('content'),
        hit('tool_name'),
        hit('target_system'),
        hit('target_id'),
        hit('rationale'),
        `arrayExists(v -> ${hit('v')}, mapValues(attributes))`,
        `arrayExists(s -> ${hit('tupleElement(s, 1)')}, sources)`,
      ].join(' OR ')})`,
    );
    params.q = q;
  }
  return { where, params };
}

/** The columns a listing returns: every column but the sealed ciphertext, and whether there is some. */
export const LISTED_COLUMNS = `* EXCEPT (${HIDDEN_COLUMNS.join(', ')}), toBool(content_sealed != '') AS has_sealed_content`;

/** The stable order of event listings, and the key a cursor holds. */
export const EVENT_ORDER = ['event_time', 'chain_id', 'seq'] as const;
/** The order of a case's events: the table's sort key, so that a page reads in order. */
export const CASE_ORDER = ['tenant', 'event_time', 'event_id'] as const;

const KEY_TYPES: Record<string, string> = { event_time: 'DateTime64', chain_id: 'String', seq: 'UInt64', tenant: 'String', event_id: 'String' };

/**
 * An opaque cursor: base64url of the JSON array of the last row's order key. Only ever
 * compared, as bound parameters, with the same columns.
 */
export function encodeCursor(row: Record<string, unknown>, order: readonly string[]): string {
  return Buffer.from(JSON.stringify(order.map((c) => String(row[c])))).toString('base64url');
}

export function decodeCursor(cursor: string, order: readonly string[]): string[] {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = null;
  }
  if (!Array.isArray(key) || key.length !== order.length || !key.every((k) => typeof k === 'string')) {
    throw new QueryInputError('invalid cursor: pass the next_cursor of the previous page as it was given');
  }
  order.forEach((c, i) => {
    if (KEY_TYPES[c] === 'UInt64' && !/^\d{1,20}$/.test(key[i])) throw new QueryInputError('invalid cursor: pass the next_cursor of the previous page as it was given');
    if (KEY_TYPES[c] === 'DateTime64' && !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$/.test(key[i])) {
      throw new QueryInputError('invalid cursor: pass the next_cursor of the previous page as it was given');
    }
  });
  return key as string[];
}

/** `(a, b, c) > (x, y, z)`, spelled out so that the engine can use the sort key to skip ahead. */
export function afterCondition(order: readonly string[], key: readonly string[], params: Record<string, unknown>): string {
  const value = (c: string, i: number) => {
    params[`after_${i}`] = key[i];
    const t = KEY_TYPES[c];
    return t === 'DateTime64' ? `toDateTime64({after_${i}:String}, 9, 'UTC')` : `{after_${i}:${t}}`;
  };
  const build = (i: number): string => {
    const gt = `${order[i]} > ${value(order[i], i)}`;
    if (i === order.length - 1) return gt;
    return `(${gt} OR (${order[i]} = ${value(order[i], i)} AND ${build(i + 1)}))`;
  };
  return build(0);
}

export interface ListQuery {
  columns?: string;
  order?: readonly string[];
  /** The cursor's key: rows after it. */
  after?: readonly string[];
  limit?: number;
}

/** SELECT of filtered events in a stable order, optionally after a cursor and limited. */
export function searchQuery(db: string, f: SearchFilters, q: ListQuery = {}): BuiltQuery {
  const { where, params } = filterConditions(f);
  const order = q.order ?? EVENT_ORDER;
  if (q.after) where.push(afterCondition(order, q.after, params));
  if (q.limit !== undefined && (!Number.isSafeInteger(q.limit) || q.limit < 1)) throw new QueryInputError(`invalid limit ${q.limit}`);
  const sql =
    `SELECT ${q.columns ?? LISTED_COLUMNS} FROM ${db}.events` +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY ${order.join(', ')}` +
    (q.limit !== undefined ? ` LIMIT ${q.limit}` : '');
  return { sql, params };
}

/**
 * Writes bound parameters into the statement as literals: the API's reads run in read-only
 * sessions (Store.openReader), where `SET param_...` is refused. Only the placeholders the
 * API's own SQL holds are replaced, in one pass, so a value is never read as SQL.
 */
export function bindParams(sql: string, params: Record<string, unknown>): string {
  return sql.replace(/\{([a-z_][a-z0-9_]*):([A-Za-z0-9()]+)\}/g, (_m, name: string, type: string) => {
    if (!(name in params)) throw new Error(`internal: no value for query parameter ${name}`);
    const v = params[name];
    switch (type) {
      case 'String':
        return quoteString(String(v));
      case 'UInt64': {
        const s = String(v);
        if (!/^\d{1,20}$/.test(s)) throw new QueryInputError(`invalid number "${s.slice(0, 32)}"`);
        return s;
      }
      case 'Array(String)':
        return `[${(v as unknown[]).map((x) => quoteString(String(x))).join(', ')}]`;
      case 'Array(UInt64)':
        return `[${(v as unknown[]).map((x) => (/^\d{1,20}$/.test(String(x)) ? String(x) : '0')).join(', ')}]`;
      default:
        throw new Error(`internal: query parameter type ${type} is not supported`);
    }
  });
}

export function parseFormat(v: string | null | undefined, fallback: OutputFormat = 'jsonl'): OutputFormat {
  if (!v) return fallback;
  if (v in OUTPUT_FORMATS) return v as OutputFormat;
  throw new QueryInputError(`invalid format "${v}": expected one of ${Object.keys(OUTPUT_FORMATS).join(', ')}`);
}
