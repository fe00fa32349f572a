/**
 * The figures of a compliance report: each one SQL statement over the audit database, for a
 * period [from, to) and the reader's tenants. The same text is printed in the report's appendix
 * and in docs/compliance.md, so that anyone can re-derive every figure with `otel-audit sql`.
 * `{from}` / `{to}` are the period's bounds; `{scope}` is `1` for every tenant, else the
 * reader's `tenant IN (...)`.
 */

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

export interface Figure {
  title: string;
  /** What it shows, in a sentence. */
  meaning: string;
  sql: string;
}

const PERIOD = "event_time >= toDateTime64({from}, 9, 'UTC') AND event_time < toDateTime64({to}, 9, 'UTC') AND {scope}";

export const FIGURES: Record<FigureId, Figure> = {
  activity: {
    title: 'Activity recorded',
    meaning: 'events recorded in the period, the days that have any, the services and cases they come from, and the first and last event',
    sql:
      'SELECT count() AS events, uniqExact(toDate(event_time)) AS days_with_events, uniqExact(service_name) AS services, uniqExact(correlation_id) AS cases, ' +
      `toString(min(event_time)) AS first_event, toString(max(event_time)) AS last_event FROM otel_audit.events WHERE ${PERIOD}`,
  },
  events_by_type: {
    title: 'Events by type',
    meaning: 'what kind of step each recorded event is',
    sql: `SELECT event_type, count() AS events FROM otel_audit.events WHERE ${PERIOD} GROUP BY event_type ORDER BY event_type`,
  },
  risk_levels: {
    title: 'Events by risk level',
    meaning: 'the risk level each event was recorded with (audit.risk, else the bridge default)',
    sql: `SELECT risk, count() AS events FROM otel_audit.events WHERE ${PERIOD} GROUP BY risk ORDER BY risk`,
  },
  identity_coverage: {
    title: 'Who and which case, for model calls',
    meaning: 'model calls, those that name who or what acted, and those tied to a case (a correlation id of their own, not the trace id)',
    sql:
      "SELECT count() AS model_calls, countIf(actor_id != '') AS with_actor, countIf(correlation_source != 'trace') AS with_case " +
      `FROM otel_audit.events WHERE ${PERIOD} AND event_type = 'model_call'`,
  },
  decisions: {
    title: 'Human decisions',
    meaning: 'approval events by decision (approved, edited, rejected, blocked, escalated, returned, overridden)',
    sql: `SELECT decision, count() AS decisions FROM otel_audit.events WHERE ${PERIOD} AND event_type = 'approval' GROUP BY decision ORDER BY decision`,
  },
  proposals: {
    title: 'Proposals that required approval',
    meaning: 'tool calls marked as needing approval, and those with a decision linked to them',
    sql:
      "SELECT count() AS proposals, countIf((tenant, concat(trace_id, '/', span_id)) IN (SELECT tenant, concat(tupleElement(l, 1), '/', tupleElement(l, 2)) " +
      "FROM otel_audit.events ARRAY JOIN links AS l WHERE event_type = 'approval' AND {scope})) AS decided " +
      `FROM otel_audit.events WHERE ${PERIOD} AND event_type = 'tool_call' AND approval_required`,
  },
  human_oversight: {
    title: 'Human oversight of high-risk cases',
    meaning: 'cases with a high-risk event in the period, and those with at least one human decision recorded',
    sql:
      "SELECT count() AS high_risk_cases, countIf(decisions > 0) AS reviewed FROM (SELECT tenant, correlation_id, countIf(event_type = 'approval') AS decisions " +
      `FROM otel_audit.events WHERE {scope} AND (tenant, correlation_id) IN (SELECT tenant, correlation_id FROM otel_audit.events WHERE ${PERIOD} AND risk = 'high') ` +
      'GROUP BY tenant, correlation_id)',
  },
  outcomes: {
    title: 'Outcomes',
    meaning: 'how recorded activities ended (completed, failed, rejected, corrected, rolled back, paused)',
    sql: `SELECT outcome, count() AS events FROM otel_audit.events WHERE ${PERIOD} AND outcome != '' GROUP BY outcome ORDER BY outcome`,
  },
  models: {
    title: 'Models and prompt versions in use',
    meaning: 'model calls by provider, model and prompt version (the 50 most used)',
    sql:
      "SELECT provider, if(response_model != '', response_model, request_model) AS model, prompt_version, count() AS model_calls FROM otel_audit.events " +
      `WHERE ${PERIOD} AND event_type = 'model_call' GROUP BY provider, model, prompt_version ORDER BY model_calls DESC, model LIMIT 50`,
  },
  purposes: {
    title: 'Purposes of processing',
    meaning: 'events by the purpose the application declared (audit.purpose)',
    sql: `SELECT purpose, count() AS events FROM otel_audit.events WHERE ${PERIOD} AND event_type != 'access' GROUP BY purpose ORDER BY purpose`,
  },
  access: {
    title: 'Reads of the trail',
    meaning: 'access events: sealed content opened, exports, evidence packs, each recorded with who read',
    sql: `SELECT purpose AS action, count() AS reads, uniqExact(actor_id) AS readers FROM otel_audit.events WHERE ${PERIOD} AND event_type = 'access' GROUP BY action ORDER BY action`,
  },
  alerts: {
    title: 'Detections (alerts)',
    meaning: 'incidents the detection rules raised about events of the period, by rule and severity',
    sql:
      "SELECT rule, severity, count() AS alerts FROM (SELECT * FROM otel_audit.alerts WHERE last_event_time >= toDateTime64({from}, 9, 'UTC') " +
      "AND first_event_time < toDateTime64({to}, 9, 'UTC') AND {scope} ORDER BY alert_id, detected_at LIMIT 1 BY alert_id) GROUP BY rule, severity ORDER BY rule, severity",
  },
  checkpoints: {
    title: 'Signed checkpoints',
    meaning: 'signed checkpoints (chain heads and Merkle roots) made in the period, per hash chain; they cover every tenant',
    sql:
      "SELECT chain_id, count() AS checkpoints, max(tree_size) AS events_covered, toString(max(created_at)) AS latest FROM otel_audit.checkpoints " +
      "WHERE created_at >= toDateTime64({from}, 3, 'UTC') AND created_at < toDateTime64({to}, 3, 'UTC') GROUP BY chain_id ORDER BY chain_id",
  },
  oldest_event: {
    title: 'Oldest event held',
    meaning: 'the oldest event still in the store (what retention has kept), whatever the period',
    sql: 'SELECT toString(min(event_time)) AS oldest_event, count() AS events_held FROM otel_audit.events WHERE {scope}',
  },
};

/** A figure's SQL for a period and scope, as the report prints it and runs it. */
export function figureSql(id: FigureId, o: { from: string; to: string; tenants: readonly string[] | null; database?: string }): string {
  const q = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
  const scope = o.tenants ? (o.tenants.length ? `tenant IN (${o.tenants.map(q).join(', ')})` : '0') : '1';
  let sql = FIGURES[id].sql.replaceAll('{from}', q(o.from)).replaceAll('{to}', q(o.to)).replaceAll('{scope}', scope);
  if (o.database && o.database !== 'otel_audit') sql = sql.replaceAll('otel_audit.', `${o.database}.`);
  return sql;
}
