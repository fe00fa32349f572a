/**
 * Langfuse SDK (JS v4, Python v3) spans: `langfuse.observation.*` and `langfuse.trace.*`.
 * Identity rides on `user.id` / `session.id` (read by the audit mapper); the compat names
 * `langfuse.user.id` / `langfuse.session.id` are read here.
 */
import type { EventType, TelemetrySpan } from '../../model.ts';
import type { ContextSink, DraftBuilder, Mapper } from '../types.ts';
import { setCorrelation, setHumanActor } from '../internal/context.ts';
import { asMessageList, hasRedactionMarker, splitSystem, textMessage } from '../internal/messages.ts';
import { PRIORITY } from '../internal/priority.ts';
import { evaluatorAttributes } from '../internal/evaluation.ts';
import { blockedSignal } from '../internal/guardrail.ts';
import { toSourceRefs } from '../internal/sources.ts';
import { consumeInto, count, isRecord, parseJsonish, setField, str } from '../internal/values.ts';

const OBS = 'langfuse.observation.';

/** Observation type → event type; agent/chain are resolved by rootness. */
const TYPES: Readonly<Record<string, EventType | null>> = {
  generation: 'model_call',
  embedding: 'model_call',
  tool: 'tool_call',
  retriever: 'retrieval',
  guardrail: 'outcome',
  // Langfuse SDK 5 `asType: 'evaluator'` observations: an evaluation event.
  evaluator: 'evaluation',
  event: null,
  span: null,
};

function langfuseContext(span: TelemetrySpan, sink: ContextSink): void {
  const a = span.attributes;
  setHumanActor(sink, a['langfuse.user.id'], 'langfuse.user.id');
  setCorrelation(sink, a['langfuse.session.id'], 'session', 'langfuse.session.id');
}

function typeOf(kind: string, span: TelemetrySpan): EventType | null | undefined {
  if (kind === 'agent' || kind === 'chain') return span.parentSpanId ? null : 'request';
  return Object.hasOwn(TYPES, kind) ? TYPES[kind] : undefined;
}

function usage(v: unknown): { input?: number; output?: number } {
  const u = parseJsonish(v);
  if (!isRecord(u)) return {};
  return {
    input: count(u.input ?? u.prompt_tokens ?? u.input_tokens ?? u.promptTokens),
    output: count(u.output ?? u.completion_tokens ?? u.output_tokens ?? u.completionTokens),
  };
}

function mapLangfuse(span: TelemetrySpan, draft: DraftBuilder): boolean {
  const a = span.attributes;
  const f = draft.fields;
  const kind = str(a[`${OBS}type`])?.toLowerCase();
  let recognized = false;
  for (const k in a) if (k.startsWith('langfuse.')) recognized = true;
  if (!recognized) return false;

  if (kind !== undefined) {
    draft.consume(`${OBS}type`);
    setField(f, 'operation', kind);
    const type = typeOf(kind, span);
    if (type) draft.proposeType(type, PRIORITY.CONVENTION);
    else if (type === null && (kind === 'agent' || kind === 'chain')) {
      draft.suppress(PRIORITY.CONVENTION, `nested langfuse ${kind}`);
    }
  }

  consumeInto(draft, a, 'request_model', `${OBS}model.name`);
  const u = usage(a[`${OBS}usage_details`]);
  if (u.input !== undefined || u.output !== undefined) draft.setTokens(u.input, u.output, `${OBS}usage_details`);

  const promptName = str(a[`${OBS}prompt.name`]);
  const promptVersion = str(a[`${OBS}prompt.version`]);
  if (promptName !== undefined || promptVersion !== undefined) {
    draft.consume(`${OBS}prompt.name`, `${OBS}prompt.version`);
    setField(f, 'prompt_version', promptName && promptVersion ? `${promptName}:${promptVersion}` : (promptVersion ?? promptName));
  }

  const level = str(a[`${OBS}level`])?.toUpperCase();
  if (level === 'ERROR') {
    // The status message is free text (may hold user data): it stays in attributes, under
    // the redactor, rather than becoming the low-cardinality error_type.
    draft.consume(`${OBS}level`);
    setField(f, 'status', 'error');
  }

  // Content: generation inputs are usually OpenAI-style message arrays.
  const c = draft.content;
  const rawIn = a[`${OBS}input`];
  const rawOut = a[`${OBS}output`];
  const input = rawIn !== undefined ? parseJsonish(rawIn) : undefined;
  const output = rawOut !== undefined ? parseJsonish(rawOut) : undefined;
  if (rawIn !== undefined) draft.consume(`${OBS}input`);
  if (rawOut !== undefined) draft.consume(`${OBS}output`);
  if (kind === 'generation' || kind === 'embedding') {
    if (input !== undefined) {
      const msgs = asMessageList(input);
      if (msgs) {
        const { system, rest } = splitSystem(msgs);
        if (system.length > 0) c.system ??= system;
        if (rest.length > 0) c.input ??= rest;
      } else if (typeof input === 'string') c.input ??= [textMessage('user', input)];
      else c.arguments ??= input;
    }
    if (output !== undefined) {
      const msgs = isRecord(output) && typeof output.role === 'string' ? asMessageList([output]) : asMessageList(output);
      if (msgs) c.output ??= msgs;
      else if (typeof output === 'string') c.output ??= [textMessage('assistant', output)];
      else c.result ??= output;
    }
  } else {
    if (kind === 'retriever') {
      if (typeof input === 'string') c.query ??= input;
      const sources = toSourceRefs(output) ?? (isRecord(output) ? toSourceRefs(output.documents) : undefined);
      if (sources && sources.length > 0) setField(f, 'sources', sources);
    }
    // Langfuse has no tool-name attribute: the observation is named after the tool.
    if (kind === 'tool') setField(f, 'tool_name', span.name);
    if (input !== undefined && !(kind === 'retriever' && typeof input === 'string')) c.arguments ??= input;
    if (output !== undefined) c.result ??= output;
  }
  if (kind === 'evaluator') draft.derive(evaluatorAttributes(span.name, output));
  if (kind === 'guardrail') {
    if (blockedSignal(output)) {
      f.status = 'denied';
      setField(f, 'outcome', 'rejected');
    } else if (level !== 'ERROR') {
      setField(f, 'outcome', 'completed');
    }
  }
  if (hasRedactionMarker(input) || hasRedactionMarker(output)) draft.contentState = 'redacted_by_source';

  for (const key of ['langfuse.trace.input', 'langfuse.trace.output']) {
    // Trace-level copies of a root's content: content, never plain attributes.
    if (a[key] === undefined) continue;
    draft.consume(key);
    if (!span.parentSpanId) {
      const v = parseJsonish(a[key]);
      if (key.endsWith('input')) c.arguments ??= v;
      else c.result ??= v;
    }
  }
  return true;
}

function langfuseFallback(span: TelemetrySpan): EventType | undefined {
  const kind = str(span.attributes[`${OBS}type`])?.toLowerCase();
  return kind !== undefined ? (typeOf(kind, span) ?? undefined) : undefined;
}

export const langfuseMapper: Mapper = {
  name: 'langfuse',
  triggers: ['langfuse.'],
  context: langfuseContext,
  map: mapLangfuse,
  fallbackType: langfuseFallback,
};
