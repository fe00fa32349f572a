export { configureAudit, getAuditConfig, INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, type AuditInstrumentationConfig } from './config.ts';
export {
  auditContextToAttributes,
  getAuditAttributes,
  getAuditContext,
  setAuditContext,
  withAuditContext,
  type AuditActor,
  type AuditAttributes,
  type AuditContext,
} from './context.ts';
export { AuditSpanProcessor, auditSpanProcessors } from './processor.ts';
export { auditAwareSampler, hasAuditAttributes, isAuditAwareSampler, type AuditAwareSamplerOptions } from './sampler.ts';
export {
  normalizeSources,
  recordOutcome,
  recordSystemEffect,
  traceModelCall,
  traceRetrieval,
  traceToolCall,
  type CommonOptions,
  type ModelCallOptions,
  type ModelCallRecorder,
  type ModelResponseInfo,
  type ModelUsage,
  type OutcomeOptions,
  type RetrievalOptions,
  type RetrievalRecorder,
  type SourceRef,
  type SystemEffectOptions,
  type ToolCallOptions,
  type ToolCallRecorder,
} from './helpers.ts';
export {
  parseProposalRef,
  proposalRef,
  PROPOSAL_REF_PREFIX,
  ProposalRefError,
  recordApproval,
  type ApprovalOptions,
  type ApprovalRecord,
  type ApprovalReviewer,
  type ProposalReference,
} from './approval.ts';
export {
  recordDeployment,
  recordEscalation,
  recordEvaluation,
  recordOverride,
  type DeploymentOptions,
  type EscalationOptions,
  type EvaluationOptions,
  type OverrideOptions,
} from './oversight.ts';
export {
  AuditSetupError,
  isTracerProviderRegistered,
  startAudit,
  type AuditHandle,
  type AuditSetupErrorCode,
  type OtlpHttpProtocol,
  type StartAuditOptions,
} from './start.ts';
export { getInternalErrorCount } from './internal/safe.ts';
export { auditTracingStatus, type AuditTracingStatus } from './tracing.ts';
export type { EndedSpan, ProcessedSpan, Sampler, SamplingDecision, SamplingResult, SpanProcessor } from './sdk-types.ts';
