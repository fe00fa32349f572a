/**
 * Content that arrives as OTLP log records (`@opentelemetry/instrumentation-openai` and other
 * GenAI instrumentations that follow the event conventions), to be joined to its span.
 *
 * Ordering assumption: the records of one model call are merged in ascending log time
 * (`timeUnixNano`), ties kept in arrival order. instrumentation-openai stamps all request
 * messages of a call with the same timestamp and emits them in prompt order in one batch, and
 * the choices after the response, so a stable sort by time rebuilds the conversation exactly.
 * That sort happens where content is joined to its event (correlate/finalize.ts).
 */
import { createHash } from 'node:crypto';
import type { AttrValue, Attributes, ContentMessage, ContentPart, EventContent, TelemetryLog, TelemetrySpan } from '../model.ts';
import {
  contentToParts,
  openAiToolCalls,
  toMessages,
  toolResponsePart,
  toSystemInstructions,
} from './internal/messages.ts';
import { isRecord, str } from './internal/values.ts';

export interface LogContent {
  traceId: string;
  spanId: string;
  content: Partial<EventContent>;
}

type Handler = (log: TelemetryLog) => Partial<EventContent>;

function bodyObject(body: AttrValue): Record<string, unknown> {
  if (isRecord(body)) return body;
  // Some SDKs send the bare text as the body.
  if (typeof body === 'string') return { content: body };
  return {};
}

function message(role: string, parts: ContentPart[], finishReason?: string): ContentMessage[] {
  if (parts.length === 0) return [];
  const m: ContentMessage = { role, parts };
  if (finishReason) m.finish_reason = finishReason;
  return [m];
}

function partsWithToolCalls(b: Record<string, unknown>): ContentPart[] {
  const parts = contentToParts(b.content);
  if (b.tool_calls !== undefined) parts.push(...openAiToolCalls(b.tool_calls));
  return parts;
}

function only<K extends keyof EventContent>(key: K, value: EventContent[K] & unknown[]): Partial<EventContent> {
  return value.length > 0 ? ({ [key]: value } as Partial<EventContent>) : {};
}

const HANDLERS: Readonly<Record<string, Handler>> = {
  'gen_ai.system.message': (log) => {
    const b = bodyObject(log.body);
    return only('system', message(str(b.role) ?? 'system', contentToParts(b.content)));
  },
  'gen_ai.user.message': (log) => {
    const b = bodyObject(log.body);
    return only('input', message(str(b.role) ?? 'user', contentToParts(b.content)));
  },
  'gen_ai.assistant.message': (log) => {
    const b = bodyObject(log.body);
    return only('input', message(str(b.role) ?? 'assistant', partsWithToolCalls(b)));
  },
  'gen_ai.tool.message': (log) => {
    const b = bodyObject(log.body);
    if (b.content === undefined && b.id === undefined) return {};
    return only('input', message(str(b.role) ?? 'tool', [toolResponsePart(b.id, b.content)]));
  },
  'gen_ai.choice': (log) => {
    const b = bodyObject(log.body);
    const msg = isRecord(b.message) ? b.message : {};
    const parts = partsWithToolCalls(msg);
    const fr = str(b.finish_reason);
    // A choice without content (capture off) still says how the call ended.
    if (parts.length === 0 && !fr) return {};
    return { output: [{ role: str(msg.role) ?? 'assistant', parts, ...(fr ? { finish_reason: fr } : {}) }] };
  },
  'gen_ai.client.inference.operation.details': (log) => {
    const out: Partial<EventContent> = {};
    const b = isRecord(log.body) ? log.body : {};
    const pick = (key: string): unknown => log.attributes[key] ?? b[key];
    const input = pick('gen_ai.input.messages');
    if (input !== undefined) {
      const msgs = toMessages(input, 'user');
      if (msgs && msgs.length > 0) out.input = msgs;
    }
    const output = pick('gen_ai.output.messages');
    if (output !== undefined) {
      const msgs = toMessages(output, 'assistant');
      if (msgs && msgs.length > 0) out.output = msgs;
    }
    const system = pick('gen_ai.system_instructions');
    if (system !== undefined) {
      const msgs = toSystemInstructions(system);
      if (msgs && msgs.some((m) => m.parts.length > 0)) out.system = msgs;
    }
    return out;
  },
};

/**
 * Content of a GenAI log record, keyed by the span it belongs to; null for any other record
 * and for records not tied to a span (nothing to join them to): the caller counts the drop.
 */
export function normalizeLog(log: TelemetryLog): LogContent | null {
  const name = log.eventName || str(log.attributes?.['event.name']);
  if (!name || !Object.hasOwn(HANDLERS, name)) return null;
  if (!log.traceId || !log.spanId) return null;
  try {
    return { traceId: log.traceId, spanId: log.spanId, content: HANDLERS[name]!(log) };
  } catch {
    return null;
  }
}

/** Log records that are audit events of their own (not content of a span). */
const EVENT_RECORDS = new Set(['gen_ai.evaluation.result']);

/**
 * A log record that is an audit event of its own, as a span for normalizeSpan: today
 * `gen_ai.evaluation.result` (an evaluation of the span it is tied to). The span is a child of,
 * and links to, the evaluated span; its id derives from the record (trace, span, time, name),
 * so the same record re-sent makes the same event. null for any other record.
 *
 * Intake runs this over the log records that normalizeLog does not take, and feeds the spans it
 * returns through the span path (intake/intake.ts).
 */
export function logEventSpan(log: TelemetryLog): TelemetrySpan | null {
  const name = log.eventName || str(log.attributes?.['event.name']);
  if (!name || !EVENT_RECORDS.has(name)) return null;
  const attributes: Attributes = {};
  // Some emitters put the fields in the body instead of the attributes.
  if (isRecord(log.body)) for (const k in log.body) if (k.startsWith('gen_ai.')) attributes[k] = log.body[k] as AttrValue;
  for (const k in log.attributes) if (k !== 'event.name') attributes[k] = log.attributes[k]!;
  const evalName = str(attributes['gen_ai.evaluation.name']) ?? '';
  const time = log.timeUnixNano && log.timeUnixNano !== '0' ? log.timeUnixNano : log.observedTimeUnixNano;
  const traceId = log.traceId || createHash('sha256').update(`${time}:${evalName}:${JSON.stringify(attributes)}`).digest('hex').slice(0, 32);
  const spanId = createHash('sha256').update(`${traceId}:${log.spanId}:${time}:${name}:${evalName}`).digest('hex').slice(0, 16);
  return {
    traceId,
    spanId,
    parentSpanId: log.spanId,
    name: evalName ? `evaluation ${evalName}` : 'evaluation',
    kind: 1,
    startTimeUnixNano: time,
    endTimeUnixNano: time,
    attributes,
    links: log.spanId ? [{ traceId, spanId: log.spanId, attributes: {} }] : [],
    statusCode: 0,
    statusMessage: '',
    resource: log.resource,
    scope: log.scope,
  };
}
