/**
 * Cases for `not-executed` (a proposal that led to no effect within its window) and for how
 * approval-bypass reads an `overridden` decision, as stored rows: each incident beside its near
 * misses. Times are seconds after BASE (scenarios.ts); the tests expect alerts on exactly the
 * FIRES_* cases. The default window is 24 h.
 */
import { ev, linkTo, type Row } from './scenarios.ts';

const H = 3600;

/** A proposal needing approval, on a CRM record of its case. */
const proposal = (c: string, at: number, extra: Record<string, unknown> = {}) =>
  ev('tool_call', at, { correlation_id: c, name: 'execute_tool crm_update', tool_name: 'crm_update', action: 'update', approval_required: true, target_system: 'crm', target_id: `ACC-${c}`, ...extra });
const effect = (c: string, at: number, extra: Record<string, unknown> = {}) =>
  ev('system_effect', at, { correlation_id: c, name: 'crm.update', effect: 'record_updated', action: 'update', target_system: 'crm', target_id: `ACC-${c}`, actor_id: 'crm-connector', ...extra });
const decision = (c: string, at: number, p: Row, d: string) =>
  ev('approval', at, { correlation_id: c, name: `approval ${d}`, decision: d, reviewer_id: 'lead-7', actor_id: 'lead-7', links: linkTo(p) });
/** Recorded under `parent`'s span, in its trace. */
const under = (parent: Row) => ({ trace_id: parent.trace_id, parent_span_id: parent.span_id });

export function notExecutedCases(): Row[] {
  const out: Row[] = [];
  // Never decided, never carried out.
  out.push(proposal('FIRES_NE_UNDECIDED', 0));
  // Rejected, and (rightly) not carried out: the negative, recorded.
  const p2 = proposal('FIRES_NE_REJECTED', 0);
  out.push(p2, decision('FIRES_NE_REJECTED', 60, p2, 'rejected'));
  // Approved, yet nothing carried it out.
  const p3 = proposal('FIRES_NE_APPROVED_NEVER_RUN', 0);
  out.push(p3, decision('FIRES_NE_APPROVED_NEVER_RUN', 60, p3, 'approved'));
  // Approved; the effect comes a minute after the window.
  const p4 = proposal('FIRES_NE_LATE_EFFECT', 0);
  out.push(p4, decision('FIRES_NE_LATE_EFFECT', 60, p4, 'approved'), effect('FIRES_NE_LATE_EFFECT', 24 * H + 60));
  // Two proposals on one record: the first rejected, the second approved and carried out. The
  // effect acts on the latest proposal before it: the first one was not executed.
  const p5a = proposal('FIRES_NE_SUPERSEDED', 0, { name: 'execute_tool crm_update (first)' });
  const p5b = proposal('FIRES_NE_SUPERSEDED', 100, { name: 'execute_tool crm_update (second)' });
  out.push(p5a, decision('FIRES_NE_SUPERSEDED', 50, p5a, 'rejected'), p5b, decision('FIRES_NE_SUPERSEDED', 150, p5b, 'approved'), effect('FIRES_NE_SUPERSEDED', 200));

  // Near misses: each carried out within the window, tied in each of the ways an effect is.
  const q1 = proposal('QUIET_NE_ON_TARGET', 0);
  out.push(q1, decision('QUIET_NE_ON_TARGET', 60, q1, 'approved'), effect('QUIET_NE_ON_TARGET', 120));
  const q2 = proposal('QUIET_NE_UNDER_DECISION', 0, { target_id: '' });
  const d2 = decision('QUIET_NE_UNDER_DECISION', 60, q2, 'approved');
  out.push(q2, d2, effect('QUIET_NE_UNDER_DECISION', 120, { target_system: 'mail', target_id: 'MSG-1', ...under(d2) }));
  const q3 = proposal('QUIET_NE_LINKED', 0);
  out.push(q3, effect('QUIET_NE_LINKED', 120, { target_system: 'mail', target_id: 'MSG-2', links: linkTo(q3) }));
  const q4 = proposal('QUIET_NE_CHILD_OF_PROPOSAL', 0, { target_id: '' });
  out.push(q4, effect('QUIET_NE_CHILD_OF_PROPOSAL', 1, { target_id: '', ...under(q4) }));
  // Overridden, and the person's replacement carried out under the override.
  const q5 = proposal('QUIET_NE_UNDER_OVERRIDE', 0, { target_id: '' });
  const d5 = decision('QUIET_NE_UNDER_OVERRIDE', 60, q5, 'overridden');
  out.push(q5, d5, effect('QUIET_NE_UNDER_OVERRIDE', 120, { target_id: '', ...under(d5) }));
  // Just inside the window (24 h less a second).
  const q6 = proposal('QUIET_NE_JUST_IN_WINDOW', 0);
  out.push(q6, decision('QUIET_NE_JUST_IN_WINDOW', 60, q6, 'approved'), effect('QUIET_NE_JUST_IN_WINDOW', 24 * H - 1));
  // A tool call that needs no approval is no proposal.
  out.push(ev('tool_call', 0, { correlation_id: 'QUIET_NE_NOT_A_PROPOSAL', tool_name: 'crm_update', action: 'update', target_system: 'crm', target_id: 'ACC-N' }));
  // An effect on the record, but in another case: not this proposal's.
  out.push(proposal('FIRES_NE_OTHER_CASE', 0), effect('ELSEWHERE', 120, { target_id: 'ACC-FIRES_NE_OTHER_CASE' }));
  return out;
}

/** A proposal of one tenant, and an effect on its case and target stored under another: it does not count. */
export function tenantCases(): { proposals: Row[]; effects: Row[] } {
  return { proposals: [proposal('FIRES_NE_OTHER_TENANT', 0)], effects: [effect('FIRES_NE_OTHER_TENANT', 120)] };
}

/**
 * As the bridge's timer sees them, `nowMs` being now: a proposal 25 h old with no effect (its
 * window has ended: judged), and one an hour old (its window is still open: not yet).
 */
export function recentCases(nowMs: number): Row[] {
  const at = (r: Row, ago: number) => {
    const t = new Date(nowMs - ago * 1000).toISOString().replace('T', ' ').replace('Z', '000000');
    return { ...r, event_time: t, ingest_time: t };
  };
  return [at(proposal('FIRES_NE_TIMER', 0), 25 * H), at(proposal('QUIET_NE_WINDOW_OPEN', 0), H)];
}

/** approval-bypass and `overridden`: an effect carries out the override only when it is recorded under it or linked to it. */
export function overrideCases(): Row[] {
  const out: Row[] = [];
  const p1 = proposal('QUIET_BYPASS_UNDER_OVERRIDE', 0);
  const d1 = decision('QUIET_BYPASS_UNDER_OVERRIDE', 5, p1, 'overridden');
  out.push(p1, d1, effect('QUIET_BYPASS_UNDER_OVERRIDE', 10, under(d1)));
  const p2 = proposal('QUIET_BYPASS_LINKED_TO_OVERRIDE', 0);
  const d2 = decision('QUIET_BYPASS_LINKED_TO_OVERRIDE', 5, p2, 'overridden');
  out.push(p2, d2, effect('QUIET_BYPASS_LINKED_TO_OVERRIDE', 10, { links: linkTo(d2) }));
  // Overridden, then an effect on the record that is not the override's: the AI's proposal ran.
  const p3 = proposal('FIRES_BYPASS_AFTER_OVERRIDDEN', 0);
  out.push(p3, decision('FIRES_BYPASS_AFTER_OVERRIDDEN', 5, p3, 'overridden'), effect('FIRES_BYPASS_AFTER_OVERRIDDEN', 10, { links: linkTo(p3) }));
  // Under an override of an earlier decision, but approved since: fine (the last decision counts).
  const p4 = proposal('QUIET_BYPASS_APPROVED_AFTER_OVERRIDE', 0);
  out.push(p4, decision('QUIET_BYPASS_APPROVED_AFTER_OVERRIDE', 5, p4, 'overridden'), decision('QUIET_BYPASS_APPROVED_AFTER_OVERRIDE', 8, p4, 'approved'), effect('QUIET_BYPASS_APPROVED_AFTER_OVERRIDE', 10));
  return out;
}
