/**
 * OpenInference (Arize): `openinference.span.kind` decides the type; content comes as indexed
 * `llm.input_messages.N.message.*` or as `input.value` / `output.value` with a mime type.
 */
import type { ContentMessage, ContentPart, EventType, SourceRef, TelemetrySpan } from '../../model.ts';
import type { DraftBuilder, Mapper } from '../types.ts';
import {
  REDACTED_MARKER,
  asMessageList,
  hasRedactionMarker,
  splitSystem,
  textMessage,
  toolCallPart,
  toolResponsePart,
} from '../internal/messages.ts';
import { evaluatorAttributes } from '../internal/evaluation.ts';
import { blockedSignal } from '../internal/guardrail.ts';
import { PRIORITY } from '../internal/priority.ts';
import { setProvider } from '../internal/provider.ts';
import { toSourceRef } from '../internal/sources.ts';
import { consumeInto, count, groupIndexed, isRecord, parseJsonish, rawStr, setField, str } from '../internal/values.ts';

/** Span kind → type. CHAIN is resolved separately: only a root CHAIN is a request. */
const KIND_TYPES: Readonly<Record<string, EventType | null>> = {
  LLM: 'model_call',
  EMBEDDING: 'model_call',
  TOOL: 'tool_call',
  RETRIEVER: 'retrieval',
  RERANKER: 'retrieval',
  AGENT: 'request',
  GUARDRAIL: 'outcome',
  // @arizeai/phoenix-evals wraps each evaluator in an EVALUATOR span.
  EVALUATOR: 'evaluation',
  PROMPT: null,
  UNKNOWN: null,
};

type Attrs = Record<string, unknown>;

function messagesFrom(attrs: Attrs, prefix: string, defaultRole: string, draft: DraftBuilder): ContentMessage[] | undefined {
  const { groups, keys } = groupIndexed(attrs, prefix);
  if (groups.length === 0) return undefined;
  draft.consume(...keys);
  const out: ContentMessage[] = [];
  for (const [, g] of groups) {
    const role = str(g['message.role']) ?? defaultRole;
    const parts: ContentPart[] = [];
    const content = g['message.content'];
    if (role === 'tool' && g['message.tool_call_id'] !== undefined) {
      parts.push(toolResponsePart(g['message.tool_call_id'], content));
    } else if (typeof content === 'string') {
      parts.push({ type: 'text', content });
    }
    for (const [, c] of groupIndexed(g, 'message.contents.').groups) {
      const type = str(c['message_content.type']) ?? 'text';
      if (type === 'text') parts.push({ type: 'text', content: rawStr(c['message_content.text']) ?? '' });
      else if (c['message_content.image.image.url'] !== undefined) {
        parts.push({ type: 'uri', modality: 'image', uri: str(c['message_content.image.image.url']) ?? '' });
      } else parts.push({ type });
    }
    for (const [, tc] of groupIndexed(g, 'message.tool_calls.').groups) {
      parts.push(
        toolCallPart(tc['tool_call.id'], tc['tool_call.function.name'], tc['tool_call.function.arguments']),
      );
    }
    out.push({ role, parts });
  }
  return out;
}

function documentsFrom(attrs: Attrs, prefix: string, draft: DraftBuilder): { sources: SourceRef[]; docs: unknown[] } | undefined {
  const { groups, keys } = groupIndexed(attrs, prefix);
  if (groups.length === 0) return undefined;
  draft.consume(...keys);
  const sources: SourceRef[] = [];
  const docs: unknown[] = [];
  for (const [i, g] of groups) {
    const doc: Record<string, unknown> = {
      id: g['document.id'],
      score: g['document.score'],
      metadata: parseJsonish(g['document.metadata']),
    };
    const ref = toSourceRef(doc);
    if (ref) sources.push(ref);
    // Content is kept in content (under the content policy), never in the sources column.
    const entry: Record<string, unknown> = { index: i };
    for (const [k, v] of Object.entries(doc)) if (v !== undefined) entry[k] = v;
    if (g['document.content'] !== undefined) entry.content = g['document.content'];
    docs.push(entry);
  }
  return { sources, docs };
}

function ioValue(attrs: Attrs, key: 'input' | 'output'): unknown {
  const v = attrs[`${key}.value`];
  if (v === undefined) return undefined;
  const mime = str(attrs[`${key}.mime_type`]);
  return mime === 'application/json' || mime === undefined ? parseJsonish(v) : v;
}

/** What a guardrail span can tell about blocking: a failed validation, a tripped wire. */
function guardrailBlocked(span: TelemetrySpan, output: unknown): boolean {
  if (blockedSignal(output)) return true;
  if (span.statusCode === 2) {
    // Guardrails AI raises on_fail=exception as a ValidationError.
    const why = `${str(span.attributes['error.type']) ?? ''} ${span.statusMessage}`;
    return /validation|guardrail|tripwire|blocked/i.test(why);
  }
  return false;
}

function mapOpenInference(span: TelemetrySpan, draft: DraftBuilder): boolean {
  const a = span.attributes;
  const f = draft.fields;
  const kind = str(a['openinference.span.kind'])?.toUpperCase();
  if (kind === undefined) return false;
  draft.consume('openinference.span.kind');
  setField(f, 'operation', kind.toLowerCase());

  let type: EventType | null | undefined;
  if (kind === 'CHAIN') {
    // LangChain wraps everything in CHAIN spans: only the outermost one is the request.
    type = span.parentSpanId ? null : 'request';
    if (type === null) draft.suppress(PRIORITY.CONVENTION, 'nested OpenInference CHAIN');
  } else {
    type = Object.hasOwn(KIND_TYPES, kind) ? KIND_TYPES[kind] : undefined;
  }
  if (type) draft.proposeType(type, PRIORITY.CONVENTION);

  consumeInto(draft, a, 'request_model', 'llm.model_name');
  consumeInto(draft, a, 'request_model', 'embedding.model_name');
  consumeInto(draft, a, 'request_model', 'reranker.model_name');
  const provider = str(a['llm.provider']) ?? str(a['llm.system']);
  if (provider !== undefined) {
    draft.consume('llm.provider', 'llm.system');
    setProvider(draft, provider);
  }
  const inTok = count(a['llm.token_count.prompt']);
  const outTok = count(a['llm.token_count.completion']);
  if (inTok !== undefined || outTok !== undefined) {
    draft.setTokens(inTok, outTok, ...['llm.token_count.prompt', 'llm.token_count.completion'].filter((k) => k in a));
  }

  const c = draft.content;
  const input = ioValue(a, 'input');
  const output = ioValue(a, 'output');
  const redacted = hasRedactionMarker(input) || hasRedactionMarker(output);
  if (input !== undefined) draft.consume('input.value', 'input.mime_type');
  if (output !== undefined) draft.consume('output.value', 'output.mime_type');

  const inMsgs = messagesFrom(a, 'llm.input_messages.', 'user', draft);
  const outMsgs = messagesFrom(a, 'llm.output_messages.', 'assistant', draft);
  if (inMsgs) {
    const { system, rest } = splitSystem(inMsgs);
    if (system.length > 0) c.system ??= system;
    if (rest.length > 0) c.input ??= rest;
  }
  if (outMsgs && outMsgs.length > 0) c.output ??= outMsgs;
  const messagesRedacted = [inMsgs, outMsgs].some((ms) =>
    ms?.some((m) => m.parts.some((p) => p.type === 'text' && (p as { content?: unknown }).content === REDACTED_MARKER)),
  );

  switch (kind) {
    case 'LLM':
    case 'EMBEDDING': {
      if (!inMsgs && input !== undefined) {
        const msgs = asMessageList(input);
        if (msgs) c.input ??= msgs;
        else if (typeof input === 'string') c.input ??= [textMessage('user', input)];
        else c.arguments ??= input;
      }
      if (!outMsgs && output !== undefined) {
        if (typeof output === 'string') c.output ??= [textMessage('assistant', output)];
        else c.result ??= output;
      }
      break;
    }
    case 'TOOL': {
      consumeInto(draft, a, 'tool_name', 'tool.name');
      consumeInto(draft, a, 'tool_call_id', 'tool_call.id');
      let args = input ?? (a['tool_call.function.arguments'] !== undefined ? parseJsonish(a['tool_call.function.arguments']) : undefined);
      if (a['tool_call.function.arguments'] !== undefined) draft.consume('tool_call.function.arguments');
      if (args === undefined && a['tool.parameters'] !== undefined) {
        // The spec puts the schema there; some integrations put the arguments.
        const params = parseJsonish(a['tool.parameters']);
        if (isRecord(params) && !('properties' in params) && !('type' in params)) {
          args = params;
          draft.consume('tool.parameters');
        }
      }
      if (args !== undefined) c.arguments ??= args;
      if (output !== undefined) c.result ??= output;
      break;
    }
    case 'RETRIEVER':
    case 'RERANKER': {
      const docs =
        documentsFrom(a, 'retrieval.documents.', draft) ?? documentsFrom(a, 'reranker.output_documents.', draft);
      if (docs) {
        setField(f, 'sources', docs.sources);
        c.result ??= docs.docs;
      } else if (output !== undefined) {
        c.result ??= output;
      }
      const query = str(a['reranker.query']) !== undefined ? rawStr(a['reranker.query']) : input;
      if (a['reranker.query'] !== undefined) draft.consume('reranker.query');
      if (typeof query === 'string') c.query ??= query;
      else if (query !== undefined) c.arguments ??= query;
      // Reranker inputs are the documents already recorded by the retriever.
      draft.consume(...groupIndexed(a, 'reranker.input_documents.').keys);
      break;
    }
    case 'GUARDRAIL': {
      if (input !== undefined) c.arguments ??= input;
      if (output !== undefined) c.result ??= output;
      if (guardrailBlocked(span, output)) {
        setField(f, 'status', 'denied');
        setField(f, 'outcome', 'rejected');
      } else if (span.statusCode !== 2) {
        setField(f, 'outcome', 'completed');
      }
      break;
    }
    case 'EVALUATOR': {
      if (input !== undefined) c.arguments ??= input;
      if (output !== undefined) c.result ??= output;
      draft.derive(evaluatorAttributes(span.name, output));
      break;
    }
    default: {
      if (input !== undefined) c.arguments ??= input;
      if (output !== undefined) c.result ??= output;
    }
  }
  // Embedded texts are content; the vectors are bulky and say nothing to an auditor: dropped.
  const embeddings = groupIndexed(a, 'embedding.embeddings.');
  if (embeddings.groups.length > 0) {
    draft.consume(...embeddings.keys);
    const texts = embeddings.groups
      .map(([, g]) => rawStr(g['embedding.text']))
      .filter((t): t is string => t !== undefined);
    if (texts.length > 0) c.input ??= texts.map((t) => textMessage('user', t));
  }

  if (redacted || messagesRedacted) draft.contentState = 'redacted_by_source';
  return true;
}

function openInferenceFallback(span: TelemetrySpan): EventType | undefined {
  const kind = str(span.attributes['openinference.span.kind'])?.toUpperCase();
  if (kind === 'CHAIN') return span.parentSpanId ? undefined : 'request';
  return kind !== undefined && Object.hasOwn(KIND_TYPES, kind) ? (KIND_TYPES[kind] ?? undefined) : undefined;
}

export const openInferenceMapper: Mapper = {
  name: 'openinference',
  triggers: ['openinference.'],
  map: mapOpenInference,
  fallbackType: openInferenceFallback,
};
