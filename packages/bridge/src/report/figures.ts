/**
 * The figures of a compliance report: each one SQL statement over the audit database, for a
 * period [from, to) and the reader's tenants. The statements are the store's
 * (store/report-figures.ts: FIGURE_SQL, figureSql); this file gives each its title and meaning.
 * The same text is printed in the report's appendix and in docs/compliance.md, so that anyone
 * can re-derive every figure with `otel-audit sql`.
 */
import { FIGURE_SQL, type FigureId } from '../store/index.ts';

export { FIGURE_IDS, figureSql, type FigureId } from '../store/index.ts';

export interface Figure {
  title: string;
  /** What it shows, in a sentence. */
  meaning: string;
  sql: string;
}

export const FIGURES: Record<FigureId, Figure> = {
  activity: {
    title: 'Activity recorded',
    meaning: 'events recorded in the period, the days that have any, the services and cases they come from, and the first and last event',
    sql: FIGURE_SQL.activity,
  },
  events_by_type: {
    title: 'Events by type',
    meaning: 'what kind of step each recorded event is',
    sql: FIGURE_SQL.events_by_type,
  },
  risk_levels: {
    title: 'Events by risk level',
    meaning: 'the risk level each event was recorded with (audit.risk, else the bridge default)',
    sql: FIGURE_SQL.risk_levels,
  },
  identity_coverage: {
    title: 'Who and which case, for model calls',
    meaning: 'model calls, those that name who or what acted, and those tied to a case (a correlation id of their own, not the trace id)',
    sql: FIGURE_SQL.identity_coverage,
  },
  decisions: {
    title: 'Human decisions',
    meaning: 'approval events by decision (approved, edited, rejected, blocked, escalated, returned, overridden)',
    sql: FIGURE_SQL.decisions,
  },
  proposals: {
    title: 'Proposals that required approval',
    meaning: 'tool calls marked as needing approval, and those with a decision linked to them',
    sql: FIGURE_SQL.proposals,
  },
  human_oversight: {
    title: 'Human oversight of high-risk cases',
    meaning: 'cases with a high-risk event in the period, and those with at least one human decision recorded',
    sql: FIGURE_SQL.human_oversight,
  },
  outcomes: {
    title: 'Outcomes',
    meaning: 'how recorded activities ended (completed, failed, rejected, corrected, rolled back, paused)',
    sql: FIGURE_SQL.outcomes,
  },
  models: {
    title: 'Models and prompt versions in use',
    meaning: 'model calls by provider, model and prompt version (the 50 most used)',
    sql: FIGURE_SQL.models,
  },
  purposes: {
    title: 'Purposes of processing',
    meaning: 'events by the purpose the application declared (audit.purpose)',
    sql: FIGURE_SQL.purposes,
  },
  access: {
    title: 'Reads of the trail',
    meaning: 'access events: sealed content opened, exports, evidence packs, each recorded with who read; and erasures (action erase), with who erased',
    sql: FIGURE_SQL.access,
  },
  alerts: {
    title: 'Detections (alerts)',
    meaning: 'incidents the detection rules raised about events of the period, by rule and severity',
    sql: FIGURE_SQL.alerts,
  },
  checkpoints: {
    title: 'Signed checkpoints',
    meaning: 'signed checkpoints (chain heads and Merkle roots) made in the period, per hash chain; they cover every tenant',
    sql: FIGURE_SQL.checkpoints,
  },
  oldest_event: {
    title: 'Oldest event held',
    meaning: 'the oldest event still in the store (what retention has kept), whatever the period',
    sql: FIGURE_SQL.oldest_event,
  },
};
