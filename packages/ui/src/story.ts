/**
 * A case as a story: its events in time order (request → sources → model call → tool call →
 * approval → effect → outcome), with every approval drawn directly under the proposal it decides
 * (the event its span link points at), even when the approval came hours later in another
 * trace, or, through clock skew between services, seems to come before it.
 *
 * Events arrive a page at a time (a case can hold 50,000 events and more): `StoryModel.add`
 * merges a page into the time-ordered list and redraws the order in one pass, O(n).
 */
import type { AuditEvent } from './model.ts';

export interface StoryItem {
  event: AuditEvent;
  /** 1: an approval drawn under the proposal it decides; 0: everything else. */
  depth: 0 | 1;
  /** An approval's proposal, when it is in the story. */
  proposal: AuditEvent | null;
  /** A proposal's approvals (in time order), drawn under it. */
  approvals: AuditEvent[];
  /** An approval whose links point at no event of the story (the proposal is elsewhere, or not stored). */
  unpaired: boolean;
}

/** Where an event type comes in a story when several share one instant. */
const RANK: Record<string, number> = { request: 0, retrieval: 1, model_call: 2, tool_call: 3, approval: 4, system_effect: 5, outcome: 6, access: 7, evaluation: 8, deployment: 9 };
const rank = (t: string) => RANK[t] ?? 10;

/** Time order; at the same instant, story order of the types; then the event id (stable). */
export function compareEvents(a: AuditEvent, b: AuditEvent): number {
  if (a.event_time !== b.event_time) return a.event_time < b.event_time ? -1 : 1;
  const r = rank(a.event_type) - rank(b.event_type);
  if (r !== 0) return r;
  return a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0;
}

export const spanKey = (traceId: string, spanId: string) => `${traceId}/${spanId}`;

export const isApproval = (e: AuditEvent) => e.event_type === 'approval';

/**
 * The proposal each approval decides, by approval event id: the event its first resolvable span
 * link points at (not itself). An approval that links to another approval (an escalation, then
 * the decision) is paired with that approval's proposal, so a thread stays one level deep.
 */
export function pairApprovals(events: AuditEvent[]): Map<string, AuditEvent> {
  const m = new StoryModel().add(events);
  const out = new Map<string, AuditEvent>();
  for (const it of m.items) if (it.depth === 1 && it.proposal) out.set(it.event.event_id, it.proposal);
  return out;
}

/** The story of a set of events, in one pass over them in time order. */
export function buildStory(events: AuditEvent[]): StoryItem[] {
  return new StoryModel().add(events).items;
}

/** A story item with the model's own bookkeeping. */
interface Node extends StoryItem {
  /** The proposal an approval is drawn under (for good, once found). */
  parent: Node | null;
  children: Node[];
  /** The add() that brought it. */
  batch: number;
}

export class StoryModel {
  /** Every event so far, in time order. */
  private sorted: Node[] = [];
  private readonly ids = new Set<string>();
  private readonly bySpan = new Map<string, Node>();
  /** The approvals (a few percent of the events at most): the unpaired ones are paired again on every page. */
  private readonly approvalNodes: Node[] = [];
  private batch = 0;
  /** The story so far. */
  items: StoryItem[] = [];

  get size(): number {
    return this.sorted.length;
  }

  /** Adds events (any order; duplicates ignored) and redraws the story. */
  add(events: AuditEvent[]): this {
    const batch = ++this.batch;
    const fresh: Node[] = [];
    for (const e of events) {
      if (this.ids.has(e.event_id)) continue;
      this.ids.add(e.event_id);
      const it: Node = { event: e, depth: 0, proposal: null, approvals: [], unpaired: false, parent: null, children: [], batch };
      fresh.push(it);
      this.bySpan.set(spanKey(e.trace_id, e.span_id), it);
      if (isApproval(e)) this.approvalNodes.push(it);
    }
    if (fresh.length === 0) return this;
    fresh.sort((a, b) => compareEvents(a.event, b.event));
    const appended = this.sorted.length === 0 || compareEvents(this.sorted[this.sorted.length - 1].event, fresh[0].event) <= 0;
    this.sorted = merge(this.sorted, fresh);
    this.redraw(fresh, appended);
    return this;
  }

  /** The item an approval is drawn under: its link's target, or that target's own proposal. */
  private proposalOf(a: Node): Node | null {
    const linked = (n: Node): Node | undefined => {
      for (const l of n.event.links ?? []) {
        const t = this.bySpan.get(spanKey(l.trace_id, l.span_id));
        if (t && t !== n) return t;
      }
      return undefined;
    };
    let target = linked(a);
    // A decision on a decision joins the first one's thread (bounded: links can form a cycle).
    for (let hops = 0; target && isApproval(target.event) && hops < 16; hops++) {
      const next = linked(target);
      if (!next || next === a) break;
      target = next;
    }
    // Only under a proposal proper, never under an approval (a cycle of links would hide both).
    return target && !isApproval(target.event) ? target : null;
  }

  /**
   * Redraws the order. Pages arrive in time order, so the common case appends the new items
   * (O(page)); a pairing that reaches back into what is drawn (an approval whose proposal came
   * before this page, or a proposal for an earlier approval) redraws everything, O(n).
   */
  private redraw(fresh: Node[], appended: boolean): void {
    let full = !appended;
    for (const a of this.approvalNodes) {
      if (a.parent) continue;
      const p = this.proposalOf(a);
      a.unpaired = !p;
      if (!p) continue;
      a.parent = p;
      a.proposal = p.event;
      a.depth = 1;
      if (p.batch !== this.batch || a.batch !== this.batch) full = true;
    }
    if (full) {
      for (const it of this.sorted) it.children.length = 0;
      for (const it of this.sorted) if (it.parent) it.parent.children.push(it);
    } else {
      for (const it of fresh) if (it.parent) it.parent.children.push(it);
    }
    const out: StoryItem[] = full ? [] : this.items;
    for (const it of full ? this.sorted : fresh) {
      if (it.parent) continue;
      if (it.children.length || it.approvals.length) it.approvals = it.children.map((c) => c.event);
      out.push(it);
      for (const c of it.children) out.push(c);
    }
    this.items = out;
  }

  /** The position of an event in the story, or -1. */
  indexOf(eventId: string): number {
    return this.items.findIndex((it) => it.event.event_id === eventId);
  }
}

/** Two time-ordered lists as one; appending is the common case (pages arrive in order). */
function merge<T extends StoryItem>(a: T[], b: T[]): T[] {
  if (a.length === 0) return b;
  if (compareEvents(a[a.length - 1].event, b[0].event) <= 0) {
    for (const e of b) a.push(e);
    return a;
  }
  const out: T[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = compareEvents(a[i].event, b[j].event) <= 0 ? a[i++] : b[j++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}
