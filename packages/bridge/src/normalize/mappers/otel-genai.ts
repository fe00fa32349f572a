/**
 * OpenTelemetry GenAI semantic conventions, every version in use: `gen_ai.system` (< 1.37) and
 * `gen_ai.provider.name`, prompt/completion token names and input/output ones, content as JSON
 * strings or structured values. Also what Vercel AI SDK v7 (@ai-sdk/otel) emits.
 */
import type { ContentMessage, EventType, TelemetrySpan } from '../../model.ts';
import type { ContextSink, DraftBuilder, Mapper } from '../types.ts';
import { setCorrelation } from '../internal/context.ts';
import { toMessages, toSystemInstructions } from '../internal/messages.ts';
import { PRIORITY } from '../internal/priority.ts';
import { setProvider } from '../internal/provider.ts';
import { toSourceRefs } from '../internal/sources.ts';
import { consumeInto, count, first, isRecord, parseJsonish, setField, str } from '../internal/values.ts';

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
  // @ai-sdk/otel v7: one span per agent loop step, wrapping the chat and tool spans.
  agent_step: null,
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
  if (reasons.includes('content_filter')) {
    // The provider's filter blocked the output: a denial, kept in the trail as such.
    setField(f, 'status', 'denied');
    setField(f, 'error_type', 'content_filter');
  }

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
