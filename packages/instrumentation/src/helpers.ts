import { SpanKind, type Attributes, type Span, type SpanContext } from '@opentelemetry/api';
import {
  ATTR_AUDIT_APPROVAL_REQUIRED,
  ATTR_AUDIT_EFFECT,
  ATTR_AUDIT_EVENT_TYPE,
  ATTR_AUDIT_OUTCOME,
  ATTR_AUDIT_OUTCOME_REASON,
  ATTR_AUDIT_PERMISSION,
  ATTR_AUDIT_PROMPT_VERSION,
  ATTR_AUDIT_SOURCES,
  ATTR_AUDIT_TARGET_ID,
  ATTR_AUDIT_TARGET_SYSTEM,
  ATTR_AUDIT_TOOL_ACTION,
  EVENT_TYPE_VALUES,
  type Effect,
  type Outcome,
  type Permission,
  type ToolAction,
} from '@otel-audit/semconv';
import { getAuditConfig } from './config.ts';
import {
  GEN_AI_DATA_SOURCE_ID,
  GEN_AI_OPERATION_NAME,
  GEN_AI_PROVIDER_NAME,
  GEN_AI_REQUEST_MODEL,
  GEN_AI_RESPONSE_FINISH_REASONS,
  GEN_AI_RESPONSE_ID,
  GEN_AI_RESPONSE_MODEL,
  GEN_AI_RETRIEVAL_QUERY_TEXT,
  GEN_AI_TOOL_CALL_ARGUMENTS,
  GEN_AI_TOOL_CALL_ID,
  GEN_AI_TOOL_CALL_RESULT,
  GEN_AI_TOOL_NAME,
  GEN_AI_TOOL_TYPE,
  GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  GEN_AI_USAGE_INPUT_TOKENS,
  GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  OPERATION_EXECUTE_TOOL,
  OPERATION_RETRIEVAL,
} from './internal/genai.ts';
import { recordInstant, runInSpan, type SpanPlan } from './internal/run.ts';
import { nameSuffix, put, reportInternalError, safeJson } from './internal/safe.ts';

/** A retrieved source, recorded in `audit.sources`. */
export interface SourceRef {
  id: string;
  uri?: string;
  version?: string | number;
  /** e.g. `public`, `internal`, `confidential`, `restricted` */
  sensitivity?: string;
  score?: number;
}

/** Options every helper accepts. */
export interface CommonOptions {
  /** Extra span attributes; the helper's own attributes win over these. */
  attributes?: Attributes;
}

function json(value: unknown): string | undefined {
  return typeof value === 'string' ? value : safeJson(value);
}

/** Keeps well-formed entries, in a fixed field order (stable JSON for digests). */
export function normalizeSources(sources: unknown): SourceRef[] {
  if (!Array.isArray(sources)) return [];
  const out: SourceRef[] = [];
  for (const s of sources as unknown[]) {
    if (s === null || typeof s !== 'object') continue;
    const src = s as Record<string, unknown>;
    const id = typeof src.id === 'string' ? src.id : typeof src.id === 'number' && Number.isFinite(src.id) ? String(src.id) : undefined;
    if (id === undefined || id === '') continue;
    const ref: SourceRef = { id };
    if (typeof src.uri === 'string' && src.uri !== '') ref.uri = src.uri;
    if ((typeof src.version === 'string' && src.version !== '') || (typeof src.version === 'number' && Number.isFinite(src.version))) ref.version = src.version;
    if (typeof src.sensitivity === 'string' && src.sensitivity !== '') ref.sensitivity = src.sensitivity;
    if (typeof src.score === 'number' && Number.isFinite(src.score)) ref.score = src.score;
    out.push(ref);
  }
  return out;
}

function setSources(span: Span, sources: unknown): void {
  span.setAttribute(ATTR_AUDIT_SOURCES, JSON.stringify(normalizeSources(sources)));
}

// ---------------------------------------------------------------- retrieval

export interface RetrievalOptions<T> extends CommonOptions {
  /** The query; recorded (gen_ai.retrieval.query.text) only with captureContent on. */
  query?: string;
  /** The index, collection or store searched (gen_ai.data_source.id). */
  dataSource?: string;
  /** Sources known up front, or a function called after `fn` succeeds. */
  sources?: SourceRef[] | (() => SourceRef[]);
  /** Derives the sources from `fn`'s result; wins over `sources`. */
  sourcesFrom?: (result: Awaited<T>) => SourceRef[] | undefined;
}

export interface RetrievalRecorder {
  readonly span: Span;
  setSources(sources: SourceRef[]): void;
}

function retrievalRecorder(span: Span): RetrievalRecorder {
  return {
    span,
    setSources(sources) {
      try {
        setSources(span, sources);
      } catch (err) {
        reportInternalError('RetrievalRecorder.setSources', err);
      }
    },
  };
}

/** Runs `fn` in a `retrieval {dataSource}` span; returns its result. */
export function traceRetrieval<T>(options: RetrievalOptions<T>, fn: (retrieval: RetrievalRecorder) => T): T {
  return runInSpan(
    'traceRetrieval',
    (): SpanPlan => {
      const attributes: Attributes = {
        [GEN_AI_OPERATION_NAME]: OPERATION_RETRIEVAL,
        [ATTR_AUDIT_EVENT_TYPE]: EVENT_TYPE_VALUES.RETRIEVAL,
      };
      put(attributes, GEN_AI_DATA_SOURCE_ID, options.dataSource);
      if (getAuditConfig().captureContent) put(attributes, GEN_AI_RETRIEVAL_QUERY_TEXT, options.query);
      if (Array.isArray(options.sources)) attributes[ATTR_AUDIT_SOURCES] = JSON.stringify(normalizeSources(options.sources));
      const ds = nameSuffix(options.dataSource);
      return { name: `${OPERATION_RETRIEVAL}${ds}`, kind: SpanKind.CLIENT, attributes };
    },
    retrievalRecorder,
    fn,
    (span, result) => {
      if (typeof options.sourcesFrom === 'function') setSources(span, options.sourcesFrom(result));
      else if (typeof options.sources === 'function') setSources(span, options.sources());
    },
    options?.attributes,
  );
}

// ---------------------------------------------------------------- tool call

export interface ToolCallOptions extends CommonOptions {
  /** gen_ai.tool.name */
  name: string;
  /** gen_ai.tool.call.id, as the model gave it */
  callId?: string;
  /** gen_ai.tool.type: `function`, `extension`, `datastore` */
  type?: string;
  action: ToolAction;
  targetSystem?: string;
  targetId?: string;
  permission?: Permission;
  /** True when the action is proposed for human approval rather than executed. */
  approvalRequired?: boolean;
  /** The call's arguments; recorded (gen_ai.tool.call.arguments) only with captureContent on. */
  arguments?: unknown;
}

export interface ToolCallRecorder {
  readonly span: Span;
  /** When the permission check happens inside the tool. */
  setPermission(permission: Permission): void;
  setTarget(targetSystem: string | undefined, targetId: string | undefined): void;
  /** The tool's result; recorded only with captureContent on. */
  setResult(result: unknown): void;
}

function toolRecorder(span: Span): ToolCallRecorder {
  const guard = (name: string, f: () => void): void => {
    try {
      f();
    } catch (err) {
      reportInternalError(`ToolCallRecorder.${name}`, err);
    }
  };
  return {
    span,
    setPermission: (permission) => guard('setPermission', () => span.setAttribute(ATTR_AUDIT_PERMISSION, permission)),
    setTarget: (system, id) =>
      guard('setTarget', () => {
        const a: Attributes = {};
        put(a, ATTR_AUDIT_TARGET_SYSTEM, system);
        put(a, ATTR_AUDIT_TARGET_ID, id);
        span.setAttributes(a);
      }),
    setResult: (result) =>
      guard('setResult', () => {
        if (!getAuditConfig().captureContent) return;
        const s = json(result);
        if (s !== undefined) span.setAttribute(GEN_AI_TOOL_CALL_RESULT, s);
      }),
  };
}

/** Runs `fn` in an `execute_tool {name}` span; returns its result. */
export function traceToolCall<T>(options: ToolCallOptions, fn: (tool: ToolCallRecorder) => T): T {
  return runInSpan(
    'traceToolCall',
    (): SpanPlan => {
      const attributes: Attributes = {
        [GEN_AI_OPERATION_NAME]: OPERATION_EXECUTE_TOOL,
        [ATTR_AUDIT_EVENT_TYPE]: EVENT_TYPE_VALUES.TOOL_CALL,
      };
      put(attributes, GEN_AI_TOOL_NAME, options.name);
      put(attributes, GEN_AI_TOOL_CALL_ID, options.callId);
      put(attributes, GEN_AI_TOOL_TYPE, options.type);
      put(attributes, ATTR_AUDIT_TOOL_ACTION, options.action);
      put(attributes, ATTR_AUDIT_TARGET_SYSTEM, options.targetSystem);
      put(attributes, ATTR_AUDIT_TARGET_ID, options.targetId);
      put(attributes, ATTR_AUDIT_PERMISSION, options.permission);
      put(attributes, ATTR_AUDIT_APPROVAL_REQUIRED, options.approvalRequired);
      if (getAuditConfig().captureContent && options.arguments !== undefined) {
        put(attributes, GEN_AI_TOOL_CALL_ARGUMENTS, json(options.arguments));
      }
      const name = nameSuffix(options.name);
      return { name: `${OPERATION_EXECUTE_TOOL}${name}`, kind: SpanKind.INTERNAL, attributes };
    },
    toolRecorder,
    fn,
    undefined,
    options?.attributes,
  );
}

// ---------------------------------------------------------------- model call

export interface ModelUsage {
  inputTokens?: number;
  outputTokens?: number;
  cacheReadInputTokens?: number;
  cacheCreationInputTokens?: number;
  reasoningOutputTokens?: number;
}

export interface ModelResponseInfo {
  usage?: ModelUsage;
  responseModel?: string;
  responseId?: string;
  finishReasons?: string[];
}

export interface ModelCallOptions<T> extends CommonOptions {
  /** gen_ai.provider.name, e.g. `openai`, `anthropic`, `aws.bedrock` */
  provider: string;
  /** gen_ai.request.model */
  model: string;
  /** gen_ai.operation.name: `chat` (default), `generate_content`, `text_completion`, `embeddings` */
  operation?: string;
  /** audit.prompt.version */
  promptVersion?: string;
  /** Reads usage and response fields from `fn`'s result (instead of, or besides, the recorder). */
  responseFrom?: (result: Awaited<T>) => ModelResponseInfo | undefined;
}

export interface ModelCallRecorder {
  readonly span: Span;
  setUsage(usage: ModelUsage): void;
  setResponseModel(model: string): void;
  setResponseId(id: string): void;
  setFinishReasons(reasons: string[]): void;
}

function applyResponse(span: Span, info: ModelResponseInfo | undefined): void {
  if (info === undefined || info === null || typeof info !== 'object') return;
  const a: Attributes = {};
  const u = info.usage;
  if (u !== undefined && u !== null && typeof u === 'object') {
    put(a, GEN_AI_USAGE_INPUT_TOKENS, u.inputTokens);
    put(a, GEN_AI_USAGE_OUTPUT_TOKENS, u.outputTokens);
    put(a, GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, u.cacheReadInputTokens);
    put(a, GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, u.cacheCreationInputTokens);
    put(a, GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, u.reasoningOutputTokens);
  }
  put(a, GEN_AI_RESPONSE_MODEL, info.responseModel);
  put(a, GEN_AI_RESPONSE_ID, info.responseId);
  if (Array.isArray(info.finishReasons)) {
    const reasons = info.finishReasons.filter((r): r is string => typeof r === 'string');
    if (reasons.length > 0) a[GEN_AI_RESPONSE_FINISH_REASONS] = reasons;
  }
  span.setAttributes(a);
}

function modelRecorder(span: Span): ModelCallRecorder {
  const apply = (name: string, info: ModelResponseInfo): void => {
    try {
      applyResponse(span, info);
    } catch (err) {
      reportInternalError(`ModelCallRecorder.${name}`, err);
    }
  };
  return {
    span,
    setUsage: (usage) => apply('setUsage', { usage }),
    setResponseModel: (responseModel) => apply('setResponseModel', { responseModel }),
    setResponseId: (responseId) => apply('setResponseId', { responseId }),
    setFinishReasons: (finishReasons) => apply('setFinishReasons', { finishReasons }),
  };
}

/**
 * Runs `fn` in a `{operation} {model}` client span, for model clients that no OTel
 * instrumentation covers; `fn` reports usage through the recorder or `responseFrom`.
 */
export function traceModelCall<T>(options: ModelCallOptions<T>, fn: (call: ModelCallRecorder) => T): T {
  return runInSpan(
    'traceModelCall',
    (): SpanPlan => {
      const operation = typeof options.operation === 'string' && options.operation !== '' ? options.operation : 'chat';
      const attributes: Attributes = {
        [GEN_AI_OPERATION_NAME]: operation,
        [ATTR_AUDIT_EVENT_TYPE]: EVENT_TYPE_VALUES.MODEL_CALL,
      };
      put(attributes, GEN_AI_PROVIDER_NAME, options.provider);
      put(attributes, GEN_AI_REQUEST_MODEL, options.model);
      put(attributes, ATTR_AUDIT_PROMPT_VERSION, options.promptVersion);
      const model = nameSuffix(options.model);
      return { name: `${operation}${model}`, kind: SpanKind.CLIENT, attributes };
    },
    modelRecorder,
    fn,
    options?.responseFrom === undefined ? undefined : (span, result) => applyResponse(span, options.responseFrom?.(result)),
    options?.attributes,
  );
}

// ---------------------------------------------------------------- point events

export interface SystemEffectOptions extends CommonOptions {
  effect: Effect;
  targetSystem: string;
  targetId: string;
  action?: ToolAction;
}

/**
 * Records that something changed outside the app (a message sent, a record updated): a span
 * `system_effect {effect}`, ended at once, child of the active span. Returns its SpanContext.
 */
export function recordSystemEffect(options: SystemEffectOptions): SpanContext | undefined {
  return recordInstant(
    'recordSystemEffect',
    () => {
      const attributes: Attributes = { [ATTR_AUDIT_EVENT_TYPE]: EVENT_TYPE_VALUES.SYSTEM_EFFECT };
      put(attributes, ATTR_AUDIT_EFFECT, options.effect);
      put(attributes, ATTR_AUDIT_TARGET_SYSTEM, options.targetSystem);
      put(attributes, ATTR_AUDIT_TARGET_ID, options.targetId);
      put(attributes, ATTR_AUDIT_TOOL_ACTION, options.action);
      const effect = nameSuffix(options.effect);
      return { name: `system_effect${effect}`, kind: SpanKind.INTERNAL, attributes };
    },
    options?.attributes,
  );
}

export interface OutcomeOptions extends CommonOptions {
  outcome: Outcome;
  reason?: string;
}

/** Records how a task ended: a span `outcome {outcome}`, ended at once, child of the active span. */
export function recordOutcome(options: OutcomeOptions): SpanContext | undefined {
  return recordInstant(
    'recordOutcome',
    () => {
      const attributes: Attributes = { [ATTR_AUDIT_EVENT_TYPE]: EVENT_TYPE_VALUES.OUTCOME };
      put(attributes, ATTR_AUDIT_OUTCOME, options.outcome);
      put(attributes, ATTR_AUDIT_OUTCOME_REASON, options.reason);
      const outcome = nameSuffix(options.outcome);
      return { name: `outcome${outcome}`, kind: SpanKind.INTERNAL, attributes };
    },
    options?.attributes,
  );
}
