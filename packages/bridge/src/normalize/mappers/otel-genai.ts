/**
 * OpenTelemetry GenAI semantic conventions, every version in use: `gen_ai.system` (< 1.37) and
 * `gen_ai.provider.name`, prompt/completion token names and input/output ones, content as JSON
 * strings or structured values. Also what Vercel AI SDK v7 (@ai-sdk/otel) emits.
 */
import { createHash } from 'node:crypto';
import type { ContentMessage, EventType, TelemetrySpan } from '../../model.ts';
import type { ContextSink, DraftBuilder, Mapper } from '../types.ts';
import { setCorrelation } from '../internal/context.ts';
import { toMessages, toSystemInstructions } from '../internal/messages.ts';
import { PRIORITY } from '../internal/priority.ts';
import { setProvider } from '../internal/provider.ts';
import { toSourceRefs } from '../internal/sources.ts';
import { bool, consumeInto, count, first, isRecord, parseJsonish, setField, str } from '../internal/values.ts';

/** gen_ai.operation.name → event type; null: a known operation that is no audit event. */
export const OPERATION_TYPES: Readonly<Record<string, EventType | null>> = {
  chat: 'model_call',
  text_completion: 'model_call',
  generate_content: 'model_call',
  embeddings: 'model_call',
  retrieval: 'retrieval',
  rerank: 'retrieval',
  execute_tool: 'tool_call',
  invoke_agent: 'request',
  invoke_workflow: 'request',
  create_agent: 'request',
  // An agent's plan: its decision of what to do next, a step of the request (no tokens counted).
  plan: 'request',
  // Memory operations (semantic-conventions-genai): writes change the agent's own state.
  create_memory: 'system_effect',
  update_memory: 'system_effect',
  upsert_memory: 'system_effect',
  delete_memory: 'system_effect',
  create_memory_store: 'system_effect',
  delete_memory_store: 'system_effect',
  search_memory: 'retrieval',
  // @strands-agents/sdk 1.16 spells them with a dot, as its span names.
  'memory.search': 'retrieval',
  'memory.add': 'system_effect',
  'memory.extract': 'system_effect',
  // Puts already searched entries into the prompt: the search is the audit event.
  'memory.inject': null,
  // @strands-agents/sdk multi-agent orchestrations (Graph, Swarm) are requests; a node wraps
  // an agent invocation (its own request). Both carry the usage of everything below them, so
  // without these entries their usage alone would make them model calls (double counting).
  invoke_graph: 'request',
  invoke_swarm: 'request',
  execute_node: null,
  // @ai-sdk/otel v7: one span per agent loop step, wrapping the chat and tool spans.
  agent_step: null,
};

/** Memory operation → [audit.tool.action, audit.effect] (the effect only for writes). */
const MEMORY_OPS: Readonly<Record<string, readonly [string, string | undefined]>> = {
  create_memory: ['write', 'memory_written'],
  update_memory: ['update', 'memory_written'],
  upsert_memory: ['update', 'memory_written'],
  delete_memory: ['delete', 'memory_deleted'],
  create_memory_store: ['write', 'memory_written'],
  delete_memory_store: ['delete', 'memory_deleted'],
  search_memory: ['search', undefined],
  'memory.search': ['search', undefined],
  'memory.add': ['write', 'memory_written'],
  'memory.extract': ['write', 'memory_written'],
};

/** Content references (the content itself uploaded elsewhere by the source): kept as they are. */
const CONTENT_REF_KEYS = ['gen_ai.input.messages_ref', 'gen_ai.output.messages_ref', 'gen_ai.system_instructions_ref'];

/** Finish reasons that mean a guardrail or filter stopped the output: [status, error_type]. */
const BLOCKING_FINISH_REASONS: Readonly<Record<string, readonly [string, string]>> = {
  content_filter: ['denied', 'content_filter'],
  // AWS Bedrock Converse stopReason, as instrumentations copy it.
  guardrail_intervened: ['blocked', 'guardrail_intervened'],
  // OpenAI Responses / Anthropic refusals.
  refusal: ['denied', 'refusal'],
};

const INPUT_TOKEN_KEYS = ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens'];
const OUTPUT_TOKEN_KEYS = ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens'];

function operationFromName(name: string): string | undefined {
  const sp = name.indexOf(' ');
  const head = sp < 0 ? name : name.slice(0, sp);
  return Object.hasOwn(OPERATION_TYPES, head) ? head : undefined;
}

function genAiContext(span: TelemetrySpan, sink: ContextSink): void {
  setCorrelation(sink, span.attributes['gen_ai.conversation.id'], 'conversation', 'gen_ai.conversation.id');
}

export function finishReasons(v: unknown): string[] {
  const parsed = parseJsonish(v);
  if (Array.isArray(parsed)) return parsed.map((x) => str(x)).filter((x): x is string => x !== undefined);
  const one = str(parsed);
  return one ? [one] : [];
}

function mapGenAi(span: TelemetrySpan, draft: DraftBuilder): boolean {
  const a = span.attributes;
  const f = draft.fields;

  // Type first: a later parsing failure must not lose it.
  let op = str(a['gen_ai.operation.name']);
  let priority: number = PRIORITY.GENAI_OPERATION;
  if (op !== undefined) {
    draft.consume('gen_ai.operation.name');
  } else {
    op = operationFromName(span.name);
    priority = PRIORITY.SPAN_NAME;
  }
  const known = op !== undefined && Object.hasOwn(OPERATION_TYPES, op);
  if (known) {
    const type = OPERATION_TYPES[op!];
    if (type) draft.proposeType(type, priority);
    else draft.suppress(priority, `gen_ai operation ${op}`);
  }
  setField(f, 'operation', op);

  const provider = first(a, 'gen_ai.provider.name', 'gen_ai.system');
  if (provider) {
    draft.consume('gen_ai.provider.name', 'gen_ai.system');
    setProvider(draft, provider[1]);
  }
  const requestModel = consumeInto(draft, a, 'request_model', 'gen_ai.request.model');
  consumeInto(draft, a, 'response_model', 'gen_ai.response.model');

  const inKey = first(a, ...INPUT_TOKEN_KEYS);
  const outKey = first(a, ...OUTPUT_TOKEN_KEYS);
  if (inKey || outKey) {
    draft.setTokens(
      inKey ? count(inKey[1]) : undefined,
      outKey ? count(outKey[1]) : undefined,
      ...[...INPUT_TOKEN_KEYS, ...OUTPUT_TOKEN_KEYS].filter((k) => a[k] !== undefined),
    );
  }

  if (!known && (requestModel || inKey || outKey)) {
    // No operation anywhere, but a model and usage: a model call of some kind.
    draft.proposeType('model_call', PRIORITY.GENAI_FALLBACK);
  }

  const reasons = finishReasons(a['gen_ai.response.finish_reasons']);
  for (const r of reasons) {
    const blocking = BLOCKING_FINISH_REASONS[r];
    if (!blocking || !Object.hasOwn(BLOCKING_FINISH_REASONS, r)) continue;
    // The provider's filter or guardrail stopped the output: kept in the trail as such.
    setField(f, 'status', blocking[0]);
    setField(f, 'error_type', blocking[1]);
    break;
  }
  mapGuardrail(a, draft);

  if (op !== undefined && Object.hasOwn(MEMORY_OPS, op)) mapMemory(span, draft, op);
  if (op === 'invoke_agent') {
    // @strands-agents/sdk puts the agent's system prompt, raw, on the agent span: content.
    const sp = a['system_prompt'];
    if (sp !== undefined) {
      draft.consume('system_prompt');
      const msgs = toSystemInstructions(sp);
      if (msgs && msgs.some((m) => m.parts.length > 0)) draft.content.system ??= msgs;
    }
  }
  mapToolDefinitions(a, draft);
  mapEvaluation(span, draft, known);

  // Tools.
  consumeInto(draft, a, 'tool_name', 'gen_ai.tool.name');
  consumeInto(draft, a, 'tool_call_id', 'gen_ai.tool.call.id');
  const args = a['gen_ai.tool.call.arguments'];
  if (args !== undefined) {
    draft.consume('gen_ai.tool.call.arguments');
    draft.content.arguments ??= parseJsonish(args);
  }
  const result = a['gen_ai.tool.call.result'];
  if (result !== undefined) {
    draft.consume('gen_ai.tool.call.result');
    draft.content.result ??= parseJsonish(result);
  }

  // Retrieval.
  consumeInto(draft, a, 'target_system', 'gen_ai.data_source.id');
  const query = a['gen_ai.retrieval.query.text'];
  if (typeof query === 'string') {
    draft.consume('gen_ai.retrieval.query.text');
    draft.content.query ??= query;
  }
  const docs = a['gen_ai.retrieval.documents'];
  if (docs !== undefined) {
    draft.consume('gen_ai.retrieval.documents');
    const sources = toSourceRefs(docs);
    if (sources) setField(f, 'sources', sources);
    // The documents may hold text: they are content, under the content policy.
    draft.content.result ??= parseJsonish(docs);
  }

  // Messages.
  mapMessages(span, draft);
  return true;
}

function mapMessages(span: TelemetrySpan, draft: DraftBuilder): void {
  const a = span.attributes;
  const c = draft.content;
  let seen = false;
  let empty = true;
  const input = a['gen_ai.input.messages'];
  if (input !== undefined) {
    seen = true;
    draft.consume('gen_ai.input.messages');
    const msgs = toMessages(input, 'user');
    if (msgs && msgs.length > 0) {
      empty = false;
      c.input ??= msgs;
      noteToolApprovals(msgs, draft);
    }
  }
  const output = a['gen_ai.output.messages'];
  if (output !== undefined) {
    seen = true;
    draft.consume('gen_ai.output.messages');
    const msgs = toMessages(output, 'assistant');
    if (msgs && msgs.length > 0) {
      empty = false;
      c.output ??= msgs;
    }
  }
  const system = a['gen_ai.system_instructions'];
  if (system !== undefined) {
    seen = true;
    draft.consume('gen_ai.system_instructions');
    const msgs = toSystemInstructions(system);
    if (msgs && msgs.some((m) => m.parts.length > 0)) {
      empty = false;
      c.system ??= msgs;
    }
  }
  if (seen && empty && draft.contentState === undefined) draft.contentState = 'empty';
  // References stay in attributes (not consumed); they say where the content went.
  if (!seen && draft.contentState === undefined && CONTENT_REF_KEYS.some((k) => a[k] !== undefined)) {
    draft.contentState = 'stored_externally';
  }
  if (c.output?.some((m) => m.parts.some((p) => p.type === 'refusal'))) {
    // An OpenAI refusal part: the model declined, a denial in the trail.
    setField(draft.fields, 'status', 'denied');
    setField(draft.fields, 'error_type', 'refusal');
  }
}

/**
 * Memory operations: the store is the target system, the memory record the target id, the
 * query (search) and the record's content (writes) are content under the content policy.
 * Attribute names: semantic-conventions-genai's `gen_ai.memory.*`, and @strands-agents/sdk's
 * `memory.store.names` (a JSON array) / `memory.store.name`.
 */
function mapMemory(span: TelemetrySpan, draft: DraftBuilder, op: string): void {
  const a = span.attributes;
  const f = draft.fields;
  const [action, effect] = MEMORY_OPS[op]!;
  setField(f, 'action', action);
  setField(f, 'effect', effect);
  // The id names the store; its display name then stays in attributes.
  if (consumeInto(draft, a, 'target_system', 'gen_ai.memory.store.id') === undefined) {
    consumeInto(draft, a, 'target_system', 'gen_ai.memory.store.name');
  }
  consumeInto(draft, a, 'target_id', 'gen_ai.memory.id');
  const names = parseJsonish(a['memory.store.names']);
  if (Array.isArray(names) && names.length > 0) {
    draft.consume('memory.store.names');
    setField(f, 'target_system', names.map((n) => str(n) ?? '').filter(Boolean).join(','));
  }
  consumeInto(draft, a, 'target_system', 'memory.store.name');
  const query = a['gen_ai.memory.query.text'];
  if (typeof query === 'string') {
    draft.consume('gen_ai.memory.query.text');
    draft.content.query ??= query;
  }
  for (const k of ['gen_ai.memory.content', 'gen_ai.memory.records']) {
    const v = a[k];
    if (v === undefined) continue;
    draft.consume(k);
    draft.content.arguments ??= parseJsonish(v);
  }
  // Strands with gen_ai_span_attributes_only writes its memory events' payload (the query, then
  // the results, of a search; the added content) to a bare `content` attribute: content.
  const bare = a['content'];
  if (op.startsWith('memory.') && bare !== undefined) {
    draft.consume('content');
    if (action === 'search') draft.content.result ??= parseJsonish(bare);
    else draft.content.arguments ??= parseJsonish(bare);
  }
}

/**
 * `gen_ai.tool.definitions` (the tools offered to the model or agent, often large and holding
 * the app's own descriptions): replaced by its digest, the tool names and their count. The
 * raw value is not consumed, so it stays in `attributes` until intake applies `derived`
 * (intake/intake.ts, see EventDraft.derived).
 */
function mapToolDefinitions(a: Record<string, unknown>, draft: DraftBuilder): void {
  const raw = a['gen_ai.tool.definitions'];
  if (raw === undefined) return;
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  const parsed = parseJsonish(raw);
  const list = Array.isArray(parsed) ? parsed : isRecord(parsed) ? Object.values(parsed) : [];
  const names = list
    .map((t) => (isRecord(t) ? (str(t.name) ?? (isRecord(t.function) ? str(t.function.name) : undefined) ?? (isRecord(t.toolSpec) ? str(t.toolSpec.name) : undefined)) : undefined))
    .filter((n): n is string => n !== undefined);
  draft.derive(
    {
      'gen_ai.tool.definitions.sha256': createHash('sha256').update(text).digest('hex'),
      'gen_ai.tool.definitions.count': String(list.length),
      'gen_ai.tool.definitions.names': names.join(','),
    },
    'gen_ai.tool.definitions',
  );
}

/**
 * An evaluation stated on a span (`gen_ai.evaluation.*`, as `gen_ai.evaluation.result` log
 * records carry them; evaluation helpers emit spans): an `evaluation` event. Name, score and
 * label stay in `attributes` (the `evaluations` view reads them); the explanation is free text
 * from a judge that may quote the evaluated content, so it is content.
 */
function mapEvaluation(span: TelemetrySpan, draft: DraftBuilder, knownOperation: boolean): void {
  const a = span.attributes;
  if (a['gen_ai.evaluation.name'] === undefined && a['gen_ai.evaluation.score.value'] === undefined && a['gen_ai.evaluation.score.label'] === undefined) return;
  // An evaluation on a model call's own span describes the call; anywhere else it is the event.
  draft.proposeType('evaluation', knownOperation ? PRIORITY.GENAI_FALLBACK : PRIORITY.GENAI_OPERATION);
  setField(draft.fields, 'operation', 'evaluation');
  const explanation = a['gen_ai.evaluation.explanation'];
  if (explanation !== undefined) {
    draft.consume('gen_ai.evaluation.explanation');
    draft.content.result ??= parseJsonish(explanation);
  }
}

/**
 * Guardrail and security-finding shapes (the open `gen_ai.security.finding` proposal and
 * `gen_ai.guardrail.*`): a finding whose action blocks or denies makes the status `blocked`
 * (or `denied`); the finding's category is the error type. The policy, rule and reason
 * attributes are not consumed: they stay in `attributes` beside the status.
 */
function mapGuardrail(a: Record<string, unknown>, draft: DraftBuilder): void {
  for (const prefix of ['gen_ai.security.finding.', 'gen_ai.guardrail.']) {
    const action = str(a[`${prefix}action`] ?? a[`${prefix}decision`] ?? a[`${prefix}outcome`])?.toLowerCase();
    const triggered = bool(a[`${prefix}triggered`] ?? a[`${prefix}blocked`]);
    let status: string | undefined;
    if (action !== undefined && /^(block|blocked|reject|rejected|intervened|guardrail_intervened)$/.test(action)) status = 'blocked';
    else if (action !== undefined && /^(deny|denied|refuse|refused)$/.test(action)) status = 'denied';
    else if (action === undefined && triggered === true) status = 'blocked';
    if (!status) continue;
    setField(draft.fields, 'status', status);
    const category = str(a[`${prefix}category`] ?? a[`${prefix}type`] ?? a[`${prefix}name`]);
    setField(draft.fields, 'error_type', category ?? prefix.slice(0, -1));
    return;
  }
}

/** AI SDK v7 puts a human's tool approval into the next model call's input. */
function noteToolApprovals(msgs: ContentMessage[], draft: DraftBuilder): void {
  for (const m of msgs) {
    for (const p of m.parts) {
      if (p.type !== 'tool_approval_response' || !isRecord(p)) continue;
      const id = str(p.approval_id) ?? '?';
      const approved = p.approved === true ? 'approved' : p.approved === false ? 'rejected' : 'unknown';
      draft.note(`tool_approval_response in input: approval_id=${id} ${approved}`);
    }
  }
}

function genAiFallback(span: TelemetrySpan): EventType | undefined {
  const op = str(span.attributes['gen_ai.operation.name']) ?? operationFromName(span.name);
  return op !== undefined && Object.hasOwn(OPERATION_TYPES, op) ? (OPERATION_TYPES[op] ?? undefined) : undefined;
}

export const otelGenAiMapper: Mapper = {
  name: 'otel_genai',
  triggers: ['gen_ai.'],
  context: genAiContext,
  map: mapGenAi,
  fallbackType: genAiFallback,
};
