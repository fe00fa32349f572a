/**
 * What the query API answers, as the UI reads it (packages/bridge/src/api/schemas.ts and
 * routes/events.ts are the source; /api/openapi.json documents them). 64-bit integers arrive as
 * decimal strings.
 */

export type IntegrityStatus = 'verified' | 'unanchored' | 'unchecked' | 'modified' | 'broken';

export interface CheckpointRef {
  chain_id: string;
  /** Events of the chain it covers (seq 1..tree_size). */
  tree_size: number;
  /** When it was signed (ISO 8601). */
  created_at: string;
}

/** What a stored row proves (chain/integrity.ts). */
export interface Integrity {
  status: IntegrityStatus;
  hash_ok: boolean;
  link_ok: boolean | null;
  included: boolean | null;
  checkpoint: CheckpointRef | null;
  reason?: string;
}

export interface SourceRef {
  id: string;
  uri: string;
  version: string;
  sensitivity: string;
  score: number | null;
}

export interface SpanRef {
  trace_id: string;
  span_id: string;
}

/** One audit event (a row of otel_audit.events without the sealed ciphertext). */
export interface AuditEvent {
  event_id: string;
  tenant: string;
  /** "YYYY-MM-DD HH:MM:SS.nnnnnnnnn", UTC. */
  event_time: string;
  ingest_time: string;
  duration_ns: string;
  event_type: string;
  name: string;
  operation: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string;
  correlation_id: string;
  correlation_source: string;
  links: SpanRef[];
  actor_id: string;
  actor_type: string;
  actor_role: string;
  on_behalf_of: string;
  initiation: string;
  service_name: string;
  environment: string;
  purpose: string;
  risk: string;
  provider: string;
  request_model: string;
  response_model: string;
  input_tokens: string | null;
  output_tokens: string | null;
  prompt_version: string;
  tool_name: string;
  tool_call_id: string;
  action: string;
  target_system: string;
  target_id: string;
  permission: string;
  approval_required: boolean;
  sources: SourceRef[];
  decision: string;
  reviewer_id: string;
  reviewer_role: string;
  rationale: string;
  edited: boolean;
  effect: string;
  outcome: string;
  status: string;
  error_type: string;
  input_digest: string;
  output_digest: string;
  /** As stored: redacted. */
  content: string;
  attributes: Record<string, string>;
  conventions: string[];
  redactions: number;
  truncated: string[];
  chain_id: string;
  seq: string;
  prev_hash: string;
  hash: string;
  ingest_principal: string;
  /** Whether raw content is sealed for content readers (GET /api/v1/events/:id/content). */
  has_sealed_content: boolean;
  /** Present when asked for (integrity=1, case pages). */
  integrity?: Integrity;
}

export interface EventPage {
  events: AuditEvent[];
  next_cursor: string | null;
}

export interface IntegrityProblem {
  event_id: string;
  chain_id: string;
  seq: number;
  status: IntegrityStatus;
  reason: string;
}

export interface IntegritySummary {
  status: 'verified' | 'unanchored' | 'unchecked' | 'broken';
  summary: string;
  counts: Record<IntegrityStatus, number>;
  checkpoints: CheckpointRef[];
  problems: IntegrityProblem[];
}

/** GET /api/v1/cases/:id */
export interface CaseSummary {
  correlation_id: string;
  events: number;
  by_type: Record<string, number>;
  first_time: string;
  last_time: string;
  actors: string[];
  tenants: string[];
  traces: number;
  integrity: IntegritySummary | null;
}

/** GET /api/v1/ui-config */
export interface UiConfig {
  trace_url_template: string | null;
  auth: boolean;
  principal: string;
  roles: string[];
  tenants: string[] | '*';
}

/** GET /api/v1/events/:id/content */
export interface SealedContent {
  event_id: string;
  tenant: string;
  risk: string;
  subject: string;
  content: unknown;
}

/** The event types the bridge stores (DESIGN 3.2), in the order a case's story tells them. */
export const EVENT_TYPES = ['request', 'retrieval', 'model_call', 'tool_call', 'approval', 'system_effect', 'outcome', 'access', 'evaluation', 'deployment'] as const;

/** Roles that may open sealed content (admin includes every role). */
export const CONTENT_ROLES = ['content_reader', 'admin'];

export const canReadContent = (config: Pick<UiConfig, 'roles'> | null): boolean => !!config && config.roles.some((r) => CONTENT_ROLES.includes(r));
