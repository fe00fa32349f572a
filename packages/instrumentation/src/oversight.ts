/**
 * Human oversight beyond approve/reject, evaluations and model deployments (issue 16): the
 * spans the bridge reads as `approval` (overridden, edited, escalated), `evaluation` and
 * `deployment` events. Same guarantees as the other helpers: they never throw, record what
 * they can, and write content (outputs, explanations) only with captureContent on.
 */
import { createHash } from 'node:crypto';
import { SpanKind, trace, type Attributes, type SpanContext } from '@opentelemetry/api';
import {
  APPROVAL_DECISION_VALUES,
  ATTR_AUDIT_APPROVAL_REVIEW_DURATION_MS,
  ATTR_AUDIT_APPROVAL_REVIEWER_ID,
  ATTR_AUDIT_APPROVAL_REVIEWER_ROLE,
  ATTR_AUDIT_CORRELATION_ID,
  ATTR_AUDIT_DEPLOYMENT_ENVIRONMENT,
  ATTR_AUDIT_DEPLOYMENT_PLATFORM,
  ATTR_AUDIT_ESCALATION_FROM,
  ATTR_AUDIT_ESCALATION_REASON,
  ATTR_AUDIT_ESCALATION_TO,
  ATTR_AUDIT_EVENT_TYPE,
  ATTR_AUDIT_MODEL_NAME,
  ATTR_AUDIT_MODEL_REGISTRY,
  ATTR_AUDIT_MODEL_RUN_ID,
  ATTR_AUDIT_MODEL_VERSION,
  ATTR_AUDIT_OVERRIDE_FINAL_OUTPUT,
  ATTR_AUDIT_OVERRIDE_ORIGINAL_OUTPUT,
  ATTR_AUDIT_OVERRIDE_ORIGINAL_OUTPUT_SHA256,
  EVENT_TYPE_VALUES,
} from '@otel-audit/semconv';
import { recordApproval, parseProposalRef, type ApprovalRecord, type ApprovalReviewer } from './approval.ts';
import { getAuditConfig } from './config.ts';
import { getAuditContext } from './context.ts';
import type { CommonOptions } from './helpers.ts';
import { recordInstant } from './internal/run.ts';
import { nameSuffix, put, reportInternalError, safeJson } from './internal/safe.ts';

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : safeJson(value);
}

export interface OverrideOptions extends CommonOptions {
  /** What the AI produced: its span (e.g. the model call's SpanContext) or a ref from `proposalRef`. */
  proposal: SpanContext | string;
  reviewer: ApprovalReviewer;
  /** The AI's output or decision (text or GenAI messages). Its SHA-256 is always recorded; the text only with captureContent. */
  originalOutput: unknown;
  /** What the person put in its place. Recorded only with captureContent. */
  finalOutput: unknown;
  /** `overridden` (default: replaced after the fact) or `edited` (changed before it took effect). */
  decision?: typeof APPROVAL_DECISION_VALUES.OVERRIDDEN | typeof APPROVAL_DECISION_VALUES.EDITED;
  rationale?: string;
  /** The reviewer's time on task, when the app measures it. */
  reviewDurationMs?: number;
  correlationId?: string;
}

/**
 * A person replaced the AI's output or decision: an approval span `approval overridden` linked
 * to what the AI produced, with the original beside the final, so the trail answers "what did
 * the AI say before the human changed it" (the bridge stores them as the event's input and
 * output: two digests always, the texts as the risk allows).
 */
export function recordOverride(options: OverrideOptions): ApprovalRecord {
  try {
    const extra: Attributes = { ...options.attributes };
    const original = text(options.originalOutput);
    if (original !== undefined) put(extra, ATTR_AUDIT_OVERRIDE_ORIGINAL_OUTPUT_SHA256, createHash('sha256').update(original).digest('hex'));
    if (getAuditConfig().captureContent) {
      put(extra, ATTR_AUDIT_OVERRIDE_ORIGINAL_OUTPUT, original);
      put(extra, ATTR_AUDIT_OVERRIDE_FINAL_OUTPUT, text(options.finalOutput));
    }
    put(extra, ATTR_AUDIT_APPROVAL_REVIEW_DURATION_MS, options.reviewDurationMs);
    return recordApproval({
      proposal: options.proposal,
      decision: options.decision ?? APPROVAL_DECISION_VALUES.OVERRIDDEN,
      reviewer: options.reviewer,
      rationale: options.rationale,
      correlationId: options.correlationId,
      attributes: extra,
    });
  } catch (err) {
    reportInternalError('recordOverride', err);
    return { spanContext: undefined, linked: false, correlationId: undefined, error: err instanceof Error ? err.message : String(err) };
  }
}

export interface EscalationOptions extends CommonOptions {
  proposal: SpanContext | string;
  /** Who passes it on. */
  from: ApprovalReviewer;
  /** To whom (a person, a role or a queue). */
  to: string;
  reason?: string;
  reviewDurationMs?: number;
  correlationId?: string;
}

/** A reviewer passed a decision on: `approval escalated`, from whom, to whom and why. */
export function recordEscalation(options: EscalationOptions): ApprovalRecord {
  try {
    const extra: Attributes = { ...options.attributes };
    put(extra, ATTR_AUDIT_ESCALATION_FROM, options.from?.id);
    put(extra, ATTR_AUDIT_ESCALATION_TO, options.to);
    put(extra, ATTR_AUDIT_ESCALATION_REASON, options.reason);
    put(extra, ATTR_AUDIT_APPROVAL_REVIEW_DURATION_MS, options.reviewDurationMs);
    return recordApproval({
      proposal: options.proposal,
      decision: APPROVAL_DECISION_VALUES.ESCALATED,
      reviewer: options.from,
      rationale: options.reason,
      correlationId: options.correlationId,
      attributes: extra,
    });
  } catch (err) {
    reportInternalError('recordEscalation', err);
    return { spanContext: undefined, linked: false, correlationId: undefined, error: err instanceof Error ? err.message : String(err) };
  }
}

export interface EvaluationOptions extends CommonOptions {
  /** The metric or evaluator: `relevance`, `bias.demographic_parity`, an LLM judge's name. */
  name: string;
  score?: number;
  label?: string;
  /** The judge's explanation: content, recorded only with captureContent. */
  explanation?: string;
  /** What was evaluated: its span (SpanContext), a `proposalRef`, or a traceparent. */
  target?: SpanContext | string;
  /** The evaluated call's `gen_ai.response.id`, when its span is not at hand. */
  responseId?: string;
  correlationId?: string;
}

/** Resolves a target to a span context and correlation id; never throws. */
function resolveTarget(target: SpanContext | string | undefined): { context?: SpanContext; correlationId?: string } {
  if (target === undefined) return {};
  try {
    if (typeof target === 'string') {
      const ref = parseProposalRef(target);
      return { context: ref.spanContext, correlationId: ref.correlationId };
    }
    return trace.isSpanContextValid(target) ? { context: target } : {};
  } catch (err) {
    reportInternalError('resolveTarget', err);
    return {};
  }
}

/**
 * An evaluation of a model call or agent run (quality, bias, groundedness, an LLM judge): a
 * span `evaluation {name}` with the GenAI evaluation attributes, linked to what it evaluated.
 */
export function recordEvaluation(options: EvaluationOptions): SpanContext | undefined {
  const target = resolveTarget(options.target);
  return recordInstant(
    'recordEvaluation',
    () => {
      const attributes: Attributes = { [ATTR_AUDIT_EVENT_TYPE]: EVENT_TYPE_VALUES.EVALUATION };
      put(attributes, 'gen_ai.evaluation.name', options.name);
      put(attributes, 'gen_ai.evaluation.score.value', options.score);
      put(attributes, 'gen_ai.evaluation.score.label', options.label);
      put(attributes, 'gen_ai.response.id', options.responseId);
      if (getAuditConfig().captureContent) put(attributes, 'gen_ai.evaluation.explanation', options.explanation);
      put(attributes, ATTR_AUDIT_CORRELATION_ID, options.correlationId ?? target.correlationId ?? getAuditContext()?.correlationId);
      return {
        name: `evaluation${nameSuffix(options.name)}`,
        kind: SpanKind.INTERNAL,
        attributes,
        links: target.context ? [{ context: target.context }] : [],
      };
    },
    options?.attributes,
  );
}

export interface DeploymentOptions extends CommonOptions {
  model: { registry?: string; name: string; version: string; runId?: string };
  /** Where it was promoted to: `staging`, `prod`, ... */
  environment: string;
  /** The serving platform: `sagemaker`, `azureml`, `databricks-model-serving`, `seldon`, ... */
  platform?: string;
  /** Who approved the promotion. Who promoted it is the audit context's actor. */
  approvedBy?: ApprovalReviewer;
  correlationId?: string;
}

/** A model version promoted to an environment: a span `deployment {name} {version}`. */
export function recordDeployment(options: DeploymentOptions): SpanContext | undefined {
  return recordInstant(
    'recordDeployment',
    () => {
      const attributes: Attributes = { [ATTR_AUDIT_EVENT_TYPE]: EVENT_TYPE_VALUES.DEPLOYMENT };
      put(attributes, ATTR_AUDIT_MODEL_REGISTRY, options.model?.registry);
      put(attributes, ATTR_AUDIT_MODEL_NAME, options.model?.name);
      put(attributes, ATTR_AUDIT_MODEL_VERSION, options.model?.version);
      put(attributes, ATTR_AUDIT_MODEL_RUN_ID, options.model?.runId);
      put(attributes, ATTR_AUDIT_DEPLOYMENT_ENVIRONMENT, options.environment);
      put(attributes, ATTR_AUDIT_DEPLOYMENT_PLATFORM, options.platform);
      put(attributes, ATTR_AUDIT_APPROVAL_REVIEWER_ID, options.approvedBy?.id);
      put(attributes, ATTR_AUDIT_APPROVAL_REVIEWER_ROLE, options.approvedBy?.role);
      put(attributes, ATTR_AUDIT_CORRELATION_ID, options.correlationId ?? getAuditContext()?.correlationId);
      return { name: `deployment${nameSuffix(options.model?.name)}${nameSuffix(options.model?.version)}`, kind: SpanKind.INTERNAL, attributes };
    },
    options?.attributes,
  );
}
