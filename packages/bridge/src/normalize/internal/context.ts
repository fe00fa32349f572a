/**
 * Context precedence. Mappers run in registry order (audit first), so "first writer wins" gives
 * audit.* priority over conventions; correlation ids additionally rank by source (DESIGN 3.3:
 * audit.correlation_id, then gen_ai.conversation.id, then session.id) whatever the order.
 */
import type { AuditContext, ContextSink } from '../types.ts';
import { str } from './values.ts';

type CorrelationSource = NonNullable<AuditContext['correlationSource']>;

const RANK: Record<CorrelationSource, number> = { attribute: 3, conversation: 2, session: 1 };

export function setCorrelation(
  sink: ContextSink,
  value: unknown,
  source: CorrelationSource,
  key?: string,
): boolean {
  const id = str(value);
  if (id === undefined) return false;
  if (key) sink.consume(key);
  const ctx = sink.context;
  const current = ctx.correlationSource ? RANK[ctx.correlationSource] : 0;
  if (ctx.correlationId !== undefined && current >= RANK[source]) return false;
  ctx.correlationId = id;
  ctx.correlationSource = source;
  return true;
}

type StringField = Exclude<keyof AuditContext, 'correlationSource' | 'correlationId'>;

export function setContext(sink: ContextSink, field: StringField, value: unknown, key?: string): boolean {
  const v = str(value);
  if (v === undefined) return false;
  if (key) sink.consume(key);
  if (sink.context[field] !== undefined) return false;
  sink.context[field] = v;
  return true;
}

/** A user id from a convention (user.id, association properties): the actor is a human. */
export function setHumanActor(sink: ContextSink, value: unknown, key?: string): boolean {
  const v = str(value);
  if (v === undefined) return false;
  if (key) sink.consume(key);
  if (sink.context.actorId !== undefined) return false;
  sink.context.actorId = v;
  sink.context.actorType ??= 'human';
  return true;
}

/** Metadata keys (Vercel telemetry metadata, Traceloop association properties) by meaning. */
export function metadataRole(key: string): 'user' | 'session' | 'conversation' | 'correlation' | undefined {
  const k = key.toLowerCase().replace(/[-_.]/g, '');
  if (k === 'userid' || k === 'user' || k === 'enduserid' || k === 'customerid') return 'user';
  if (k === 'sessionid' || k === 'session' || k === 'threadid') return 'session';
  if (k === 'conversationid' || k === 'chatid') return 'conversation';
  if (k === 'correlationid' || k === 'taskid' || k === 'ticketid' || k === 'caseid') return 'correlation';
  return undefined;
}

/** Applies a metadata-style key/value to the context; true when it was used. */
export function applyMetadata(sink: ContextSink, key: string, value: unknown, attrKey: string): boolean {
  switch (metadataRole(key)) {
    case 'user':
      return setHumanActor(sink, value, attrKey) || true;
    case 'session':
      setCorrelation(sink, value, 'session', attrKey);
      return true;
    case 'conversation':
      setCorrelation(sink, value, 'conversation', attrKey);
      return true;
    case 'correlation':
      // An explicit business id: ranks like audit.correlation_id.
      setCorrelation(sink, value, 'attribute', attrKey);
      return true;
    default:
      return false;
  }
}

/** A sink for `spanContext`: nothing to consume, nothing to note. */
export function contextOnlySink(): ContextSink {
  return { context: {}, consume() {}, note() {} };
}
