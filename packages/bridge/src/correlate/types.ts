import type { AuditEvent } from '../model.ts';
import type { AuditContext } from '../normalize/types.ts';
import type { FinalizingEvent } from '../policy/index.ts';

/** The privacy stage's side of finalize, defined by policy/ (policy/finalizer.ts). */
export type { EventFinalizer } from '../policy/index.ts';

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
  /** The redacted piece as JSON text (pieces made before it existed carry `value` instead). */
  json?: string;
  /** The redacted piece, in write-ahead logs written before `json` existed. */
  value?: unknown;
  /** hex SHA-256 of the raw (unredacted) canonical JSON of the piece. */
  digest: string;
  /** Sort key within its section: log record time (ns, zero-padded) or position. */
  order: string;
  /** How many values redaction masked in this piece (added to the event's count). */
  redactions: number;
  /**
   * The raw (unredacted) piece as JSON text, kept only when the policy may seal content (high
   * risk). It lives in memory and in the encrypted write-ahead log only; finalize encrypts it into
   * `content_sealed` and deletes it. Never store or log it.
   */
  rawJson?: string;
  /** The raw piece, in write-ahead logs written before `rawJson` existed (same rules). */
  raw?: unknown;
}

/**
 * An audit event waiting for its context (ancestors) or its content (log records). What the
 * privacy stage reads and writes at finalize (`FinalizingEvent`) is part of it.
 */
export interface PendingEvent extends FinalizingEvent {
  /** Everything but the context, content and chain columns is filled. */
  event: AuditEvent;
  node: SpanNode;
  pieces: ContentPiece[];
  /** A model call whose output content may still arrive as log records. */
  awaitsContent: boolean;
  /**
   * Decided, raw content (JSON) to seal into `content_sealed` before the event is chained
   * (finalize with `deferSealing`: sealed on the pipeline's workers). Memory and encrypted
   * write-ahead log only, like `rawJson`.
   */
  contentToSeal?: string;
  /** Epoch ms when the bridge first received it (survives WAL replay). */
  arrivedAt: number;
  /**
   * Raw values of the attributes a policy rule may apply to, by stored key: rules depend on the
   * tenant and risk, decided only at finalize. Memory and encrypted write-ahead log only.
   */
  rawAttributes?: Record<string, string>;
}

/** An event as stored: the columns added after the first schema (store/schema.ts) included. */
export type StoredEvent = AuditEvent & {
  /** base64 of the raw content encrypted under the subject's data key (policy/vault.ts); '' when none. */
  content_sealed?: string;
};

/**
 * An event whose columns stay on the intake worker that made it (pipeline/README.md, "Where an
 * event lives"): what correlating it needs. The worker finalizes, seals and encodes it once the
 * main thread has decided its context, and sends back only its row's bytes.
 */
export interface HeldEvent {
  /**
   * Where it is: the worker (the pool's number for it) and its number there; `request` is the
   * pipeline's note of the logged request it was made of (what a compaction keeps, and what is
   * read back if the worker is lost).
   */
  held: { worker: number; handle: number; request?: object };
  eventId: string;
  node: SpanNode;
  /** Content that arrived as log records (its own pieces are on the worker). */
  pieces: ContentPiece[];
  awaitsContent: boolean;
  /** Epoch ms when the bridge first received it (survives WAL replay). */
  arrivedAt: number;
  /** Once decided: the contexts of its ancestors, nearest first (finalize.ts `applyContext`). */
  ancestors?: AuditContext[];
  /** Once encoded on its worker: its row but the chain columns, and the risk that picks its chain. */
  row?: HeldRow;
}

/** A held event's row without its chain columns (chain/canonical.ts `encodeRowParts`): `parts[start, bodyEnd)` its body, `[bodyEnd, end)` its tail. */
export interface HeldRow {
  risk: string;
  parts: Uint8Array;
  start: number;
  bodyEnd: number;
  end: number;
}

/** An event in the correlator: its columns here (`PendingEvent`), or on an intake worker (`HeldEvent`). */
export type WaitingEvent = PendingEvent | HeldEvent;

export function isHeld(p: WaitingEvent): p is HeldEvent {
  return (p as HeldEvent).held !== undefined;
}
