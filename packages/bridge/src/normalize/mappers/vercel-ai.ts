/**
 * Vercel AI SDK v4–v6 (`experimental_telemetry`): `ai.*` spans. Only the inner provider calls
 * (`*.doGenerate`, `*.doStream`, `*.doEmbed`) are model calls; the outer `ai.generateText` span
 * repeats the aggregated usage of its steps, so it is a request when it is the root and no
 * event otherwise, and its tokens are never counted. v7 (@ai-sdk/otel) emits GenAI semconv
 * names, which otel-genai maps.
 */
import type { ContentMessage, ContentPart, EventType, TelemetrySpan } from '../../model.ts';
import type { ContextSink, DraftBuilder, Mapper } from '../types.ts';
import { applyMetadata } from '../internal/context.ts';
import { openAiToolCalls, splitSystem, textMessage, toMessages } from '../internal/messages.ts';
import { PRIORITY } from '../internal/priority.ts';
import { setProvider } from '../internal/provider.ts';
import { consumeInto, count, first, isRecord, parseJsonish, rawStr, setField, str } from '../internal/values.ts';

const METADATA = 'ai.telemetry.metadata.';

const INNER = new Set([
  'ai.generateText.doGenerate',
  'ai.streamText.doStream',
  'ai.generateObject.doGenerate',
  'ai.streamObject.doStream',
  'ai.embed.doEmbed',
  'ai.embedMany.doEmbed',
]);
const OUTER = new Set(['ai.generateText', 'ai.streamText', 'ai.generateObject', 'ai.streamObject', 'ai.embed', 'ai.embedMany']);
const TOOL_CALL = 'ai.toolCall';

function operationId(span: TelemetrySpan): string | undefined {
  return str(span.attributes['ai.operationId']) ?? (span.name.startsWith('ai.') ? span.name.split(' ')[0] : undefined);
}

function vercelContext(span: TelemetrySpan, sink: ContextSink): void {
  const a = span.attributes;
  for (const key in a) {
    if (key.startsWith(METADATA)) applyMetadata(sink, key.slice(METADATA.length), a[key], key);
  }
}

function outputMessage(a: Record<string, unknown>, draft: DraftBuilder): ContentMessage | undefined {
  const parts: ContentPart[] = [];
  const text = rawStr(a['ai.response.text']);
  if (text !== undefined) {
    draft.consume('ai.response.text');
    if (text !== '') parts.push({ type: 'text', content: text });
  }
  const object = a['ai.response.object'];
  if (object !== undefined) {
    draft.consume('ai.response.object');
    parts.push({ type: 'text', content: typeof object === 'string' ? object : JSON.stringify(object) });
  }
  if (a['ai.response.toolCalls'] !== undefined) {
    draft.consume('ai.response.toolCalls');
    parts.push(...openAiToolCalls(a['ai.response.toolCalls']));
  }
  if (parts.length === 0) return undefined;
  const m: ContentMessage = { role: 'assistant', parts };
  const fr = str(a['ai.response.finishReason']);
  if (fr) m.finish_reason = fr;
  return m;
}

/** The outer span's `ai.prompt`: `{system?, prompt?, messages?}` as JSON. */
function promptContent(v: unknown, draft: DraftBuilder): void {
  const p = parseJsonish(v);
  const c = draft.content;
  if (typeof p === 'string') {
    c.input ??= [textMessage('user', p)];
    return;
  }
  if (!isRecord(p)) return;
  const system = rawStr(p.system);
  const msgs: ContentMessage[] = [];
  if (typeof p.prompt === 'string') msgs.push(textMessage('user', p.prompt));
  else if (Array.isArray(p.prompt)) msgs.push(...(toMessages(p.prompt) ?? []));
  if (Array.isArray(p.messages)) msgs.push(...(toMessages(p.messages) ?? []));
  const split = splitSystem(msgs);
  if (system) split.system.unshift(textMessage('system', system));
  if (split.system.length > 0) c.system ??= split.system;
  if (split.rest.length > 0) c.input ??= split.rest;
}

function mapVercel(span: TelemetrySpan, draft: DraftBuilder): boolean {
  const a = span.attributes;
  const f = draft.fields;
  const op = operationId(span);
  if (op === undefined || !op.startsWith('ai.')) return false;
  draft.consume('ai.operationId');
  setField(f, 'operation', op);
  const c = draft.content;

  if (op === TOOL_CALL) {
    draft.proposeType('tool_call', PRIORITY.CONVENTION);
    consumeInto(draft, a, 'tool_name', 'ai.toolCall.name');
    consumeInto(draft, a, 'tool_call_id', 'ai.toolCall.id');
    const args = first(a, 'ai.toolCall.args', 'ai.toolCall.input');
    if (args) {
      draft.consume(args[0]);
      c.arguments ??= parseJsonish(args[1]);
    }
    const result = first(a, 'ai.toolCall.result', 'ai.toolCall.output');
    if (result) {
      draft.consume(result[0]);
      c.result ??= parseJsonish(result[1]);
    }
    return true;
  }

  const inner = INNER.has(op);
  const outer = OUTER.has(op);
  if (inner) draft.proposeType('model_call', PRIORITY.CONVENTION);
  else if (outer) {
    if (span.parentSpanId) draft.suppress(PRIORITY.CONVENTION, 'nested outer AI SDK span');
    else draft.proposeType('request', PRIORITY.CONVENTION);
  }

  consumeInto(draft, a, 'request_model', 'ai.model.id');
  consumeInto(draft, a, 'response_model', 'ai.response.model');
  if (a['ai.model.provider'] !== undefined) {
    draft.consume('ai.model.provider');
    setProvider(draft, a['ai.model.provider']);
  }

  if (inner) {
    // Only the provider call counts tokens; the outer span's ai.usage.* stays in attributes.
    const inTok = first(a, 'ai.usage.promptTokens', 'ai.usage.inputTokens', 'ai.usage.tokens');
    const outTok = first(a, 'ai.usage.completionTokens', 'ai.usage.outputTokens');
    if (inTok || outTok) {
      draft.setTokens(
        inTok ? count(inTok[1]) : undefined,
        outTok ? count(outTok[1]) : undefined,
        ...[inTok?.[0], outTok?.[0]].filter((k): k is string => k !== undefined),
      );
    }
    const prompt = a['ai.prompt.messages'];
    if (prompt !== undefined) {
      draft.consume('ai.prompt.messages');
      const msgs = toMessages(prompt);
      if (msgs) {
        const { system, rest } = splitSystem(msgs);
        if (system.length > 0) c.system ??= system;
        if (rest.length > 0) c.input ??= rest;
      }
    }
  } else if (a['ai.prompt'] !== undefined) {
    draft.consume('ai.prompt');
    promptContent(a['ai.prompt'], draft);
  }

  const values = first(a, 'ai.values', 'ai.value');
  if (values) {
    draft.consume(values[0]);
    const v = parseJsonish(values[1]);
    const list = Array.isArray(v) ? v : [v];
    // The SDK JSON-encodes each value, inside an array attribute or a JSON array string.
    const texts = list.map((x) => {
      const y = parseJsonish(x);
      return typeof y === 'string' ? y : JSON.stringify(y);
    });
    c.input ??= texts.map((t) => textMessage('user', t));
  }
  // Vectors: bulky, meaningless to an auditor.
  draft.consume('ai.embeddings', 'ai.embedding');

  const out = outputMessage(a, draft);
  if (out) c.output ??= [out];
  const fr = str(a['ai.response.finishReason']);
  if (fr === 'content-filter' || fr === 'content_filter') {
    setField(f, 'status', 'denied');
    setField(f, 'error_type', 'content_filter');
  }
  return true;
}

function vercelFallback(span: TelemetrySpan): EventType | undefined {
  const op = operationId(span);
  if (op === TOOL_CALL) return 'tool_call';
  if (op !== undefined && INNER.has(op)) return 'model_call';
  if (op !== undefined && OUTER.has(op) && !span.parentSpanId) return 'request';
  return undefined;
}

export const vercelAiMapper: Mapper = {
  name: 'vercel_ai',
  triggers: ['ai.'],
  context: vercelContext,
  map: mapVercel,
  fallbackType: vercelFallback,
};
