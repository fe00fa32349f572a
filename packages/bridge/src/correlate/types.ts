import type { AuditEvent } from '../model.ts';
import type { AuditContext } from '../normalize/types.ts';

/** Every span, audit-relevant or not, is a node: ancestry is how context is inherited. */
export interface SpanNode {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  context: AuditContext;
}

export type ContentSection = 'system' | 'input' | 'output' | 'arguments' | 'result' | 'query';

/**
 * One piece of content (a message, tool arguments, a result, a query), already redacted, with
 * the SHA-256 of its raw form so digests cover what was really said without storing it.
 */
export interface ContentPiece {
  section: ContentSection;
  value: unknown;
  /** hex SHA-256 of the raw (unredacted) canonical JSON of the piece. */
  digest: string;
  /** Sort key within its section: log record time (ns, zero-padded) or position. */
  order: string;
  /** How many values redaction masked in this piece (added to the event's count). */
  redactions: number;
}

/** An audit event waiting for its context (ancestors) or its content (log records). */
export interface PendingEvent {
  /** Everything but the context, content and chain columns is filled. */
  event: AuditEvent;
  node: SpanNode;
  pieces: ContentPiece[];
  /** A model call whose output content may still arrive as log records. */
  awaitsContent: boolean;
  /** Epoch ms when the bridge first received it (survives WAL replay). */
  arrivedAt: number;
}
