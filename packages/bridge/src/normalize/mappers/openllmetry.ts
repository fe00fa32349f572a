/**
 * OpenLLMetry (Traceloop). Its newer instrumentations emit GenAI semconv names (otel-genai maps
 * those); this mapper covers what is its own: the workflow structure (`traceloop.*`), the older
 * indexed content (`gen_ai.prompt.N.*`, `gen_ai.completion.N.*`), `llm.request.type`,
 * `llm.usage.total_tokens`, Pinecone retrievals and association properties.
 */
import type { ContentMessage, ContentPart, EventType, SourceRef, TelemetrySpan } from '../../model.ts';
import type { ContextSink, DraftBuilder, Mapper } from '../types.ts';
import { applyMetadata } from '../internal/context.ts';
import { contentToParts, splitSystem, toolCallPart, toolResponsePart } from '../internal/messages.ts';
import { PRIORITY } from '../internal/priority.ts';
import { count, groupIndexed, isRecord, num, parseJsonish, setField, str } from '../internal/values.ts';

const ASSOCIATION = 'traceloop.association.properties.';

const SPAN_KIND_TYPES: Readonly<Record<string, EventType | null>> = {
  workflow: 'request',
  agent: 'request',
  tool: 'tool_call',
  task: null,
};

const REQUEST_TYPES: Readonly<Record<string, EventType>> = {
  chat: 'model_call',
  completion: 'model_call',
  embedding: 'model_call',
  rerank: 'retrieval',
};

function openllmetryContext(span: TelemetrySpan, sink: ContextSink): void {
  const a = span.attributes;
  for (const key in a) {
    if (key.startsWith(ASSOCIATION)) applyMetadata(sink, key.slice(ASSOCIATION.length), a[key], key);
  }
}

/** Indexed content may be a JSON array of parts (multimodal prompts). */
function partsOf(content: unknown): ContentPart[] {
  if (typeof content === 'string') {
    const parsed = parseJsonish(content);
    if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((p) => isRecord(p) && typeof p.type === 'string')) {
      return contentToParts(parsed);
    }
    return [{ type: 'text', content }];
  }
  return contentToParts(content);
}

function indexedMessages(
  attrs: Record<string, unknown>,
  prefix: string,
  defaultRole: string,
  draft: DraftBuilder,
): ContentMessage[] | undefined {
  const { groups, keys } = groupIndexed(attrs, prefix);
  if (groups.length === 0) return undefined;
  draft.consume(...keys);
  const out: ContentMessage[] = [];
  for (const [, g] of groups) {
    const role = str(g.role) ?? defaultRole;
    const parts: ContentPart[] = [];
    if (role === 'tool' && g.tool_call_id !== undefined) {
      parts.push(toolResponsePart(g.tool_call_id, g.content));
    } else if (g.content !== undefined) {
      parts.push(...partsOf(g.content));
    }
    for (const [, tc] of groupIndexed(g, 'tool_calls.').groups) {
      parts.push(toolCallPart(tc.id, tc.name, tc.arguments));
    }
    if (g['function_call.name'] !== undefined) {
      parts.push(toolCallPart(undefined, g['function_call.name'], g['function_call.arguments']));
    }
    const m: ContentMessage = { role, parts };
    const fr = str(g.finish_reason);
    if (fr) m.finish_reason = fr;
    out.push(m);
  }
  return out;
}

function vectorResults(attrs: Record<string, unknown>, draft: DraftBuilder): SourceRef[] | undefined {
  const { groups, keys } = groupIndexed(attrs, 'db.vector.query.result.');
  if (groups.length === 0) return undefined;
  draft.consume(...keys);
  const out: SourceRef[] = [];
  for (const [, g] of groups) {
    const id = str(g.id);
    if (id === undefined) continue;
    const meta = parseJsonish(g.metadata);
    const m = isRecord(meta) ? meta : {};
    out.push({
      id,
      uri: str(m.source) ?? str(m.url) ?? '',
      version: str(m.version) ?? '',
      sensitivity: str(m.sensitivity) ?? '',
      score: num(g.score) ?? null,
    });
  }
  return out;
}

function mapOpenLLMetry(span: TelemetrySpan, draft: DraftBuilder): boolean {
  const a = span.attributes;
  const f = draft.fields;
  let recognized = false;

  const kind = str(a['traceloop.span.kind'])?.toLowerCase();
  if (kind !== undefined) {
    recognized = true;
    const type = Object.hasOwn(SPAN_KIND_TYPES, kind) ? SPAN_KIND_TYPES[kind] : undefined;
    if (type) draft.proposeType(type, PRIORITY.CONVENTION);
    setField(f, 'operation', kind);
    if (kind === 'tool') {
      const name = str(a['traceloop.entity.name']);
      if (name !== undefined) {
        draft.consume('traceloop.entity.name');
        setField(f, 'tool_name', name);
      }
    }
  }
  const requestType = str(a['llm.request.type'])?.toLowerCase();
  if (requestType !== undefined) {
    recognized = true;
    draft.consume('llm.request.type');
    const type = Object.hasOwn(REQUEST_TYPES, requestType) ? REQUEST_TYPES[requestType] : undefined;
    if (type) draft.proposeType(type, PRIORITY.CONVENTION);
    setField(f, 'operation', requestType);
  }

  const isVectorQuery = span.name.endsWith('.query') && str(a['db.system']) !== undefined;
  const sources = vectorResults(a, draft);
  if (sources || (isVectorQuery && Object.keys(a).some((k) => k.startsWith('db.vector.query.')))) {
    recognized = true;
    draft.proposeType('retrieval', PRIORITY.CONVENTION);
    setField(f, 'operation', 'retrieval');
    if (sources) setField(f, 'sources', sources);
    const system = str(a['db.system']);
    if (system !== undefined) {
      draft.consume('db.system');
      setField(f, 'target_system', system);
    }
  }

  // Entity input/output of decorated workflows, tasks, agents and tools.
  const input = a['traceloop.entity.input'];
  if (input !== undefined) {
    recognized = true;
    draft.consume('traceloop.entity.input');
    draft.content.arguments ??= parseJsonish(input);
  }
  const output = a['traceloop.entity.output'];
  if (output !== undefined) {
    recognized = true;
    draft.consume('traceloop.entity.output');
    draft.content.result ??= parseJsonish(output);
  }

  // Older instrumentations: indexed prompts and completions.
  const prompts = indexedMessages(a, 'gen_ai.prompt.', 'user', draft);
  if (prompts) {
    recognized = true;
    const { system, rest } = splitSystem(prompts);
    if (system.length > 0) draft.content.system ??= system;
    if (rest.length > 0) draft.content.input ??= rest;
  }
  const completions = indexedMessages(a, 'gen_ai.completion.', 'assistant', draft);
  if (completions) {
    recognized = true;
    draft.content.output ??= completions;
    if (completions.some((m) => m.finish_reason === 'content_filter')) setField(f, 'status', 'denied');
  }

  // Only a total: derive the missing side when the other one is known.
  const total = count(a['llm.usage.total_tokens']);
  if (total !== undefined) {
    recognized = true;
    const inTok = f.input_tokens ?? undefined;
    const outTok = f.output_tokens ?? undefined;
    if (inTok !== undefined && outTok === undefined && total >= inTok) {
      draft.setTokens(undefined, total - inTok, 'llm.usage.total_tokens');
    } else if (outTok !== undefined && inTok === undefined && total >= outTok) {
      draft.setTokens(total - outTok, undefined, 'llm.usage.total_tokens');
    }
  }
  return recognized || Object.keys(a).some((k) => k.startsWith('traceloop.'));
}

function openllmetryFallback(span: TelemetrySpan): EventType | undefined {
  const kind = str(span.attributes['traceloop.span.kind'])?.toLowerCase();
  if (kind !== undefined && Object.hasOwn(SPAN_KIND_TYPES, kind)) return SPAN_KIND_TYPES[kind] ?? undefined;
  const rt = str(span.attributes['llm.request.type'])?.toLowerCase();
  if (rt !== undefined && Object.hasOwn(REQUEST_TYPES, rt)) return REQUEST_TYPES[rt];
  return undefined;
}

export const openllmetryMapper: Mapper = {
  name: 'openllmetry',
  triggers: ['traceloop.', 'llm.request.type', 'llm.usage.', 'gen_ai.prompt.', 'gen_ai.completion.', 'db.vector.query.'],
  context: openllmetryContext,
  map: mapOpenLLMetry,
  fallbackType: openllmetryFallback,
};
