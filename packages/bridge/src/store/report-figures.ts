/**
 * The SQL of each figure of a compliance report (report/): one statement over the audit
 * database, for a period [from, to) and the reader's tenants. The report prints this very text
 * (its appendix, and docs/compliance.md) so that anyone can re-derive every figure with
 * `otel-audit sql`: so it is written as a reader would type it (`otel_audit.` tables, the
 * period and scope as literals, no bound parameters). `{from}` / `{to}` are the period's
 * bounds; `{scope}` is `1` for every tenant, else the reader's `tenant IN (...)`.
 */
import { readerRows, type ReadOptions } from './reads.ts';
import { quoteString, type Store } from './store.ts';

export const FIGURE_IDS = [
  'activity',
  'events_by_type',
  'risk_levels',
  'identity_coverage',
  'decisions',
  'proposals',
  'human_oversight',
  'outcomes',
  'models',
  'purposes',
  'access',
  'alerts',
  'checkpoints',
  'oldest_event',
] as const;
export type FigureId = (typeof FIGURE_IDS)[number];

const PERIOD = "event_time >= toDateTime64({from}, 9, 'UTC') AND event_time < toDateTime64({to}, 9, 'UTC') AND {scope}";

/** Each figure's statement, with `{from}`, `{to}` and `{scope}` (report/figures.ts gives each its title and meaning). */
export const FIGURE_SQL: Record<FigureId, string> = {
  activity:
    'SELECT count() AS events, uniqExact(toDate(event_time)) AS days_with_events, uniqExact(service_name) AS services, uniqExact(correlation_id) AS cases, ' +
    `toString(min(event_time)) AS first_event, toString(max(event_time)) AS last_event FROM otel_audit.events WHERE ${PERIOD}`,
  events_by_type: `SELECT event_type, count() AS events FROM otel_audit.events WHERE ${PERIOD} GROUP BY event_type ORDER BY event_type`,
  risk_levels: `SELECT risk, count() AS events FROM otel_audit.events WHERE ${PERIOD} GROUP BY risk ORDER BY risk`,
  identity_coverage:
    "SELECT count() AS model_calls, countIf(actor_id != '') AS with_actor, countIf(correlation_source != 'trace') AS with_case " +
    `FROM otel_audit.events WHERE ${PERIOD} AND event_type = 'model_call'`,
  decisions: `SELECT decision, count() AS decisions FROM otel_audit.events WHERE ${PERIOD} AND event_type = 'approval' GROUP BY decision ORDER BY decision`,
  proposals:
    "SELECT count() AS proposals, countIf((tenant, concat(trace_id, '/', span_id)) IN (SELECT tenant, concat(tupleElement(l, 1), '/', tupleElement(l, 2)) " +
    "FROM otel_audit.events ARRAY JOIN links AS l WHERE event_type = 'approval' AND {scope})) AS decided " +
    `FROM otel_audit.events WHERE ${PERIOD} AND event_type = 'tool_call' AND approval_required`,
  human_oversight:
    "SELECT count() AS high_risk_cases, countIf(decisions > 0) AS reviewed FROM (SELECT tenant, correlation_id, countIf(event_type = 'approval') AS decisions " +
    `FROM otel_audit.events WHERE {scope} AND (tenant, correlation_id) IN (SELECT tenant, correlation_id FROM otel_audit.events WHERE ${PERIOD} AND risk = 'high') ` +
    'GROUP BY tenant, correlation_id)',
  outcomes: `SELECT outcome, count() AS events FROM otel_audit.events WHERE ${PERIOD} AND outcome != '' GROUP BY outcome ORDER BY outcome`,
  models:
    "SELECT provider, if(response_model != '', response_model, request_model) AS model, prompt_version, count() AS model_calls FROM otel_audit.events " +
    `WHERE ${PERIOD} AND event_type = 'model_call' GROUP BY provider, model, prompt_version ORDER BY model_calls DESC, model LIMIT 50`,
  purposes: `SELECT purpose, count() AS events FROM otel_audit.events WHERE ${PERIOD} AND event_type != 'access' GROUP BY purpose ORDER BY purpose`,
  access: `SELECT purpose AS action, count() AS reads, uniqExact(actor_id) AS readers FROM otel_audit.events WHERE ${PERIOD} AND event_type = 'access' GROUP BY action ORDER BY action`,
  alerts:
    "SELECT rule, severity, count() AS alerts FROM (SELECT * FROM otel_audit.alerts WHERE last_event_time >= toDateTime64({from}, 9, 'UTC') " +
    "AND first_event_time < toDateTime64({to}, 9, 'UTC') AND {scope} ORDER BY alert_id, detected_at LIMIT 1 BY alert_id) GROUP BY rule, severity ORDER BY rule, severity",
  checkpoints:
    "SELECT chain_id, count() AS checkpoints, max(tree_size) AS events_covered, toString(max(created_at)) AS latest FROM otel_audit.checkpoints " +
    "WHERE created_at >= toDateTime64({from}, 3, 'UTC') AND created_at < toDateTime64({to}, 3, 'UTC') GROUP BY chain_id ORDER BY chain_id",
  oldest_event: 'SELECT toString(min(event_time)) AS oldest_event, count() AS events_held FROM otel_audit.events WHERE {scope}',
};

/** A figure's SQL for a period and scope, as the report prints it and runs it. */
export function figureSql(id: FigureId, o: { from: string; to: string; tenants: readonly string[] | null; database?: string }): string {
  const scope = o.tenants ? (o.tenants.length ? `tenant IN (${o.tenants.map(quoteString).join(', ')})` : '0') : '1';
  let sql = FIGURE_SQL[id].replaceAll('{from}', quoteString(o.from)).replaceAll('{to}', quoteString(o.to)).replaceAll('{scope}', scope);
  if (o.database && o.database !== 'otel_audit') sql = sql.replaceAll('otel_audit.', `${o.database}.`);
  return sql;
}

/** The rows of a figure's statement (figureSql's text, as printed) in the reader's read-only session. */
export function figureRows<T = Record<string, unknown>>(store: Store, sql: string, o: ReadOptions): Promise<T[]> {
  return readerRows<T>(store, sql, {}, o);
}
