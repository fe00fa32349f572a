/**
 * What the detections (detect/) read: each rule's rows of `events` (the rules in detect/rules.ts
 * decide which rows make an alert; detect/README.md has the semantics), the alert ids stored
 * already, and the alerts listing. Values the user gives are bound parameters (`{name:Type}`);
 * the few literals inlined come from the validated policy (detect/config.ts) and go through
 * quoteString. The rules' reads run on the store's own connection (the detector is the bridge's,
 * not a reader's); listAlerts runs in the caller's read-only, tenant-scoped session (reads.ts).
 * Exported as the `detection` namespace of index.ts (`detection.effects`, ...): the rules' own
 * short words, kept apart from the other stages' reads.
 */
import { readerRows, type ReadOptions } from './reads.ts';
import { quoteString, type Store } from './store.ts';

/** The time range and tenant scope every rule's read shares: event_time in [from, to). */
export interface RangeParams {
  /** 'YYYY-MM-DD hh:mm:ss.sss' (UTC). */
  from: string;
  to: string;
  /** Only these tenants; null: every tenant. */
  tenants: readonly string[] | null;
}

const list = (xs: readonly string[]) => `[${xs.map(quoteString).join(', ')}]`;
const FROM = "toDateTime64({from:String}, 9, 'UTC')";
const TO = "toDateTime64({to:String}, 9, 'UTC')";

function rangeWhere(r: RangeParams, alias = ''): string {
  const a = alias ? `${alias}.` : '';
  return `${a}event_time >= ${FROM} AND ${a}event_time < ${TO}${r.tenants ? ` AND ${a}tenant IN {tenants:Array(String)}` : ''}`;
}

function params(r: RangeParams, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { from: r.from, to: r.to, tenants: r.tenants ?? [], ...extra };
}

const LINK_KEYS = "arrayMap(l -> concat(tupleElement(l, 1), '/', tupleElement(l, 2)), links)";
const SPAN_KEY = "concat(trace_id, '/', span_id)";
const PARENT_KEY = "concat(trace_id, '/', parent_span_id)";

/** One `require_approval` rule of the policy (detect/config.ts ApprovalRequirement); absent: any. */
export interface ApprovalRule {
  risk?: readonly string[];
  /** Default: every write-like action. */
  action?: readonly string[];
  tool?: readonly string[];
}

/** What makes a tool call a proposal (needing approval) and what makes one an effect. */
export interface ProposalPolicy {
  requireApproval: readonly ApprovalRule[];
  /** The write-like tool actions (detect/config.ts WRITE_ACTIONS). */
  writeActions: readonly string[];
}

/** A tool call that needs approval: `audit.approval.required`, or a policy rule. */
function proposalCondition(p: ProposalPolicy): string {
  const byPolicy = p.requireApproval.map((r) => {
    const c = [`action IN ${list(r.action ?? p.writeActions)}`];
    if (r.risk) c.push(`risk IN ${list(r.risk)}`);
    if (r.tool) c.push(`tool_name IN ${list(r.tool)}`);
    return `(${c.join(' AND ')})`;
  });
  return `(event_type = 'tool_call' AND (approval_required${byPolicy.map((c) => ` OR ${c}`).join('')}))`;
}

/** Something acting: a system effect, or a write-like tool call that is not itself a proposal. */
function effectCondition(p: ProposalPolicy): string {
  return `((event_type = 'system_effect' AND effect != 'none') OR (event_type = 'tool_call' AND action IN ${list(p.writeActions)} AND NOT ${proposalCondition(p)}))`;
}

export interface EffectRow {
  event_id: string;
  tenant: string;
  correlation_id: string;
  event_type: string;
  name: string;
  action: string;
  effect: string;
  target_system: string;
  target_id: string;
  actor_id: string;
  t: string;
  link_keys: string[];
  /** `trace_id/parent_span_id`: the span it was recorded under (an overriding decision's, say). */
  parent_key: string;
}

/** The effects in range: system effects, and write-like tool calls that are not proposals. */
export function effects(store: Store, r: RangeParams, p: ProposalPolicy): Promise<EffectRow[]> {
  return store.rows(
    `SELECT event_id, tenant, correlation_id, event_type, name, action, effect, target_system, target_id, actor_id, toString(event_time) AS t, ${LINK_KEYS} AS link_keys, ${PARENT_KEY} AS parent_key ` +
      `FROM ${store.database}.events WHERE ${rangeWhere(r)} AND ${effectCondition(p)} ORDER BY event_time, event_id LIMIT 100000`,
    params(r),
  );
}

export interface ProposalRow {
  event_id: string;
  tenant: string;
  correlation_id: string;
  span_key: string;
  name: string;
  tool_name: string;
  target_system: string;
  target_id: string;
  approval_required: boolean;
  t: string;
}

/** The proposals the effects in range may act on: linked from them, or in their cases. */
export function proposals(store: Store, r: RangeParams, p: ProposalPolicy): Promise<ProposalRow[]> {
  const db = store.database;
  const effectsFrom = `FROM ${db}.events WHERE ${rangeWhere(r)} AND ${effectCondition(p)}`;
  return store.rows(
    `SELECT event_id, tenant, correlation_id, ${SPAN_KEY} AS span_key, name, tool_name, target_system, target_id, approval_required, toString(event_time) AS t ` +
      `FROM ${db}.events WHERE ${proposalCondition(p)} AND event_time < ${TO}${r.tenants ? ' AND tenant IN {tenants:Array(String)}' : ''} AND (` +
      `(tenant, ${SPAN_KEY}) IN (SELECT tenant, arrayJoin(${LINK_KEYS}) ${effectsFrom}) OR (tenant, correlation_id) IN (SELECT tenant, correlation_id ${effectsFrom})) ` +
      `ORDER BY event_time, event_id LIMIT 100000`,
    params(r),
  );
}

export interface DecisionRow {
  event_id: string;
  tenant: string;
  decision: string;
  reviewer_id: string;
  t: string;
  link_key: string;
  /** The decision's own span, `trace_id/span_id`: what an effect recorded under it names as parent. */
  span_key: string;
}

/** The decisions linked to these proposal spans (`trace_id/span_id`). */
export function decisions(store: Store, spanKeys: readonly string[], tenants: readonly string[] | null): Promise<DecisionRow[]> {
  return store.rows(
    `SELECT event_id, tenant, decision, reviewer_id, toString(event_time) AS t, concat(tupleElement(l, 1), '/', tupleElement(l, 2)) AS link_key, ${SPAN_KEY} AS span_key ` +
      `FROM ${store.database}.events ARRAY JOIN links AS l WHERE event_type = 'approval' AND link_key IN {keys:Array(String)}` +
      `${tenants ? ' AND tenant IN {tenants:Array(String)}' : ''} ORDER BY event_time, event_id`,
    { keys: spanKeys, tenants: tenants ?? [] },
  );
}

export interface GroupRow {
  tenant: string;
  correlation_id: string;
  actor_id: string;
  tool_name: string;
  n: string;
  ids: string[];
  first: string;
  last: string;
  kinds: string[];
  targets: string[];
}

const GROUP_COLUMNS =
  "tenant, correlation_id, actor_id, tool_name, count() AS n, groupArray(50)(event_id) AS ids, toString(min(event_time)) AS first, toString(max(event_time)) AS last, " +
  "groupUniqArrayIf(10)(concat(target_system, if(target_id != '', concat('/', target_id), '')), target_system != '') AS targets";

/** Denied permission checks, per case, actor and tool. */
export function denied(store: Store, r: RangeParams): Promise<GroupRow[]> {
  return store.rows(
    `SELECT ${GROUP_COLUMNS}, groupUniqArray(10)(event_type) AS kinds FROM ${store.database}.events WHERE ${rangeWhere(r)} AND permission = 'denied' GROUP BY tenant, correlation_id, actor_id, tool_name ORDER BY first`,
    params(r),
  );
}

/** Guardrail blocks, content filters, refusals and `blocked` decisions, per case, actor and tool. */
export function blocked(store: Store, r: RangeParams): Promise<GroupRow[]> {
  const kind = "multiIf(decision = 'blocked', 'blocked decision', error_type = 'content_filter', 'content filter', outcome = 'rejected', 'refusal', 'guardrail block')";
  return store.rows(
    `SELECT ${GROUP_COLUMNS}, groupUniqArray(10)(${kind}) AS kinds FROM ${store.database}.events WHERE ${rangeWhere(r)} ` +
      `AND ((status = 'denied' AND permission != 'denied') OR decision = 'blocked') GROUP BY tenant, correlation_id, actor_id, tool_name ORDER BY first`,
    params(r),
  );
}

export interface CorrectionRow {
  tenant: string;
  key: string;
  bucket: string;
  corrections: string;
  outcomes: string;
  ids: string[];
  first: string;
  last: string;
}

/**
 * Outcomes per prompt version (the outcome's own, else its case's) or workflow, per window:
 * the windows where corrections and roll-backs reach both thresholds.
 */
export function corrections(store: Store, r: RangeParams, windowSeconds: number, minCount: number, minRate: number): Promise<CorrectionRow[]> {
  const db = store.database;
  const scoped = r.tenants ? ' AND tenant IN {tenants:Array(String)}' : '';
  return store.rows(
    `SELECT o.tenant AS tenant, multiIf(o.prompt_version != '', concat('prompt version ', o.prompt_version), c.pv != '', concat('prompt version ', c.pv), ` +
      `o.workflow != '', concat('workflow ', o.workflow), concat('service ', o.service_name)) AS key, ` +
      `toString(toStartOfInterval(o.event_time, toIntervalSecond(${windowSeconds}))) AS bucket, countIf(o.outcome IN ('corrected', 'rolled_back')) AS corrections, count() AS outcomes, ` +
      `groupArrayIf(50)(o.event_id, o.outcome IN ('corrected', 'rolled_back')) AS ids, toString(min(o.event_time)) AS first, toString(max(o.event_time)) AS last ` +
      `FROM (SELECT tenant, correlation_id, event_id, event_time, outcome, prompt_version, service_name, attributes['gen_ai.workflow.name'] AS workflow FROM ${db}.events ` +
      `WHERE ${rangeWhere(r)} AND outcome != '') AS o ` +
      `LEFT JOIN (SELECT tenant, correlation_id, any(prompt_version) AS pv FROM ${db}.events WHERE prompt_version != ''${scoped} ` +
      `AND correlation_id IN (SELECT correlation_id FROM ${db}.events WHERE ${rangeWhere(r)} AND outcome != '') GROUP BY tenant, correlation_id) AS c ` +
      `ON c.tenant = o.tenant AND c.correlation_id = o.correlation_id ` +
      `GROUP BY tenant, key, bucket HAVING corrections >= ${Math.floor(minCount)} AND corrections >= ${Number(minRate)} * outcomes ORDER BY first`,
    params(r),
  );
}

export interface HourRow {
  tenant: string;
  actor_id: string;
  hour: string;
  n: string;
}

/**
 * Events per actor and clock hour, from `baselineSeconds` before the range to its end: the busy
 * hours of the range and every actor's history before them, in one read.
 */
export function hourlyCounts(store: Store, r: RangeParams, baselineSeconds: number): Promise<HourRow[]> {
  const db = store.database;
  return store.rows(
    `SELECT tenant, actor_id, toString(toStartOfHour(event_time)) AS hour, count() AS n FROM ${db}.events ` +
      `WHERE event_time >= ${FROM} - toIntervalSecond(${Math.floor(baselineSeconds)}) AND event_time < ${TO}${r.tenants ? ' AND tenant IN {tenants:Array(String)}' : ''} ` +
      `AND actor_id != '' AND event_type != 'access' ` +
      `AND (tenant, actor_id) IN (SELECT tenant, actor_id FROM ${db}.events WHERE ${rangeWhere(r)} AND actor_id != '') GROUP BY tenant, actor_id, hour ORDER BY tenant, actor_id, hour`,
    params(r),
  );
}

export interface HourEventsRow {
  ids: string[];
  first: string;
  last: string;
}

/** Up to 20 events of an actor's hour (what an unusual-volume alert cites). */
export async function hourEvents(store: Store, tenant: string, actor: string, hour: string): Promise<HourEventsRow | undefined> {
  const [row] = await store.rows<HourEventsRow>(
    `SELECT groupArray(20)(event_id) AS ids, toString(min(event_time)) AS first, toString(max(event_time)) AS last FROM ${store.database}.events ` +
      `WHERE tenant = {tenant:String} AND actor_id = {actor:String} AND event_type != 'access' ` +
      `AND event_time >= toDateTime64({hour:String}, 9, 'UTC') AND event_time < toDateTime64({hour:String}, 9, 'UTC') + toIntervalHour(1)`,
    { tenant, actor, hour },
  );
  return row;
}

export interface SensitiveRow {
  event_id: string;
  tenant: string;
  correlation_id: string;
  risk: string;
  actor_id: string;
  t: string;
  hits: string[];
}

/** Retrievals that returned a source more sensitive than their flow's risk allows. */
export function sensitive(store: Store, r: RangeParams, levels: readonly string[], max: Record<'low' | 'medium' | 'high', string>): Promise<SensitiveRow[]> {
  const rank = (e: string) => `indexOf(${list(levels.map((l) => l.toLowerCase()))}, ${e})`;
  const allowed = `multiIf(risk = 'low', ${quoteString(max.low.toLowerCase())}, risk = 'high', ${quoteString(max.high.toLowerCase())}, ${quoteString(max.medium.toLowerCase())})`;
  return store.rows(
    `SELECT event_id, tenant, correlation_id, risk, actor_id, toString(event_time) AS t, ` +
      `arrayMap(s -> concat(tupleElement(s, 'id'), ' (', tupleElement(s, 'sensitivity'), ')'), arrayFilter(s -> ${rank("lower(tupleElement(s, 'sensitivity'))")} > ${rank(allowed)}, sources)) AS hits ` +
      `FROM ${store.database}.events WHERE ${rangeWhere(r)} AND event_type = 'retrieval' AND notEmpty(sources) AND notEmpty(hits) ORDER BY event_time, event_id LIMIT 100000`,
    params(r),
  );
}

export interface IdentityGapRow {
  tenant: string;
  service_name: string;
  day: string;
  no_actor: string;
  no_correlation: string;
  ids: string[];
  first: string;
  last: string;
}

/** Model calls with no actor or no correlation id of their own, per service and day. */
export function identityGaps(store: Store, r: RangeParams): Promise<IdentityGapRow[]> {
  return store.rows(
    `SELECT tenant, service_name, toString(toDate(event_time)) AS day, countIf(actor_id = '') AS no_actor, countIf(correlation_source = 'trace') AS no_correlation, ` +
      `groupArray(20)(event_id) AS ids, toString(min(event_time)) AS first, toString(max(event_time)) AS last FROM ${store.database}.events ` +
      `WHERE ${rangeWhere(r)} AND event_type = 'model_call' AND (actor_id = '' OR correlation_source = 'trace') GROUP BY tenant, service_name, day ORDER BY first`,
    params(r),
  );
}

export interface UnreviewedRow {
  tenant: string;
  correlation_id: string;
  ids: string[];
  high: string;
  first: string;
  last: string;
}

/** High-risk cases (a high-risk event in range) with no approval event at all. */
export function unreviewed(store: Store, r: RangeParams): Promise<UnreviewedRow[]> {
  const db = store.database;
  const scoped = r.tenants ? ' AND tenant IN {tenants:Array(String)}' : '';
  return store.rows(
    `SELECT tenant, correlation_id, groupArrayIf(20)(event_id, risk = 'high') AS ids, countIf(risk = 'high') AS high, ` +
      `toString(minIf(event_time, risk = 'high')) AS first, toString(maxIf(event_time, risk = 'high')) AS last FROM ${db}.events ` +
      `WHERE event_type != 'access'${scoped} AND (tenant, correlation_id) IN (SELECT tenant, correlation_id FROM ${db}.events WHERE ${rangeWhere(r)} AND risk = 'high' AND event_type != 'access') ` +
      `GROUP BY tenant, correlation_id HAVING countIf(event_type = 'approval') = 0 ORDER BY first`,
    params(r),
  );
}

export interface OpenProposalRow {
  event_id: string;
  tenant: string;
  correlation_id: string;
  name: string;
  actor_id: string;
  t: string;
}

/** Proposals in range that nothing decided or acted on: no linked event, no effect on their target. */
export function openProposals(store: Store, r: RangeParams, p: ProposalPolicy): Promise<OpenProposalRow[]> {
  const db = store.database;
  return store.rows(
    `SELECT event_id, tenant, correlation_id, name, actor_id, toString(event_time) AS t FROM ${db}.events AS p WHERE ${rangeWhere(r)} AND ${proposalCondition(p)} ` +
      `AND (tenant, ${SPAN_KEY}) NOT IN (SELECT tenant, arrayJoin(${LINK_KEYS}) FROM ${db}.events WHERE notEmpty(links) AND event_type != 'access') ` +
      `AND (target_id = '' OR (tenant, correlation_id, target_system, target_id) NOT IN ` +
      `(SELECT tenant, correlation_id, target_system, target_id FROM ${db}.events WHERE event_type = 'system_effect' AND target_id != '')) ` +
      `ORDER BY event_time, event_id LIMIT 100000`,
    params(r),
  );
}

export interface JudgedProposalRow {
  event_id: string;
  tenant: string;
  correlation_id: string;
  span_key: string;
  name: string;
  action: string;
  target_system: string;
  target_id: string;
  actor_id: string;
  t: string;
  /** Whether not-executed judges it now (its window overlaps the range and has ended); else it is another proposal of the same case. */
  judged: boolean;
}

/**
 * not-executed: the proposals whose window overlaps the range and ended by `until` (event time in
 * [from - window, to) and at or before `until`), with every other proposal of their cases: an
 * effect on a target carries out the latest proposal on it before the effect.
 */
export function notExecutedProposals(store: Store, r: RangeParams, p: ProposalPolicy, windowSeconds: number, until: string): Promise<JudgedProposalRow[]> {
  const db = store.database;
  const proposal = proposalCondition(p);
  const scoped = r.tenants ? ' AND tenant IN {tenants:Array(String)}' : '';
  const judged = `(event_time >= ${FROM} - toIntervalSecond(${Math.floor(windowSeconds)}) AND event_time < ${TO} AND event_time <= toDateTime64({until:String}, 9, 'UTC'))`;
  return store.rows(
    `SELECT event_id, tenant, correlation_id, ${SPAN_KEY} AS span_key, name, action, target_system, target_id, actor_id, toString(event_time) AS t, toBool(${judged}) AS judged ` +
      `FROM ${db}.events WHERE ${proposal}${scoped} AND (tenant, correlation_id) IN (SELECT tenant, correlation_id FROM ${db}.events WHERE ${proposal}${scoped} AND ${judged}) ` +
      `ORDER BY event_time, event_id LIMIT 100000`,
    params(r, { until }),
  );
}

export interface CandidateEffectRow {
  event_id: string;
  tenant: string;
  correlation_id: string;
  target_system: string;
  target_id: string;
  t: string;
  link_keys: string[];
  parent_key: string;
}

/**
 * Effects in [since, until] that may carry out one of these proposals: linked to, or recorded
 * under, one of `keys` (the proposals' and their decisions' spans), or acting on a target in one
 * of their cases. Which proposal each one carries out is decided by the rule.
 */
export function proposalEffects(
  store: Store,
  tenants: readonly string[] | null,
  p: ProposalPolicy,
  since: string,
  until: string,
  keys: readonly string[],
  cases: readonly string[],
): Promise<CandidateEffectRow[]> {
  return store.rows(
    `SELECT event_id, tenant, correlation_id, target_system, target_id, toString(event_time) AS t, ${LINK_KEYS} AS link_keys, ${PARENT_KEY} AS parent_key FROM ${store.database}.events ` +
      `WHERE event_time >= toDateTime64({since:String}, 9, 'UTC') AND event_time <= toDateTime64({until:String}, 9, 'UTC')${tenants ? ' AND tenant IN {tenants:Array(String)}' : ''} ` +
      `AND ${effectCondition(p)} AND (hasAny(link_keys, {keys:Array(String)}) OR parent_key IN {keys:Array(String)} OR (target_id != '' AND correlation_id IN {cases:Array(String)})) ` +
      `ORDER BY event_time, event_id LIMIT 100000`,
    { since, until, keys, cases, tenants: tenants ?? [] },
  );
}

export interface UncapturedRow {
  tenant: string;
  service_name: string;
  risk: string;
  day: string;
  n: string;
  ids: string[];
  first: string;
  last: string;
}

/** Model calls whose source sent no content (`otel_audit.content` = not_captured), per service, risk and day. */
export function uncaptured(store: Store, r: RangeParams): Promise<UncapturedRow[]> {
  return store.rows(
    `SELECT tenant, service_name, risk, toString(toDate(event_time)) AS day, count() AS n, groupArray(20)(event_id) AS ids, toString(min(event_time)) AS first, ` +
      `toString(max(event_time)) AS last FROM ${store.database}.events WHERE ${rangeWhere(r)} AND event_type = 'model_call' AND attributes['otel_audit.content'] = 'not_captured' ` +
      `GROUP BY tenant, service_name, risk, day ORDER BY first`,
    params(r),
  );
}

export interface UnsignedRow {
  chain_id: string;
  signed: string;
  unsigned: string;
  first_seq: string;
  ids: string[];
  oldest: string;
  first: string;
  last: string;
}

/**
 * Per chain, the events no signed checkpoint covers yet (seq above the newest checkpoint's tree
 * size) that were stored before `before`: a checkpointer that stopped signing.
 */
export function unsigned(store: Store, before: string): Promise<UnsignedRow[]> {
  const db = store.database;
  return store.rows(
    `SELECT e.chain_id AS chain_id, any(c.signed) AS signed, count() AS unsigned, min(e.seq) AS first_seq, groupArray(20)(e.event_id) AS ids, toString(min(e.ingest_time)) AS oldest, ` +
      `toString(min(e.event_time)) AS first, toString(max(e.event_time)) AS last FROM ${db}.events AS e ` +
      `LEFT JOIN (SELECT chain_id, max(tree_size) AS signed FROM ${db}.checkpoints GROUP BY chain_id) AS c ON c.chain_id = e.chain_id ` +
      `WHERE e.seq > c.signed AND e.ingest_time < toDateTime64({before:String}, 9, 'UTC') GROUP BY e.chain_id ORDER BY chain_id`,
    { before },
  );
}

/**
 * Inserts alerts (rows of the `alerts` table, as detect/ makes them). `dedupToken` names the
 * set, so that a retried insert is not stored twice.
 */
export function insertAlerts(store: Store, alerts: readonly object[], dedupToken: string): Promise<void> {
  return store.insertJsonEachRow('alerts', alerts.map((a) => JSON.stringify(a)).join('\n') + '\n', dedupToken);
}

/**
 * The alert ids among these that are stored already (an alert is raised once per incident).
 * Asked 1000 at a time, which bounds one statement's parameters.
 */
export async function storedAlertIds(store: Store, ids: readonly string[]): Promise<Set<string>> {
  const stored = new Set<string>();
  for (let at = 0; at < ids.length; at += 1000) {
    const rows = await store.rows<{ alert_id: string }>(`SELECT DISTINCT alert_id FROM ${store.database}.alerts WHERE alert_id IN {ids:Array(String)}`, {
      ids: ids.slice(at, at + 1000),
    });
    for (const r of rows) stored.add(r.alert_id);
  }
  return stored;
}

export interface AlertFilters {
  /** Incidents that end at or after `from` and start before `to`. */
  from?: string;
  to?: string;
  rules?: readonly string[];
  severity?: readonly string[];
  correlationId?: string;
  tenants: readonly string[] | null;
  limit: number;
}

const ALERT_LIST_COLUMNS =
  'alert_id, tenant, rule, severity, correlation_id, subject, event_ids, toString(first_event_time) AS first_event_time, toString(last_event_time) AS last_event_time, toString(detected_at) AS detected_at, explanation, details';

/** Stored alerts, one row per alert id (its first detection), oldest incident first, in the caller's session. */
export function listAlerts(store: Store, f: AlertFilters, o: ReadOptions): Promise<Array<Record<string, unknown>>> {
  const where: string[] = [];
  const p: Record<string, unknown> = {};
  if (f.tenants) {
    where.push('tenant IN {tenants:Array(String)}');
    p.tenants = f.tenants;
  }
  if (f.from) {
    where.push("last_event_time >= toDateTime64({from:String}, 9, 'UTC')");
    p.from = f.from;
  }
  if (f.to) {
    where.push("first_event_time < toDateTime64({to:String}, 9, 'UTC')");
    p.to = f.to;
  }
  if (f.rules?.length) {
    where.push('rule IN {rules:Array(String)}');
    p.rules = f.rules;
  }
  if (f.severity?.length) {
    where.push('severity IN {severity:Array(String)}');
    p.severity = f.severity;
  }
  if (f.correlationId !== undefined) {
    where.push('correlation_id = {correlation_id:String}');
    p.correlation_id = f.correlationId;
  }
  return readerRows(
    store,
    // Filtered on the typed columns inside; turned into text (the aliases) only outside.
    `SELECT ${ALERT_LIST_COLUMNS} FROM (SELECT * FROM ${store.database}.alerts${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ` +
      `ORDER BY alert_id, detected_at LIMIT 1 BY alert_id) ORDER BY first_event_time, alert_id LIMIT ${Math.floor(f.limit)}`,
    p,
    o,
  );
}
