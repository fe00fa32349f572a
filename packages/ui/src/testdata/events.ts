/**
 * Events for the UI's unit tests, shaped as the API answers them. `support-case.json` is the case
 * `npm run demo -- --case CASE-123` stores (GET /api/v1/cases/CASE-123/events, a real answer):
 * request, retrieval, model call, tool call proposed, approval in another trace, effect, outcome.
 */
import { readFileSync } from 'node:fs';
import type { AuditEvent, EventPage } from '../model.ts';

let n = 0;

/** An event with every column, empty unless given. */
export function event(p: Partial<AuditEvent> = {}): AuditEvent {
  n++;
  const id = (p.event_id ?? n.toString(16)).padStart(32, '0');
  return {
    event_id: id,
    tenant: 'acme',
    event_time: '2026-11-22 10:00:00.000000000',
    ingest_time: '2026-11-22 10:00:01.000000000',
    duration_ns: '5000000',
    event_type: 'request',
    name: 'handle ticket',
    operation: '',
    trace_id: 'a'.repeat(32),
    span_id: n.toString(16).padStart(16, '0'),
    parent_span_id: '',
    correlation_id: 'CASE-1',
    correlation_source: 'attribute',
    links: [],
    actor_id: 'agent-42',
    actor_type: 'agent',
    actor_role: '',
    on_behalf_of: '',
    initiation: '',
    service_name: 'support',
    environment: '',
    purpose: '',
    risk: 'medium',
    provider: '',
    request_model: '',
    response_model: '',
    input_tokens: null,
    output_tokens: null,
    prompt_version: '',
    tool_name: '',
    tool_call_id: '',
    action: '',
    target_system: '',
    target_id: '',
    permission: '',
    approval_required: false,
    sources: [],
    decision: '',
    reviewer_id: '',
    reviewer_role: '',
    rationale: '',
    edited: false,
    effect: '',
    outcome: '',
    status: 'ok',
    error_type: '',
    input_digest: '',
    output_digest: '',
    content: '',
    attributes: {},
    conventions: ['audit'],
    redactions: 0,
    truncated: [],
    chain_id: 'main-medium',
    seq: String(n),
    prev_hash: '0'.repeat(64),
    hash: '1'.repeat(64),
    ingest_principal: 'local',
    has_sealed_content: false,
    ...p,
    ...(p.event_id ? {} : { event_id: id }),
  };
}

/** The demo's case, as GET /api/v1/cases/CASE-123/events answered it (in the API's order). */
export function supportCase(): AuditEvent[] {
  const page = JSON.parse(readFileSync(new URL('support-case.json', import.meta.url), 'utf8')) as EventPage;
  return page.events;
}
