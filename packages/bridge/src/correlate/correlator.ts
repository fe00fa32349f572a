import type { AuditContext } from '../normalize/types.ts';
import { isHeld, type ContentPiece, type HeldEvent, type PendingEvent, type SpanNode, type WaitingEvent } from './types.ts';
import { finalizeEvent } from './finalize.ts';
import type { EventFinalizer } from './types.ts';
import { checkCorrelatorConfig, type CorrelatorConfig } from './config.ts';

/** What the correlator is given besides its configuration. */
export interface CorrelatorOptions {
  /** The privacy policy applied to each decided event (the bridge's PrivacyFilter; see finalize.ts). */
  finalizer?: EventFinalizer;
  /**
   * Leave content to seal in `contentToSeal` (the pipeline seals it on its worker threads)
   * instead of sealing it at finalize.
   */
  deferSealing?: boolean;
}

/**
 * A trace's state. Decided traces stay (traceTtlMs) for late descendants, so their memory
 * counts: the trace id is shared by its nodes, and the rarely used maps are made on first use.
 */
interface TraceState {
  id: string;
  /** The trace's spans: a node, or only its parent span id when it states no context. */
  nodes: Map<string, SpanNode | string>;
  /**
   * Events by span id: pending, or DECIDED (then content arriving for the span is late, and
   * the span re-sent is a duplicate).
   */
  events: Map<string, WaitingEvent | typeof DECIDED>;
  pendingCount: number;
  /** Content log records that arrived before their span. */
  earlyContent: Map<string, ContentPiece[]> | null;
  /**
   * Pending events by the ancestor span they wait for: a new node re-evaluates only the events
   * waiting for it (not every pending event of the trace, which is quadratic in a large trace).
   */
  waiting: Map<string, WaitingEvent[]> | null;
  lastSeen: number;
}

export interface CorrelatorStats {
  pendingEvents: number;
  traces: number;
  decidedByAncestry: number;
  decidedByTimeout: number;
  contentLate: number;
  contentOrphaned: number;
  duplicatesIgnored: number;
}

/**
 * Holds a trace's undecided events until their context can be decided: the nearest ancestor's
 * correlation id, identity and policy context, and the content of model calls that arrives
 * as separate log records. Decisions are made as soon as the ancestry reaches the root, or
 * when the decision window expires (then with what is known, falling back to the trace id).
 */
export class Correlator<E extends WaitingEvent = WaitingEvent> {
  readonly config: CorrelatorConfig;
  private readonly finalizer: EventFinalizer | undefined;
  private readonly deferSealing: boolean;
  private traces = new Map<string, TraceState>();
  /** FIFO by arrival: [deadline, traceId, spanId]. Deadlines are monotonic per queue. */
  private decisionQueue: Array<[number, string, string]> = [];
  private contentQueue: Array<[number, string, string]> = [];
  private ready: WaitingEvent[] = [];
  private pendingCount = 0;
  readonly stats: CorrelatorStats = {
    pendingEvents: 0,
    traces: 0,
    decidedByAncestry: 0,
    decidedByTimeout: 0,
    contentLate: 0,
    contentOrphaned: 0,
    duplicatesIgnored: 0,
  };

  /** Throws CorrelatorConfigError for a configuration that is not valid (config.ts). */
  constructor(config: Partial<CorrelatorConfig> = {}, o: CorrelatorOptions = {}) {
    this.config = checkCorrelatorConfig(config);
    this.finalizer = o.finalizer;
    this.deferSealing = o.deferSealing ?? false;
  }

  get pending(): number {
    return this.pendingCount;
  }

  private trace(traceId: string, now: number): TraceState {
    let t = this.traces.get(traceId);
    if (!t) {
      t = { id: traceId, nodes: new Map(), events: new Map(), pendingCount: 0, earlyContent: null, waiting: null, lastSeen: now };
      this.traces.set(traceId, t);
    } else if (now - t.lastSeen > 1000) {
      // Re-insert so that Map order stays oldest-activity-first for collectGarbage.
      this.traces.delete(traceId);
      this.traces.set(traceId, t);
    }
    t.lastSeen = now;
    return t;
  }

  /**
   * Adds a span (every span, so ancestry is known) and, if it is an audit event, the event.
   * False when the event is not taken: its span's event is here already (a re-sent span).
   */
  addSpan(node: SpanNode, pending: E | null, now: number): boolean {
    const t = this.trace(node.traceId, now);
    let taken = true;
    let added = false;
    if (!t.nodes.has(node.spanId)) {
      node.traceId = t.id;
      const keep = hasContext(node.context);
      if (keep) shareStrings(node.context);
      t.nodes.set(node.spanId, keep ? node : node.parentSpanId);
      added = true;
    }
    if (pending) {
      if (t.events.has(node.spanId)) {
        this.stats.duplicatesIgnored++;
        taken = false;
      } else {
        const early = t.earlyContent?.get(node.spanId);
        if (early) {
          pending.pieces.push(...early);
          t.earlyContent!.delete(node.spanId);
        }
        if (pending.awaitsContent && hasOutput(pending.pieces)) pending.awaitsContent = false;
        t.events.set(node.spanId, pending);
        t.pendingCount++;
        this.pendingCount++;
        this.decisionQueue.push([pending.arrivedAt + this.config.decisionWaitMs, node.traceId, node.spanId]);
        if (pending.awaitsContent) {
          this.contentQueue.push([pending.arrivedAt + this.config.contentWaitMs, node.traceId, node.spanId]);
        }
        this.tryDecide(t, pending, now, false);
      }
    }
    // A new node can complete the ancestry of the events waiting for it.
    if (added && t.waiting !== null) {
      const waiters = t.waiting.get(node.spanId);
      if (waiters) {
        t.waiting.delete(node.spanId);
        for (const p of waiters) if (t.events.get(p.node.spanId) === p) this.tryDecide(t, p, now, false);
      }
    }
    return taken;
  }

  /** Joins content that arrived as log records to its span's event, whichever came first. */
  addContent(traceId: string, spanId: string, pieces: ContentPiece[], now: number): void {
    const t = this.trace(traceId, now);
    const p = t.events.get(spanId);
    if (p !== undefined && p !== DECIDED) {
      p.pieces.push(...pieces);
      if (p.awaitsContent && hasOutput(p.pieces)) {
        p.awaitsContent = false;
        this.tryDecide(t, p, now, false);
      }
    } else if (p === DECIDED) {
      this.stats.contentLate++;
    } else {
      const list = t.earlyContent?.get(spanId);
      if (list) list.push(...pieces);
      else (t.earlyContent ??= new Map()).set(spanId, [...pieces]);
    }
  }

  /** Moves expired waits to decided, and returns every event decided since the last call. */
  takeReady(now: number): E[] {
    this.expire(this.contentQueue, now, (t, p) => {
      p.awaitsContent = false;
      this.tryDecide(t, p, now, false);
    });
    this.expire(this.decisionQueue, now, (t, p) => {
      p.awaitsContent = false;
      this.tryDecide(t, p, now, true);
    });
    this.collectGarbage(now);
    const out = this.ready;
    this.ready = [];
    return out as E[];
  }

  /** Decides everything still pending (shutdown). */
  drain(now: number): E[] {
    for (const t of this.traces.values()) {
      for (const p of [...t.events.values()]) {
        if (p === DECIDED) continue;
        p.awaitsContent = false;
        this.tryDecide(t, p, now, true);
      }
    }
    this.decisionQueue = [];
    this.contentQueue = [];
    const out = this.ready;
    this.ready = [];
    return out as E[];
  }

  /**
   * What must survive a restart: pending events, nodes of live traces, early content. Events
   * held on a worker are listed apart (`held`): the caller keeps the requests they were made
   * of; the content that joined them here is in `content`, to join them again.
   */
  snapshot(): { nodes: SpanNode[]; pending: PendingEvent[]; held: HeldEvent[]; content: Array<[string, string, ContentPiece[]]> } {
    const nodes: SpanNode[] = [];
    const pending: PendingEvent[] = [];
    const held: HeldEvent[] = [];
    const content: Array<[string, string, ContentPiece[]]> = [];
    for (const [traceId, t] of this.traces) {
      // Only traces still waiting matter after a restart; the ancestry of decided traces is
      // kept in memory for late descendants but not worth a snapshot's size.
      if (t.pendingCount === 0 && !t.earlyContent?.size) continue;
      for (const [spanId, n] of t.nodes) nodes.push(typeof n === 'string' ? { traceId, spanId, parentSpanId: n, context: {} } : n);
      for (const p of t.events.values()) {
        if (p === DECIDED) continue;
        if (!isHeld(p)) pending.push(p);
        else {
          held.push(p);
          if (p.pieces.length > 0) content.push([traceId, p.node.spanId, p.pieces]);
        }
      }
      for (const [spanId, pieces] of t.earlyContent ?? []) content.push([traceId, spanId, pieces]);
    }
    return { nodes, pending, held, content };
  }

  private expire(
    queue: Array<[number, string, string]>,
    now: number,
    onExpired: (t: TraceState, p: WaitingEvent) => void,
  ): void {
    let i = 0;
    while (i < queue.length && queue[i][0] <= now) {
      const [, traceId, spanId] = queue[i++];
      const t = this.traces.get(traceId);
      const p = t?.events.get(spanId);
      if (t && p) onExpired(t, p); // neither absent nor DECIDED (0)
    }
    if (i > 0) queue.splice(0, i);
  }

  private tryDecide(t: TraceState, p: WaitingEvent, now: number, force: boolean): void {
    if (p.awaitsContent && !force) return;
    const chain: AuditContext[] = [];
    let complete = true;
    let parent = p.node.parentSpanId;
    const seen = new Set<string>([p.node.spanId]);
    while (parent) {
      const n = t.nodes.get(parent);
      if (!n || seen.has(parent)) {
        complete = n !== undefined; // a cycle is as complete as it will get
        break;
      }
      seen.add(parent);
      if (typeof n === 'string') {
        parent = n;
      } else {
        chain.push(n.context);
        parent = n.parentSpanId;
      }
    }
    if (!complete && !force) {
      // `parent` is the first missing ancestor: its arrival re-evaluates this event.
      const waiting = (t.waiting ??= new Map());
      const list = waiting.get(parent);
      if (list) list.push(p);
      else waiting.set(parent, [p]);
      return;
    }
    // An event held on a worker is finalized there (pipeline/decided.ts); it takes its ancestors' contexts.
    if (isHeld(p)) p.ancestors = chain;
    else finalizeEvent(p, chain, this.finalizer, this.deferSealing);
    t.events.set(p.node.spanId, DECIDED);
    t.pendingCount--;
    this.pendingCount--;
    if (complete) this.stats.decidedByAncestry++;
    else this.stats.decidedByTimeout++;
    this.ready.push(p);
  }

  private collectGarbage(now: number): void {
    if (this.traces.size === 0) return;
    const ttl = this.config.traceTtlMs;
    const overflow = this.traces.size - this.config.maxTraces;
    let evicted = 0;
    // Map iteration is insertion order, which approximates age; stop at the first live trace.
    for (const [traceId, t] of this.traces) {
      const idle = now - t.lastSeen > ttl;
      if (!(idle || evicted < overflow)) break;
      if (t.pendingCount > 0) {
        if (!idle) continue;
        for (const p of [...t.events.values()]) {
          if (p === DECIDED) continue;
          p.awaitsContent = false;
          this.tryDecide(t, p, now, true);
        }
      }
      this.stats.contentOrphaned += t.earlyContent?.size ?? 0;
      this.traces.delete(traceId);
      evicted++;
    }
    this.stats.pendingEvents = this.pendingCount;
    this.stats.traces = this.traces.size;
  }
}

const DECIDED = 0;

const CONTEXT_KEYS = ['correlationId', 'correlationSource', 'actorId', 'actorType', 'actorRole', 'onBehalfOf', 'initiation', 'purpose', 'risk', 'tenant'] as const;
/** Recently seen context values; cleared when full, so it stays small whatever the cardinality. */
const shared = new Map<string, string>();
const SHARED_MAX = 8192;

/**
 * Makes the context's strings the ones other nodes already hold. Nodes arrive from the intake
 * threads as copies, each with its own copy of the tenant, the actor, the correlation id...,
 * and decided traces are kept for late descendants (traceTtlMs): under the bench's load that
 * was some 400,000 strings of a few distinct values, walked by every major collection.
 */
function shareStrings(c: AuditContext): void {
  const r = c as Record<string, string | undefined>;
  for (const k of CONTEXT_KEYS) {
    const v = r[k];
    if (v === undefined) continue;
    const s = shared.get(v);
    if (s !== undefined) r[k] = s;
    else {
      if (shared.size >= SHARED_MAX) shared.clear();
      shared.set(v, v);
    }
  }
}

function hasContext(c: AuditContext): boolean {
  for (const _ in c) return true;
  return false;
}

function hasOutput(pieces: ContentPiece[]): boolean {
  for (const p of pieces) if (p.section === 'output') return true;
  return false;
}
