/**
 * Synthetic audit events for chain tests and bench/verify.ts: every column filled, correlation
 * ids spread so that (as in production) consecutive seqs land far apart in the table's sort order.
 */
import type { AuditEvent } from '../../model.ts';

const TYPES = ['request', 'model_call', 'retrieval', 'tool_call', 'approval', 'system_effect', 'outcome'] as const;

function hex(n: number, width: number): string {
  return (n >>> 0).toString(16).padStart(8, '0').repeat(Math.ceil(width / 8)).slice(0, width);
}

function ns(base: number, i: number): string {
  const t = new Date(base + i * 7);
  const s = t.toISOString().replace('T', ' ').replace('Z', '');
  return `${s}${String(i % 1_000_000).padStart(6, '0')}`;
}

/** Event number i (0-based); not chained (chain_id/seq/prev_hash/hash empty). */
export function syntheticEvent(i: number, prefix = 'ev'): AuditEvent {
  const type = TYPES[i % TYPES.length];
  const base = Date.UTC(2026, 10, 22, 8, 0, 0);
  return {
    event_id: `${prefix}-${i.toString(36).padStart(8, '0')}`,
    tenant: i % 5 === 0 ? 'globex' : 'acme',
    event_time: ns(base, i),
    ingest_time: ns(base + 1000, i),
    duration_ns: 1_000_000 + (i % 977) * 1013,
    event_type: type,
    name: `${type} ${i % 13}`,
    operation: type === 'model_call' ? 'chat' : type,
    trace_id: hex(i * 2654435761, 32),
    span_id: hex(i * 40503 + 7, 16),
    parent_span_id: i % 7 === 0 ? '' : hex(i * 40503 + 3, 16),
    correlation_id: `CASE-${(i * 7919) % 10007}`,
    correlation_source: 'attribute',
    links: type === 'approval' ? [{ trace_id: hex(i, 32), span_id: hex(i + 1, 16) }] : [],
    actor_id: `agent-${i % 17}`,
    actor_type: i % 3 === 0 ? 'human' : 'agent',
    actor_role: 'support',
    on_behalf_of: i % 3 === 0 ? '' : `user-${i % 101}`,
    initiation: 'ai_assisted',
    service_name: 'support-assistant',
    environment: 'prod',
    purpose: 'answer',
    risk: ['low', 'medium', 'high'][i % 3],
    provider: type === 'model_call' ? 'openai' : '',
    request_model: type === 'model_call' ? 'gpt-4o-mini' : '',
    response_model: type === 'model_call' ? 'gpt-4o-mini-2024-07-18' : '',
    input_tokens: type === 'model_call' ? 100 + (i % 900) : null,
    output_tokens: type === 'model_call' ? 20 + (i % 300) : null,
    prompt_version: 'v3',
    tool_name: type === 'tool_call' ? 'crm.update' : '',
    tool_call_id: type === 'tool_call' ? `call_${i}` : '',
    action: type === 'tool_call' ? 'update' : '',
    target_system: type === 'tool_call' ? 'crm' : '',
    target_id: type === 'tool_call' ? `ACC-${i % 1000}` : '',
    permission: type === 'tool_call' ? 'granted' : '',
    approval_required: type === 'tool_call' && i % 2 === 0,
    sources: type === 'retrieval' ? [{ id: `KB-${i % 50}`, uri: `kb://${i % 50}`, version: '2', sensitivity: 'internal', score: 0.5 + (i % 50) / 100 }] : [],
    decision: type === 'approval' ? 'approved' : '',
    reviewer_id: type === 'approval' ? `lead-${i % 9}` : '',
    reviewer_role: type === 'approval' ? 'team_lead' : '',
    rationale: type === 'approval' ? 'looks right ✓' : '',
    edited: false,
    effect: type === 'system_effect' ? 'record_updated' : '',
    outcome: type === 'outcome' ? 'completed' : '',
    status: i % 50 === 0 ? 'error' : 'ok',
    error_type: i % 50 === 0 ? 'timeout' : '',
    input_digest: hex(i * 31 + 1, 64),
    output_digest: hex(i * 37 + 2, 64),
    content: type === 'model_call' ? JSON.stringify({ input: [{ role: 'user', parts: [{ type: 'text', content: `question ${i} about a refund` }] }] }) : '',
    attributes: { 'app.region': i % 2 ? 'eu' : 'us', 'resource.service.version': '1.4.2' },
    conventions: ['otel_genai', 'audit'],
    redactions: i % 11 === 0 ? 1 : 0,
    truncated: [],
    chain_id: '',
    seq: 0,
    prev_hash: '',
    hash: '',
  };
}
