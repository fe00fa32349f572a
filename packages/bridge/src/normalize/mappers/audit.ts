/**
 * The `audit.*` attributes (DESIGN 3.3) and the generic identity conventions (user.id,
 * enduser.id, session.id). Runs first: what the application states explicitly wins.
 */
import {
  ACTOR_TYPE_VALUES,
  APPROVAL_DECISION_VALUES,
  ATTR_AUDIT_ACTOR_ID,
  ATTR_AUDIT_ACTOR_ROLE,
  ATTR_AUDIT_ACTOR_TYPE,
  ATTR_AUDIT_APPROVAL_DECISION,
  ATTR_AUDIT_APPROVAL_EDITED,
  ATTR_AUDIT_APPROVAL_RATIONALE,
  ATTR_AUDIT_APPROVAL_REQUIRED,
  ATTR_AUDIT_APPROVAL_REVIEWER_ID,
  ATTR_AUDIT_APPROVAL_REVIEWER_ROLE,
  ATTR_AUDIT_CORRELATION_ID,
  ATTR_AUDIT_DEPLOYMENT_ENVIRONMENT,
  ATTR_AUDIT_DEPLOYMENT_PLATFORM,
  ATTR_AUDIT_EFFECT,
  ATTR_AUDIT_ESCALATION_FROM,
  ATTR_AUDIT_ESCALATION_REASON,
  ATTR_AUDIT_EVENT_TYPE,
  ATTR_AUDIT_INITIATION,
  ATTR_AUDIT_ON_BEHALF_OF,
  ATTR_AUDIT_OUTCOME,
  ATTR_AUDIT_OVERRIDE_FINAL_OUTPUT,
  ATTR_AUDIT_OVERRIDE_ORIGINAL_OUTPUT,
  ATTR_AUDIT_PERMISSION,
  ATTR_AUDIT_PROMPT_VERSION,
  ATTR_AUDIT_PURPOSE,
  ATTR_AUDIT_RISK,
  ATTR_AUDIT_SOURCES,
  ATTR_AUDIT_TARGET_ID,
  ATTR_AUDIT_TARGET_SYSTEM,
  ATTR_AUDIT_TENANT,
  ATTR_AUDIT_TOOL_ACTION,
  EFFECT_VALUES,
  EVENT_TYPES,
  INITIATION_VALUES,
  OUTCOME_VALUES,
  PERMISSION_VALUES,
  RISKS,
  TOOL_ACTION_VALUES,
} from '@otel-audit/semconv';
import type { EventType, TelemetrySpan } from '../../model.ts';
import type { AuditContext, ContextSink, DraftBuilder, Mapper } from '../types.ts';
import { setContext, setCorrelation, setHumanActor } from '../internal/context.ts';
import { PRIORITY } from '../internal/priority.ts';
import { toMessages } from '../internal/messages.ts';
import { toSourceRefs } from '../internal/sources.ts';
import { bool, consumeInto, hasKeyWithPrefix, setField, str } from '../internal/values.ts';

const ACTOR_TYPES = new Set<string>(Object.values(ACTOR_TYPE_VALUES));
const INITIATIONS = new Set<string>(Object.values(INITIATION_VALUES));
const DECISIONS = new Set<string>(Object.values(APPROVAL_DECISION_VALUES));
const PERMISSIONS = new Set<string>(Object.values(PERMISSION_VALUES));
const TOOL_ACTIONS = new Set<string>(Object.values(TOOL_ACTION_VALUES));
const EFFECTS = new Set<string>(Object.values(EFFECT_VALUES));
const OUTCOMES = new Set<string>(Object.values(OUTCOME_VALUES));
const RISK_SET = new Set<string>(RISKS);
const EVENT_TYPE_SET = new Set<string>(EVENT_TYPES);

/**
 * A closed-enum value, lowercased. An unknown value is kept as sent (lowercased) with a note:
 * an auditor must see what the application said, never a silently "corrected" value.
 */
function closedEnum(sink: ContextSink, key: string, value: unknown, allowed: Set<string>): string | undefined {
  const s = str(value)?.toLowerCase();
  if (s === undefined) return undefined;
  sink.consume(key);
  if (!allowed.has(s)) sink.note(`${key}: unknown value '${s}' kept as is`);
  return s;
}

/** The tenant a resource states; read for every span, not only triggered ones. */
export function resourceContext(span: TelemetrySpan, ctx: AuditContext): void {
  const tenant = str(span.resource?.[ATTR_AUDIT_TENANT]);
  if (tenant !== undefined && ctx.tenant === undefined) ctx.tenant = tenant;
}

function auditContext(span: TelemetrySpan, sink: ContextSink): void {
  const a = span.attributes;
  // The resource states the tenant (read first, for every span); a span attribute, as
  // propagated through baggage by @otel-audit/instrumentation, only fills in when it does not.
  // Both come from the same application: the ingest credential, applied later, outranks both.
  setContext(sink, 'tenant', a[ATTR_AUDIT_TENANT], ATTR_AUDIT_TENANT);
  setCorrelation(sink, a[ATTR_AUDIT_CORRELATION_ID], 'attribute', ATTR_AUDIT_CORRELATION_ID);
  setContext(sink, 'actorId', a[ATTR_AUDIT_ACTOR_ID], ATTR_AUDIT_ACTOR_ID);
  const actorType = closedEnum(sink, ATTR_AUDIT_ACTOR_TYPE, a[ATTR_AUDIT_ACTOR_TYPE], ACTOR_TYPES);
  if (actorType !== undefined) sink.context.actorType ??= actorType;
  setContext(sink, 'actorRole', a[ATTR_AUDIT_ACTOR_ROLE], ATTR_AUDIT_ACTOR_ROLE);
  setContext(sink, 'onBehalfOf', a[ATTR_AUDIT_ON_BEHALF_OF], ATTR_AUDIT_ON_BEHALF_OF);
  const initiation = closedEnum(sink, ATTR_AUDIT_INITIATION, a[ATTR_AUDIT_INITIATION], INITIATIONS);
  if (initiation !== undefined) sink.context.initiation ??= initiation;
  setContext(sink, 'purpose', a[ATTR_AUDIT_PURPOSE], ATTR_AUDIT_PURPOSE);

  // Risk drives redaction and retention: an invalid value must not pass as a valid level.
  // It is left unconsumed, so the raw value stays in `attributes`, and noted.
  const risk = str(a[ATTR_AUDIT_RISK])?.toLowerCase();
  if (risk !== undefined) {
    if (RISK_SET.has(risk)) {
      sink.consume(ATTR_AUDIT_RISK);
      sink.context.risk ??= risk;
    } else {
      sink.note(`${ATTR_AUDIT_RISK}: invalid value '${risk}' ignored (expected ${RISKS.join('/')})`);
    }
  }

  // Generic identity conventions, below the explicit audit.* ones.
  setHumanActor(sink, a['user.id'], 'user.id');
  setHumanActor(sink, a['enduser.id'], 'enduser.id');
  setCorrelation(sink, a['session.id'], 'session', 'session.id');
}

function mapAudit(span: TelemetrySpan, draft: DraftBuilder): boolean {
  const a = span.attributes;
  if (!hasKeyWithPrefix(a, 'audit.')) return false;
  const f = draft.fields;

  const rawType = str(a[ATTR_AUDIT_EVENT_TYPE])?.toLowerCase();
  if (rawType !== undefined) {
    if (EVENT_TYPE_SET.has(rawType)) {
      draft.consume(ATTR_AUDIT_EVENT_TYPE);
      draft.proposeType(rawType as EventType, PRIORITY.AUDIT_EVENT_TYPE);
    } else {
      draft.note(`${ATTR_AUDIT_EVENT_TYPE}: unknown event type '${rawType}' ignored`);
    }
  }

  const decision = closedEnum(draft, ATTR_AUDIT_APPROVAL_DECISION, a[ATTR_AUDIT_APPROVAL_DECISION], DECISIONS);
  if (decision !== undefined) {
    setField(f, 'decision', decision);
    draft.proposeType('approval', PRIORITY.AUDIT_APPROVAL);
  }
  const edited = bool(a[ATTR_AUDIT_APPROVAL_EDITED]);
  if (edited !== undefined) draft.consume(ATTR_AUDIT_APPROVAL_EDITED);
  const replaced = decision === APPROVAL_DECISION_VALUES.EDITED || decision === APPROVAL_DECISION_VALUES.OVERRIDDEN;
  if (edited === true || replaced) f.edited = true;
  else if (edited === false && f.edited === undefined) f.edited = false;
  consumeInto(draft, a, 'reviewer_id', ATTR_AUDIT_APPROVAL_REVIEWER_ID);
  consumeInto(draft, a, 'reviewer_role', ATTR_AUDIT_APPROVAL_REVIEWER_ROLE);
  consumeInto(draft, a, 'rationale', ATTR_AUDIT_APPROVAL_RATIONALE);
  // An escalation names who passed it on and why; the reviewer and rationale when not given.
  // `audit.escalation.to` stays in attributes; so does `from` when a reviewer is named too.
  if (decision === APPROVAL_DECISION_VALUES.ESCALATED) {
    if (f.reviewer_id === undefined) consumeInto(draft, a, 'reviewer_id', ATTR_AUDIT_ESCALATION_FROM);
    if (f.rationale === undefined) consumeInto(draft, a, 'rationale', ATTR_AUDIT_ESCALATION_REASON);
  }
  mapOverride(a, draft);
  const required = bool(a[ATTR_AUDIT_APPROVAL_REQUIRED]);
  if (required !== undefined) {
    draft.consume(ATTR_AUDIT_APPROVAL_REQUIRED);
    if (f.approval_required === undefined) f.approval_required = required;
  }

  const effect = closedEnum(draft, ATTR_AUDIT_EFFECT, a[ATTR_AUDIT_EFFECT], EFFECTS);
  if (effect !== undefined) {
    setField(f, 'effect', effect);
    // 'none' records that an action changed nothing; it fills the column but is no effect event.
    if (effect !== EFFECT_VALUES.NONE) draft.proposeType('system_effect', PRIORITY.AUDIT_EFFECT);
  }
  const outcome = closedEnum(draft, ATTR_AUDIT_OUTCOME, a[ATTR_AUDIT_OUTCOME], OUTCOMES);
  if (outcome !== undefined) {
    setField(f, 'outcome', outcome);
    draft.proposeType('outcome', PRIORITY.AUDIT_OUTCOME);
  }

  const action = closedEnum(draft, ATTR_AUDIT_TOOL_ACTION, a[ATTR_AUDIT_TOOL_ACTION], TOOL_ACTIONS);
  setField(f, 'action', action);
  const targetSystem = consumeInto(draft, a, 'target_system', ATTR_AUDIT_TARGET_SYSTEM);
  const targetId = consumeInto(draft, a, 'target_id', ATTR_AUDIT_TARGET_ID);
  const permission = closedEnum(draft, ATTR_AUDIT_PERMISSION, a[ATTR_AUDIT_PERMISSION], PERMISSIONS);
  if (permission !== undefined) {
    setField(f, 'permission', permission);
    if (permission === PERMISSION_VALUES.DENIED) setField(f, 'status', 'denied');
  }
  // An action on a target, a permission check or a proposal awaiting approval is a tool call
  // unless anything more specific is said about the span.
  if (action || targetSystem || targetId || permission || required !== undefined) {
    draft.proposeType('tool_call', PRIORITY.AUDIT_TOOL);
  }

  consumeInto(draft, a, 'prompt_version', ATTR_AUDIT_PROMPT_VERSION);

  // A model version promoted to an environment. The model's registry, name, version and run
  // (audit.model.*) stay in attributes, as on model calls: derived columns read them there.
  const environment = consumeInto(draft, a, 'target_id', ATTR_AUDIT_DEPLOYMENT_ENVIRONMENT);
  const platform = consumeInto(draft, a, 'target_system', ATTR_AUDIT_DEPLOYMENT_PLATFORM);
  if (environment !== undefined || platform !== undefined) {
    draft.proposeType('deployment', PRIORITY.AUDIT_DEPLOYMENT);
    setField(f, 'action', 'deploy');
  }

  // The span where an activity enters a service (the trace root, or a server/consumer span)
  // and that says who acts or for which case is the request itself.
  if (isEntrySpan(span) && (a[ATTR_AUDIT_CORRELATION_ID] !== undefined || a[ATTR_AUDIT_ACTOR_ID] !== undefined)) {
    draft.proposeType('request', PRIORITY.AUDIT_REQUEST);
  }

  const rawSources = a[ATTR_AUDIT_SOURCES];
  if (rawSources !== undefined) {
    const sources = toSourceRefs(rawSources);
    if (sources) {
      draft.consume(ATTR_AUDIT_SOURCES);
      setField(f, 'sources', sources);
    } else {
      draft.note(`${ATTR_AUDIT_SOURCES}: not a JSON array, kept in attributes`);
    }
  }
  return true;
}

/**
 * What the AI produced and what a person put in its place (`edited`, `overridden`): the
 * original is the event's input and the final its output, so that input_digest and
 * output_digest answer "what did the AI say before the human changed it", and both are
 * content under the content policy (sealed at high risk).
 */
function mapOverride(a: Record<string, unknown>, draft: DraftBuilder): void {
  const original = a[ATTR_AUDIT_OVERRIDE_ORIGINAL_OUTPUT];
  if (original !== undefined) {
    draft.consume(ATTR_AUDIT_OVERRIDE_ORIGINAL_OUTPUT);
    const msgs = toMessages(original, 'assistant');
    if (msgs && msgs.length > 0) draft.content.input ??= msgs;
  }
  const final = a[ATTR_AUDIT_OVERRIDE_FINAL_OUTPUT];
  if (final !== undefined) {
    draft.consume(ATTR_AUDIT_OVERRIDE_FINAL_OUTPUT);
    const msgs = toMessages(final, 'human');
    if (msgs && msgs.length > 0) draft.content.output ??= msgs;
  }
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CONSUMER = 5;

function isEntrySpan(span: TelemetrySpan): boolean {
  return span.parentSpanId === '' || span.kind === SPAN_KIND_SERVER || span.kind === SPAN_KIND_CONSUMER;
}

function auditFallback(span: TelemetrySpan): EventType | undefined {
  const a = span.attributes;
  const t = str(a[ATTR_AUDIT_EVENT_TYPE])?.toLowerCase();
  if (t !== undefined && EVENT_TYPE_SET.has(t)) return t as EventType;
  if (a[ATTR_AUDIT_APPROVAL_DECISION] !== undefined) return 'approval';
  if (a[ATTR_AUDIT_EFFECT] !== undefined && str(a[ATTR_AUDIT_EFFECT])?.toLowerCase() !== 'none') {
    return 'system_effect';
  }
  if (a[ATTR_AUDIT_OUTCOME] !== undefined) return 'outcome';
  if (a[ATTR_AUDIT_DEPLOYMENT_ENVIRONMENT] !== undefined) return 'deployment';
  return undefined;
}

export const auditMapper: Mapper = {
  name: 'audit',
  triggers: ['audit.', 'user.id', 'enduser.id', 'session.id'],
  context: auditContext,
  map: mapAudit,
  fallbackType: auditFallback,
};
