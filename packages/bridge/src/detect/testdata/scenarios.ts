/**
 * Small realistic cases for the rules, as stored rows: each rule's incidents and, beside them,
 * the near misses it must stay quiet on. Times are seconds after BASE (UTC). Every case id says
 * what it is; the tests expect alerts on exactly the FIRES_* cases.
 */
export const BASE_MS = Date.UTC(2026, 0, 5, 9, 0, 0);

let n = 0;
const hex = (len: number) => (++n).toString(16).padStart(len, '0');

export interface Row {
  event_id: string;
  tenant: string;
  event_time: string;
  ingest_time: string;
  event_type: string;
  name: string;
  trace_id: string;
  span_id: string;
  correlation_id: string;
  correlation_source: string;
  links: Array<{ trace_id: string; span_id: string }>;
  [k: string]: unknown;
}

export function time(seconds: number): string {
  return new Date(BASE_MS + seconds * 1000).toISOString().replace('T', ' ').replace('Z', '000000');
}

/** One stored event; `at` in seconds after BASE. */
export function ev(type: string, at: number, fields: Record<string, unknown> = {}): Row {
  return {
    event_id: hex(32),
    tenant: 'acme',
    event_time: time(at),
    ingest_time: time(at),
    event_type: type,
    name: `${type} ${n}`,
    trace_id: hex(32),
    span_id: hex(16),
    correlation_id: 'CASE',
    correlation_source: 'attribute',
    links: [],
    actor_id: 'agent-1',
    risk: 'medium',
    ...fields,
  };
}

export const linkTo = (r: Row) => [{ trace_id: r.trace_id, span_id: r.span_id }];

/** A proposal needing approval, on a CRM record of its case. */
const proposal = (c: string, at: number, extra: Record<string, unknown> = {}) =>
  ev('tool_call', at, { correlation_id: c, name: 'execute_tool crm_update', tool_name: 'crm_update', action: 'update', approval_required: true, target_system: 'crm', target_id: `ACC-${c}`, ...extra });
const effect = (c: string, at: number, extra: Record<string, unknown> = {}) =>
  ev('system_effect', at, { correlation_id: c, name: 'crm.update', effect: 'record_updated', action: 'update', target_system: 'crm', target_id: `ACC-${c}`, actor_id: 'crm-connector', ...extra });
const decision = (c: string, at: number, p: Row, d: string) =>
  ev('approval', at, { correlation_id: c, name: `approval ${d}`, decision: d, reviewer_id: 'lead-7', actor_id: 'lead-7', links: linkTo(p) });

export function approvalCases(): Row[] {
  const out: Row[] = [];
  // No approval at all: tied by the same case and target.
  const p1 = proposal('FIRES_BYPASS_NO_APPROVAL', 0);
  out.push(p1, effect('FIRES_BYPASS_NO_APPROVAL', 10));
  // Approved, then the effect (linked): fine.
  const p2 = proposal('QUIET_APPROVED', 0);
  out.push(p2, decision('QUIET_APPROVED', 5, p2, 'approved'), effect('QUIET_APPROVED', 10, { links: linkTo(p2) }));
  // Near miss: the approval arrives late (100 s), but still before the effect.
  const p3 = proposal('QUIET_LATE_APPROVAL', 0);
  out.push(p3, decision('QUIET_LATE_APPROVAL', 100, p3, 'approved'), effect('QUIET_LATE_APPROVAL', 101));
  // The effect before its approval.
  const p4 = proposal('FIRES_BYPASS_BEFORE_APPROVAL', 0);
  out.push(p4, effect('FIRES_BYPASS_BEFORE_APPROVAL', 10), decision('FIRES_BYPASS_BEFORE_APPROVAL', 20, p4, 'approved'));
  // The effect after a rejection.
  const p5 = proposal('FIRES_BYPASS_AFTER_REJECTED', 0);
  out.push(p5, decision('FIRES_BYPASS_AFTER_REJECTED', 5, p5, 'rejected'), effect('FIRES_BYPASS_AFTER_REJECTED', 10, { links: linkTo(p5) }));
  // Rejected, then approved (edited) on a second look, then the effect: fine.
  const p6 = proposal('QUIET_REJECTED_THEN_EDITED', 0);
  out.push(p6, decision('QUIET_REJECTED_THEN_EDITED', 5, p6, 'rejected'), decision('QUIET_REJECTED_THEN_EDITED', 8, p6, 'edited'), effect('QUIET_REJECTED_THEN_EDITED', 10));
  // A write-like tool call linked to a proposal, with no approval.
  const p7 = proposal('FIRES_BYPASS_TOOL_SEND', 0, { name: 'execute_tool draft_reply', tool_name: 'draft_reply', action: 'draft', target_system: '', target_id: '' });
  out.push(p7, ev('tool_call', 10, { correlation_id: 'FIRES_BYPASS_TOOL_SEND', name: 'execute_tool send_email', tool_name: 'send_email', action: 'send', links: linkTo(p7) }));
  // Not a proposal (no approval required, no policy rule): an effect on its own is fine.
  out.push(ev('tool_call', 0, { correlation_id: 'QUIET_NO_APPROVAL_NEEDED', tool_name: 'crm_update', action: 'update', target_system: 'crm', target_id: 'ACC-Q' }));
  out.push(effect('QUIET_NO_APPROVAL_NEEDED', 10, { target_id: 'ACC-Q' }));
  // Needs approval by a policy rule (risk high + delete), none given.
  out.push(ev('tool_call', 0, { correlation_id: 'FIRES_BYPASS_POLICY_RULE', risk: 'high', tool_name: 'db_delete', action: 'delete', target_system: 'db', target_id: 'ROW-1' }));
  out.push(effect('FIRES_BYPASS_POLICY_RULE', 10, { risk: 'high', effect: 'record_updated', action: 'delete', target_system: 'db', target_id: 'ROW-1' }));
  // The same at low risk: the policy rule does not apply.
  out.push(ev('tool_call', 0, { correlation_id: 'QUIET_POLICY_LOW_RISK', risk: 'low', tool_name: 'db_delete', action: 'delete', target_system: 'db', target_id: 'ROW-2' }));
  out.push(effect('QUIET_POLICY_LOW_RISK', 10, { risk: 'low', action: 'delete', target_system: 'db', target_id: 'ROW-2' }));
  return out;
}

export function deniedAndBlockedCases(): Row[] {
  const denied = (at: number) => ev('tool_call', at, { correlation_id: 'FIRES_DENIED', actor_id: 'bot-1', tool_name: 'crm_update', action: 'update', permission: 'denied', status: 'denied' });
  return [
    denied(0),
    denied(1),
    denied(2),
    ev('tool_call', 3, { correlation_id: 'QUIET_GRANTED', actor_id: 'bot-1', tool_name: 'crm_update', action: 'read', permission: 'granted', status: 'ok' }),
    ev('model_call', 0, { correlation_id: 'FIRES_BLOCKED_FILTER', status: 'denied', error_type: 'content_filter' }),
    ev('model_call', 0, { correlation_id: 'QUIET_MODEL_ERROR', status: 'error', error_type: 'timeout' }),
  ];
}

export function correctionCases(): Row[] {
  const out: Row[] = [];
  const outcomes = (version: string, corrected: number, total: number) => {
    for (let i = 0; i < total; i++) {
      const c = `${version}-${i}`;
      out.push(ev('model_call', i * 60, { correlation_id: c, prompt_version: version }));
      out.push(ev('outcome', i * 60 + 30, { correlation_id: c, outcome: i < corrected ? (i % 2 ? 'rolled_back' : 'corrected') : 'completed' }));
    }
  };
  outcomes('FIRES_v1', 3, 5); // 3 of 5: at both thresholds (3, 20 %)
  outcomes('QUIET_v2', 2, 3); // near miss: 2, just under the count
  outcomes('QUIET_v3', 3, 16); // near miss: 3 of 16 = 18.75 %, just under the rate
  return out;
}

/** Seven days of steady use, then a busy hour: 1 an hour then 150 (fires); 10 an hour then 100 (exactly 10×: quiet). */
export function volumeCases(): Row[] {
  const out: Row[] = [];
  const day = 86_400;
  for (let h = 0; h < 168; h++) {
    out.push(ev('model_call', h * 3600 + 60, { correlation_id: 'VOL', actor_id: 'FIRES_busy-bot' }));
    for (let i = 0; i < 10; i++) out.push(ev('model_call', h * 3600 + 60 + i, { correlation_id: 'VOL', actor_id: 'QUIET_steady-bot' }));
  }
  for (let i = 0; i < 150; i++) out.push(ev('model_call', 7 * day + 60 + i, { correlation_id: 'VOL', actor_id: 'FIRES_busy-bot' }));
  for (let i = 0; i < 100; i++) out.push(ev('model_call', 7 * day + 60 + i, { correlation_id: 'VOL', actor_id: 'QUIET_steady-bot' }));
  return out;
}

export function sensitiveCases(): Row[] {
  const src = (id: string, sensitivity: string) => ({ id, uri: `kb://${id}`, version: '1', sensitivity, score: 0.9 });
  return [
    ev('retrieval', 0, { correlation_id: 'FIRES_SENSITIVE', risk: 'low', sources: [src('KB-1', 'public'), src('HR-9', 'Confidential')] }),
    ev('retrieval', 0, { correlation_id: 'QUIET_SENSITIVE_INTERNAL', risk: 'low', sources: [src('KB-2', 'internal')] }),
    ev('retrieval', 0, { correlation_id: 'QUIET_SENSITIVE_HIGH_RISK', risk: 'high', sources: [src('HR-1', 'restricted')] }),
  ];
}

export function coverageCases(): Row[] {
  const reviewed = ev('tool_call', 0, { correlation_id: 'QUIET_HIGH_RISK_REVIEWED', risk: 'high', tool_name: 'x', action: 'read' });
  const p = ev('tool_call', 0, { correlation_id: 'FIRES_OPEN_PROPOSAL', name: 'execute_tool refund', tool_name: 'refund', action: 'update', approval_required: true });
  const decided = ev('tool_call', 0, { correlation_id: 'QUIET_PROPOSAL_DECIDED', tool_name: 'refund', action: 'update', approval_required: true });
  return [
    ev('model_call', 0, { correlation_id: 'COVERAGE', actor_id: '', service_name: 'FIRES_anonymous-svc' }),
    ev('model_call', 0, { correlation_id: '4bf92f3577b34da6a3ce929d0e0e4736', correlation_source: 'trace', service_name: 'FIRES_anonymous-svc' }),
    ev('model_call', 0, { correlation_id: 'COVERAGE', service_name: 'QUIET_identified-svc' }),
    ev('model_call', 0, { correlation_id: 'FIRES_HIGH_RISK_UNREVIEWED', risk: 'high', service_name: 'QUIET_identified-svc' }),
    reviewed,
    ev('approval', 5, { correlation_id: 'QUIET_HIGH_RISK_REVIEWED', decision: 'approved', reviewer_id: 'lead-7', links: linkTo(reviewed) }),
    p,
    decided,
    ev('approval', 5, { correlation_id: 'QUIET_PROPOSAL_DECIDED', decision: 'rejected', reviewer_id: 'lead-7', links: linkTo(decided) }),
    // Content not captured: where the policy keeps it (medium: redacted), and where it keeps digests only (low).
    ev('model_call', 0, { correlation_id: 'COVERAGE', service_name: 'FIRES_no-content-svc', attributes: { 'otel_audit.content': 'not_captured' } }),
    ev('model_call', 0, { correlation_id: 'COVERAGE', service_name: 'QUIET_low-risk-svc', risk: 'low', attributes: { 'otel_audit.content': 'not_captured' } }),
  ];
}

/** A chain whose newest checkpoint covers seq 1 of 3, stored long ago; and one fully covered. */
export function chainCases(): { events: Row[]; checkpoints: Array<Record<string, unknown>> } {
  const chain = (id: string, seq: number) => ev('model_call', seq, { correlation_id: 'CHAIN', chain_id: id, seq, ingest_time: time(seq) });
  return {
    events: [chain('FIRES_chain', 1), chain('FIRES_chain', 2), chain('FIRES_chain', 3), chain('QUIET_chain', 1)],
    checkpoints: [
      { chain_id: 'FIRES_chain', tree_size: 1, created_at: time(1).slice(0, 23) },
      { chain_id: 'QUIET_chain', tree_size: 1, created_at: time(1).slice(0, 23) },
    ],
  };
}
