/**
 * @otel-audit/semconv — the `audit.*` span attribute names and enum values (DESIGN 3.3).
 *
 * One source: the bridge reads these names, @otel-audit/instrumentation writes them.
 */

export const ATTR_AUDIT_CORRELATION_ID = 'audit.correlation_id';
export const ATTR_AUDIT_ACTOR_ID = 'audit.actor.id';
export const ATTR_AUDIT_ACTOR_TYPE = 'audit.actor.type';
export const ATTR_AUDIT_ACTOR_ROLE = 'audit.actor.role';
export const ATTR_AUDIT_ON_BEHALF_OF = 'audit.on_behalf_of';
export const ATTR_AUDIT_INITIATION = 'audit.initiation';
export const ATTR_AUDIT_PURPOSE = 'audit.purpose';
export const ATTR_AUDIT_RISK = 'audit.risk';
export const ATTR_AUDIT_EVENT_TYPE = 'audit.event.type';
export const ATTR_AUDIT_TOOL_ACTION = 'audit.tool.action';
export const ATTR_AUDIT_TARGET_SYSTEM = 'audit.target.system';
export const ATTR_AUDIT_TARGET_ID = 'audit.target.id';
export const ATTR_AUDIT_PERMISSION = 'audit.permission';
export const ATTR_AUDIT_APPROVAL_REQUIRED = 'audit.approval.required';
export const ATTR_AUDIT_APPROVAL_DECISION = 'audit.approval.decision';
export const ATTR_AUDIT_APPROVAL_REVIEWER_ID = 'audit.approval.reviewer.id';
export const ATTR_AUDIT_APPROVAL_REVIEWER_ROLE = 'audit.approval.reviewer.role';
export const ATTR_AUDIT_APPROVAL_RATIONALE = 'audit.approval.rationale';
export const ATTR_AUDIT_EFFECT = 'audit.effect';
export const ATTR_AUDIT_OUTCOME = 'audit.outcome';
export const ATTR_AUDIT_PROMPT_VERSION = 'audit.prompt.version';
/** Resource attribute: the tenant, where the ingest credential does not set it. */
export const ATTR_AUDIT_TENANT = 'audit.tenant';

/**
 * Retrieved source references, as a JSON array string of
 * `{id, uri?, version?, sensitivity?, score?}`. Not in DESIGN 3.3's table; an extension
 * that @otel-audit/instrumentation's `traceRetrieval` writes and the bridge reads.
 */
export const ATTR_AUDIT_SOURCES = 'audit.sources';
/** Whether a reviewer changed the proposal before approving (boolean). */
export const ATTR_AUDIT_APPROVAL_EDITED = 'audit.approval.edited';
/**
 * The reviewer's changes to the proposal (JSON string). Content: written by
 * @otel-audit/instrumentation only when content capture is on.
 */
export const ATTR_AUDIT_APPROVAL_EDITS = 'audit.approval.edits';
/** Free-text reason that accompanies `audit.outcome` (for instance why a task failed or paused). */
export const ATTR_AUDIT_OUTCOME_REASON = 'audit.outcome.reason';

/**
 * Human oversight beyond approve/reject (`overridden`, `edited`, `escalated`): what the AI
 * produced and what the person put in its place. Content: the bridge stores them under the
 * content policy (digests always; raw sealed at high risk), the original as the event's input
 * and the final as its output, so `input_digest` is the AI's and `output_digest` the human's.
 */
export const ATTR_AUDIT_OVERRIDE_ORIGINAL_OUTPUT = 'audit.override.original_output';
export const ATTR_AUDIT_OVERRIDE_FINAL_OUTPUT = 'audit.override.final_output';
/** The SHA-256 hex of the original output, when the app keeps no content at all. */
export const ATTR_AUDIT_OVERRIDE_ORIGINAL_OUTPUT_SHA256 = 'audit.override.original_output.sha256';
/** Escalation: from whom (defaults to the reviewer), to whom, and why (defaults to the rationale). */
export const ATTR_AUDIT_ESCALATION_FROM = 'audit.escalation.from';
export const ATTR_AUDIT_ESCALATION_TO = 'audit.escalation.to';
export const ATTR_AUDIT_ESCALATION_REASON = 'audit.escalation.reason';
/** A reviewer's time on task in milliseconds, when the app measures it. */
export const ATTR_AUDIT_APPROVAL_REVIEW_DURATION_MS = 'audit.approval.review.duration_ms';

/**
 * Model lineage, on model calls and on deployment events: the registry (MLflow, SageMaker,
 * Azure ML, Databricks Unity Catalog, Valohai, Seldon, ...), the registered model, its version
 * and the training run that produced it.
 */
export const ATTR_AUDIT_MODEL_REGISTRY = 'audit.model.registry';
export const ATTR_AUDIT_MODEL_NAME = 'audit.model.name';
export const ATTR_AUDIT_MODEL_VERSION = 'audit.model.version';
export const ATTR_AUDIT_MODEL_RUN_ID = 'audit.model.run_id';
/** Deployment events: the environment a model version was promoted to, and the serving platform. */
export const ATTR_AUDIT_DEPLOYMENT_ENVIRONMENT = 'audit.deployment.environment';
export const ATTR_AUDIT_DEPLOYMENT_PLATFORM = 'audit.deployment.platform';

export const EVENT_TYPE_VALUES = {
  REQUEST: 'request',
  MODEL_CALL: 'model_call',
  RETRIEVAL: 'retrieval',
  TOOL_CALL: 'tool_call',
  APPROVAL: 'approval',
  SYSTEM_EFFECT: 'system_effect',
  OUTCOME: 'outcome',
  /** A read of the trail itself: sealed content opened, an export, an evidence pack (written by the bridge). */
  ACCESS: 'access',
  /** An evaluation of a model call or agent run (`gen_ai.evaluation.*`): a judge, a bias or quality check. */
  EVALUATION: 'evaluation',
  /** A model version promoted to an environment (`audit.model.*`, `audit.deployment.*`). */
  DEPLOYMENT: 'deployment',
} as const;
export type EventType = (typeof EVENT_TYPE_VALUES)[keyof typeof EVENT_TYPE_VALUES];
export const EVENT_TYPES: readonly EventType[] = Object.values(EVENT_TYPE_VALUES);

export const ACTOR_TYPE_VALUES = {
  HUMAN: 'human',
  SERVICE: 'service',
  CONNECTOR: 'connector',
  WORKFLOW: 'workflow',
  AGENT: 'agent',
} as const;
export type ActorType = (typeof ACTOR_TYPE_VALUES)[keyof typeof ACTOR_TYPE_VALUES];

export const INITIATION_VALUES = {
  HUMAN: 'human',
  AI_ASSISTED: 'ai_assisted',
  AUTOMATED: 'automated',
} as const;
export type Initiation = (typeof INITIATION_VALUES)[keyof typeof INITIATION_VALUES];

/** Open set: these are the common ones; any short lowercase word is accepted. */
export const PURPOSE_VALUES = {
  ANSWER: 'answer',
  SUMMARIZE: 'summarize',
  CLASSIFY: 'classify',
  DRAFT: 'draft',
  RETRIEVE: 'retrieve',
  UPDATE: 'update',
  ROUTE: 'route',
} as const;
export type Purpose = (typeof PURPOSE_VALUES)[keyof typeof PURPOSE_VALUES] | (string & {});

export const RISK_VALUES = { LOW: 'low', MEDIUM: 'medium', HIGH: 'high' } as const;
export type Risk = (typeof RISK_VALUES)[keyof typeof RISK_VALUES];
export const RISKS: readonly Risk[] = Object.values(RISK_VALUES);

export const TOOL_ACTION_VALUES = {
  READ: 'read',
  SEARCH: 'search',
  DRAFT: 'draft',
  WRITE: 'write',
  SEND: 'send',
  UPDATE: 'update',
  DELETE: 'delete',
  TRIGGER: 'trigger',
} as const;
export type ToolAction = (typeof TOOL_ACTION_VALUES)[keyof typeof TOOL_ACTION_VALUES];

export const PERMISSION_VALUES = {
  GRANTED: 'granted',
  DENIED: 'denied',
  NOT_CHECKED: 'not_checked',
} as const;
export type Permission = (typeof PERMISSION_VALUES)[keyof typeof PERMISSION_VALUES];

export const APPROVAL_DECISION_VALUES = {
  APPROVED: 'approved',
  EDITED: 'edited',
  REJECTED: 'rejected',
  ESCALATED: 'escalated',
  BLOCKED: 'blocked',
  RETURNED: 'returned',
  /** A person replaced the AI's output or decision after the fact. */
  OVERRIDDEN: 'overridden',
} as const;
export type ApprovalDecision = (typeof APPROVAL_DECISION_VALUES)[keyof typeof APPROVAL_DECISION_VALUES];

export const EFFECT_VALUES = {
  MESSAGE_SENT: 'message_sent',
  RECORD_UPDATED: 'record_updated',
  NOTE_SAVED: 'note_saved',
  TASK_CREATED: 'task_created',
  WORKFLOW_TRIGGERED: 'workflow_triggered',
  /** An agent wrote to or deleted from its own memory (GenAI memory operations). */
  MEMORY_WRITTEN: 'memory_written',
  MEMORY_DELETED: 'memory_deleted',
  NONE: 'none',
} as const;
export type Effect = (typeof EFFECT_VALUES)[keyof typeof EFFECT_VALUES];

export const OUTCOME_VALUES = {
  COMPLETED: 'completed',
  FAILED: 'failed',
  REJECTED: 'rejected',
  CORRECTED: 'corrected',
  ROLLED_BACK: 'rolled_back',
  PAUSED: 'paused',
} as const;
export type Outcome = (typeof OUTCOME_VALUES)[keyof typeof OUTCOME_VALUES];

/**
 * The identity and policy context that descendants inherit from their nearest ancestor
 * when they carry none of their own (and that @otel-audit/instrumentation propagates).
 */
export const INHERITED_CONTEXT_ATTRIBUTES = [
  ATTR_AUDIT_CORRELATION_ID,
  ATTR_AUDIT_ACTOR_ID,
  ATTR_AUDIT_ACTOR_TYPE,
  ATTR_AUDIT_ACTOR_ROLE,
  ATTR_AUDIT_ON_BEHALF_OF,
  ATTR_AUDIT_INITIATION,
  ATTR_AUDIT_PURPOSE,
  ATTR_AUDIT_RISK,
  ATTR_AUDIT_TENANT,
] as const;

/** W3C baggage keys that carry the context across process boundaries. Same names as the attributes. */
export const BAGGAGE_KEYS = INHERITED_CONTEXT_ATTRIBUTES;
