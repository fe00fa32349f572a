/**
 * What the API reads of `events` for a caller: filtered listings (paged by cursor, or streamed),
 * one event and its links, a case's summary and events, an event's sealed content. Every read
 * runs in the caller's read-only session (reads.ts); values are bound parameters. Where a
 * statement is about one event or case, its tenant scope is the session's (`o.tenants`), so the
 * two cannot differ.
 */
import { QueryInputError, readerRows, readerRowStream, readerStream, type ReadOptions } from './reads.ts';
import type { Store } from './store.ts';

type Row = Record<string, unknown>;

/**
 * Filters of a listing, already validated (api/queries.ts): each present one is a condition,
 * an empty list included (it matches nothing).
 */
export interface EventFilters {
  /** Only these tenants' rows (a reader's scope, or ?tenant=); undefined: every tenant. */
  tenants?: readonly string[];
  correlationId?: string;
  /** 32 lowercase hex characters. */
  traceId?: string;
  /** Every search form of the identities (as given and as pseudonyms); empty: no condition. */
  actor?: readonly string[];
  reviewer?: readonly string[];
  types?: readonly string[];
  /** Empty: no condition. */
  tool?: string;
  /** A target system, a target id, or "system/id"; empty: no condition. */
  target?: string;
  statuses?: readonly string[];
  risks?: readonly string[];
  /** Bounds of event_time, [from, to), as ClickHouse DateTime64 text (UTC). */
  from?: string;
  to?: string;
  /** Free text, trimmed (1-200 characters). */
  q?: string;
}

/** The WHERE conditions of filters, with bound parameters only. */
function filterConditions(f: EventFilters): { where: string[]; params: Row } {
  const where: string[] = [];
  const params: Row = {};
  if (f.tenants !== undefined) {
    where.push('tenant IN {tenants:Array(String)}');
    params.tenants = f.tenants;
  }
  if (f.correlationId !== undefined) {
    where.push('correlation_id = {correlation_id:String}');
    params.correlation_id = f.correlationId;
  }
  if (f.traceId !== undefined) {
    where.push('trace_id = {trace_id:String}');
    params.trace_id = f.traceId;
  }
  if (f.actor?.length) {
    where.push('(actor_id IN {actor:Array(String)} OR on_behalf_of IN {actor:Array(String)})');
    params.actor = f.actor;
  }
  if (f.reviewer?.length) {
    where.push('reviewer_id IN {reviewer:Array(String)}');
    params.reviewer = f.reviewer;
  }
  if (f.types !== undefined) {
    where.push('event_type IN {types:Array(String)}');
    params.types = f.types;
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
  if (f.statuses !== undefined) {
    where.push('status IN {statuses:Array(String)}');
    params.statuses = f.statuses;
  }
  if (f.risks !== undefined) {
    where.push('risk IN {risks:Array(String)}');
    params.risks = f.risks;
  }
  if (f.from !== undefined) {
    where.push("event_time >= toDateTime64({from:String}, 9, 'UTC')");
    params.from = f.from;
  }
  if (f.to !== undefined) {
    where.push("event_time < toDateTime64({to:String}, 9, 'UTC')");
    params.to = f.to;
  }
  if (f.q !== undefined) {
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
    params.q = f.q;
  }
  return { where, params };
}

/**
 * The columns a listing returns: every column but the sealed ciphertext (api/schemas.ts
 * HIDDEN_COLUMNS), and whether there is some.
 */
const LISTED_COLUMNS = "* EXCEPT (content_sealed), toBool(content_sealed != '') AS has_sealed_content";

/** The stable order of event listings, and the key a cursor holds. */
export const EVENT_ORDER = ['event_time', 'chain_id', 'seq'] as const;
/** The order of a case's events: the table's sort key, so that a page reads in order. */
export const CASE_ORDER = ['tenant', 'event_time', 'event_id'] as const;

const KEY_TYPES: Record<string, string> = { event_time: 'DateTime64', chain_id: 'String', seq: 'UInt64', tenant: 'String', event_id: 'String' };

/**
 * An opaque cursor: base64url of the JSON array of the last row's order key. Only ever
 * compared, as bound parameters, with the same columns.
 */
export function encodeCursor(row: Row, order: readonly string[]): string {
  return Buffer.from(JSON.stringify(order.map((c) => String(row[c])))).toString('base64url');
}

/** A cursor's order key, each value checked against its column's type (else QueryInputError). */
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
function afterCondition(order: readonly string[], key: readonly string[], params: Row): string {
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

/** ` LIMIT n`: inlined, so checked to be a count. */
function limitClause(limit: number | undefined): string {
  if (limit === undefined) return '';
  if (!Number.isSafeInteger(limit) || limit < 1) throw new QueryInputError(`invalid limit ${limit}`);
  return ` LIMIT ${limit}`;
}

export interface EventListing {
  /** Every column, the sealed ciphertext included (an event's hash covers it: for integrity checks); default the listed columns. */
  allColumns?: boolean;
  /** A cursor's key (decodeCursor with EVENT_ORDER): the rows after it. */
  after?: readonly string[];
  limit?: number;
}

/** SELECT of filtered events in EVENT_ORDER, optionally after a cursor and limited. */
function searchSql(store: Store, f: EventFilters, l: EventListing): { sql: string; params: Row } {
  const { where, params } = filterConditions(f);
  if (l.after) where.push(afterCondition(EVENT_ORDER, l.after, params));
  const sql =
    `SELECT ${l.allColumns ? '*' : LISTED_COLUMNS} FROM ${store.database}.events` +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY ${EVENT_ORDER.join(', ')}` +
    limitClause(l.limit);
  return { sql, params };
}

/** Filtered events, in EVENT_ORDER (a page: pass a limit). */
export function searchEvents(store: Store, f: EventFilters, l: EventListing, o: ReadOptions): Promise<Row[]> {
  const { sql, params } = searchSql(store, f, l);
  return readerRows(store, sql, params, o);
}

/** Filtered events in a ClickHouse format (JSONEachRow, ...), streamed as the engine sends them. */
export function streamEvents(store: Store, f: EventFilters, l: EventListing, format: string, o: ReadOptions): AsyncGenerator<Buffer> {
  const { sql, params } = searchSql(store, f, l);
  return readerStream(store, sql, params, format, o);
}

/** Filtered events, parsed one by one as they stream (for CSV). */
export function streamEventRows(store: Store, f: EventFilters, l: EventListing, o: ReadOptions): AsyncGenerator<Row> {
  const { sql, params } = searchSql(store, f, l);
  return readerRowStream(store, sql, params, o);
}

const scoped = (o: ReadOptions) => (o.tenants ? ' AND tenant IN {tenants:Array(String)}' : '');

/**
 * One stored event, every column, in the caller's tenants (undefined: none). An event stored
 * twice (in two chains) is read from the instance's own chains first (`ownChainPrefix`,
 * `<chain-id>-`), then by chain id and seq; `chain` reads it from that chain only.
 */
export async function storedEvent(store: Store, q: { id: string; ownChainPrefix: string; chain?: string }, o: ReadOptions): Promise<Row | undefined> {
  const params: Row = { id: q.id, own: q.ownChainPrefix, tenants: o.tenants ?? [] };
  if (q.chain !== undefined) params.chain = q.chain;
  const [row] = await readerRows(
    store,
    `SELECT * FROM ${store.database}.events WHERE event_id = {id:String}${scoped(o)}` +
      (q.chain !== undefined ? ' AND chain_id = {chain:String}' : '') +
      ' ORDER BY startsWith(chain_id, {own:String}) DESC, chain_id, seq LIMIT 1',
    params,
    o,
  );
  return row;
}

/** The columns of a reference to an event (links, approvals). */
const REF_COLUMNS = 'event_id, event_type, name, event_time, trace_id, span_id, correlation_id, actor_id, decision, reviewer_id, tenant';

/** The events of these spans (the first 100), in the caller's tenants: what an event's span links point at. */
export function linkedEvents(store: Store, links: ReadonlyArray<{ trace_id: string; span_id: string }>, o: ReadOptions): Promise<Row[]> {
  const first = links.slice(0, 100);
  const conds = first.map((_, i) => `(trace_id = {t${i}:String} AND span_id = {s${i}:String})`);
  const params: Row = { tenants: o.tenants ?? [] };
  first.forEach((l, i) => {
    params[`t${i}`] = l.trace_id;
    params[`s${i}`] = l.span_id;
  });
  return readerRows(
    store,
    `SELECT ${REF_COLUMNS} FROM ${store.database}.events WHERE (${conds.join(' OR ')})${scoped(o)} ORDER BY event_time, event_id LIMIT 1000`,
    params,
    o,
  );
}

/** The approval events whose links point at this span, in the caller's tenants. */
export function approvalsOf(store: Store, span: { trace_id: string; span_id: string }, o: ReadOptions): Promise<Row[]> {
  return readerRows(
    store,
    `SELECT ${REF_COLUMNS} FROM ${store.database}.events WHERE event_type = 'approval'${scoped(o)} ` +
      'AND arrayExists(l -> tupleElement(l, 1) = {trace:String} AND tupleElement(l, 2) = {span:String}, links) ORDER BY event_time, event_id LIMIT 1000',
    { trace: span.trace_id, span: span.span_id, tenants: o.tenants ?? [] },
    o,
  );
}

const caseWhere = (o: ReadOptions) => `correlation_id = {id:String}${scoped(o)}`;

export interface CaseSummary {
  byType: Array<{ event_type: string; n: string }>;
  /** Absent or n = 0: no events of the case in the caller's tenants. */
  totals?: { n: string; first_time: string; last_time: string; actors: string[]; tenants: string[]; traces: string };
}

/** A case's counts by event type, its first and last time, actors (at most 100), tenants and traces. */
export async function caseSummary(store: Store, correlationId: string, o: ReadOptions): Promise<CaseSummary> {
  const db = store.database;
  const params = { id: correlationId, tenants: o.tenants ?? [] };
  const [byType, [totals]] = await Promise.all([
    readerRows<{ event_type: string; n: string }>(store, `SELECT event_type, count() AS n FROM ${db}.events WHERE ${caseWhere(o)} GROUP BY event_type ORDER BY event_type`, params, o),
    readerRows<NonNullable<CaseSummary['totals']>>(
      store,
      `SELECT count() AS n, min(event_time) AS first_time, max(event_time) AS last_time, groupUniqArrayIf(100)(actor_id, actor_id != '') AS actors, ` +
        `groupUniqArray(tenant) AS tenants, uniqExact(trace_id) AS traces FROM ${db}.events WHERE ${caseWhere(o)}`,
      params,
      o,
    ),
  ]);
  return { byType, totals };
}

/** Every event of a case, every column, in CASE_ORDER, streamed (for its integrity). */
export function caseEvents(store: Store, correlationId: string, o: ReadOptions): AsyncGenerator<Row> {
  return readerRowStream(
    store,
    `SELECT * FROM ${store.database}.events WHERE ${caseWhere(o)} ORDER BY ${CASE_ORDER.join(', ')}`,
    { id: correlationId, tenants: o.tenants ?? [] },
    o,
  );
}

/** A page of a case's events in CASE_ORDER: `limit` rows after the cursor's key (decodeCursor with CASE_ORDER). */
export function caseEventsPage(store: Store, correlationId: string, l: EventListing & { limit: number }, o: ReadOptions): Promise<Row[]> {
  const params: Row = { id: correlationId, tenants: o.tenants ?? [] };
  const where = [caseWhere(o)];
  if (l.after) where.push(afterCondition(CASE_ORDER, l.after, params));
  return readerRows(
    store,
    `SELECT ${l.allColumns ? '*' : LISTED_COLUMNS} FROM ${store.database}.events WHERE ${where.join(' AND ')} ORDER BY ${CASE_ORDER.join(', ')}${limitClause(l.limit)}`,
    params,
    o,
  );
}

/** What opening an event's sealed content needs (policy/reviewer.ts). */
export interface SealedEventRow {
  event_id: string;
  tenant: string;
  risk: string;
  on_behalf_of: string;
  actor_id: string;
  correlation_id: string;
  content_sealed: string;
  /** Why an event of the sealed policy has no sealed content (`otel_audit.content_sealed`: unavailable, erased). */
  sealed_note?: string;
}

/**
 * An event's sealed content and whose it is, by id, in the caller's session. The statement
 * names no tenant: the caller checks the row's tenant against its scope.
 */
export async function sealedEvent(store: Store, id: string, o: ReadOptions): Promise<SealedEventRow | undefined> {
  const rows = await readerRows<SealedEventRow>(
    store,
    `SELECT event_id, tenant, risk, on_behalf_of, actor_id, correlation_id, content_sealed, attributes['otel_audit.content_sealed'] AS sealed_note FROM ${store.database}.events WHERE event_id = {id:String} LIMIT 1`,
    { id },
    o,
  );
  return rows[0];
}
