import type { AuditEvent, EventContent, EventType, TelemetrySpan } from '../model.ts';

/**
 * The identity, correlation and policy context a span states about itself. Descendants that
 * state none of a field inherit it from their nearest ancestor (see correlate/).
 */
export interface AuditContext {
  correlationId?: string;
  /** 'attribute' (audit.correlation_id), 'conversation' (gen_ai.conversation.id), 'session' (session.id and equivalents). */
  correlationSource?: 'attribute' | 'conversation' | 'session';
  actorId?: string;
  actorType?: string;
  actorRole?: string;
  onBehalfOf?: string;
  initiation?: string;
  purpose?: string;
  risk?: string;
  tenant?: string;
}

/** The fields of AuditEvent a mapper may set. Context, chain and identity columns are filled later. */
export type MappedFields = Partial<
  Pick<
    AuditEvent,
    | 'operation'
    | 'provider'
    | 'request_model'
    | 'response_model'
    | 'input_tokens'
    | 'output_tokens'
    | 'prompt_version'
    | 'tool_name'
    | 'tool_call_id'
    | 'action'
    | 'target_system'
    | 'target_id'
    | 'permission'
    | 'approval_required'
    | 'sources'
    | 'decision'
    | 'reviewer_id'
    | 'reviewer_role'
    | 'rationale'
    | 'edited'
    | 'effect'
    | 'outcome'
    | 'status'
    | 'error_type'
  >
> & {
  /** The provider name exactly as the source sent it, kept when normalization changed it. */
  provider_raw?: string;
};

/**
 * `stored_externally`: the source uploaded the content elsewhere and sent only references
 * (`gen_ai.input.messages_ref`, ...), which are kept in `attributes` as they are.
 */
export type ContentState = 'captured' | 'not_captured' | 'empty' | 'redacted_by_source' | 'stored_externally';

/** What the normalizer makes of one span. */
export interface EventDraft {
  eventType: EventType;
  fields: MappedFields;
  /** Raw (unredacted) content found on the span itself. Log-record content is joined later. */
  content: EventContent;
  contentState: ContentState;
  /** The context the span states itself (not inherited). */
  context: AuditContext;
  /** Convention families that recognised the span, e.g. ['otel_genai', 'audit']. */
  conventions: string[];
  /**
   * Attribute keys the mappers consumed into columns or content; the rest go to the
   * `attributes` column. Content-bearing keys must be listed here so that content never
   * lands in `attributes` outside the content policy.
   */
  consumedKeys: Set<string>;
  /**
   * Attributes the normalizer derives from raw ones it should not store as they are (the
   * digest, names and count of `gen_ai.tool.definitions`). Intake adds `attributes` to the
   * event's attributes and drops the `replaces` keys from them (they are not consumed here).
   * Absent when there are none.
   */
  derived?: { attributes: Record<string, string>; replaces: string[] };
  /**
   * Remarks to keep with the event (an invalid `audit.risk` that was ignored, a mapper that
   * failed, a tool approval seen in the input, ...). Absent when there are none.
   */
  notes?: string[];
}

/**
 * One convention family. `map` is called for every span its `triggers` match; it adds what it
 * recognises to the draft (type candidates, fields, content) and returns whether it recognised
 * anything. The context a span states goes through `context`, so that `spanContext` can read it
 * for spans that make no event.
 */
export interface Mapper {
  readonly name: string;
  map(span: TelemetrySpan, draft: DraftBuilder): boolean;
  /**
   * Attribute-key prefixes that make this mapper worth running (e.g. 'gen_ai.'). A span with
   * no key matching any mapper's triggers is dropped without further work. Absent: always run.
   */
  readonly triggers?: readonly string[];
  /**
   * The context the span states (correlation, actor, ...). Called for every triggered span,
   * also by `spanContext`, so it must be cheap and must not touch anything but the sink.
   */
  context?(span: TelemetrySpan, sink: ContextSink): void;
  /** A table-lookup guess of the event type, used only when `map` threw before proposing one. */
  fallbackType?(span: TelemetrySpan): EventType | undefined;
}

/** Where context extraction writes; a DraftBuilder is one. */
export interface ContextSink {
  context: AuditContext;
  consume(...keys: string[]): void;
  note(message: string): void;
}

/** The mutable state mappers write into; `normalizeSpan` turns it into an EventDraft. */
export interface DraftBuilder extends ContextSink {
  /** Candidate event type with a priority: the highest wins (audit.event.type uses 100). */
  proposeType(type: EventType, priority: number): void;
  /**
   * Vetoes every proposal of priority <= `priority` (e.g. a nested LangChain CHAIN span): the
   * span yields no event unless a stronger signal (an audit.* attribute) says otherwise.
   */
  suppress(priority: number, reason: string): void;
  /**
   * Sets input/output tokens where not yet set and consumes `keys`. Tokens are kept only when
   * the event resolves to a model_call (aggregates on agent/request spans would double count);
   * otherwise the keys stay in `attributes`.
   */
  setTokens(input: number | undefined, output: number | undefined, ...keys: string[]): void;
  /** Derived attributes, replacing the raw `replaces` keys if any (see EventDraft.derived). */
  derive(attributes: Record<string, string>, ...replaces: string[]): void;
  fields: MappedFields;
  content: EventContent;
  contentState: ContentState | undefined;
  context: AuditContext;
  consume(...keys: string[]): void;
}
