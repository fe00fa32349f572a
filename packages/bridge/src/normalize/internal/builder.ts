import type { EventContent, EventType, TelemetrySpan } from '../../model.ts';
import type {
  AuditContext,
  ContentState,
  DraftBuilder,
  EventDraft,
  MappedFields,
} from '../types.ts';
import { str } from './values.ts';

const TIMEOUT_RE = /timeout|timed[ _-]?out|deadline/i;

export class Builder implements DraftBuilder {
  fields: MappedFields = {};
  content: EventContent = {};
  contentState: ContentState | undefined = undefined;
  context: AuditContext = {};
  readonly consumed = new Set<string>();
  readonly notes: string[] = [];
  readonly conventions: string[] = [];
  private readonly tokenKeys: string[] = [];
  private bestType: EventType | undefined = undefined;
  private bestPriority = -Infinity;
  private suppressedAt = -Infinity;
  // Proposals are kept so that a later suppress() can fall back to the next best one.
  private readonly proposals: Array<[EventType, number]> = [];

  proposeType(type: EventType, priority: number): void {
    this.proposals.push([type, priority]);
    // Ties go to the first proposer: registry order encodes authority.
    if (priority > this.bestPriority) {
      this.bestType = type;
      this.bestPriority = priority;
    }
  }

  // The reason documents the call site; it is not a note, since a stronger signal may still win.
  suppress(priority: number, _reason: string): void {
    if (priority > this.suppressedAt) this.suppressedAt = priority;
  }

  setTokens(input: number | undefined, output: number | undefined, ...keys: string[]): void {
    if (input !== undefined && this.fields.input_tokens == null) this.fields.input_tokens = input;
    if (output !== undefined && this.fields.output_tokens == null) this.fields.output_tokens = output;
    for (const k of keys) {
      this.consumed.add(k);
      this.tokenKeys.push(k);
    }
  }

  consume(...keys: string[]): void {
    for (const k of keys) this.consumed.add(k);
  }

  derived: { attributes: Record<string, string>; replaces: string[] } | undefined = undefined;

  derive(attributes: Record<string, string>, ...replaces: string[]): void {
    this.derived ??= { attributes: {}, replaces: [] };
    for (const r of replaces) if (!this.derived.replaces.includes(r)) this.derived.replaces.push(r);
    for (const k in attributes) if (attributes[k] !== '') this.derived.attributes[k] ??= attributes[k];
  }

  note(message: string): void {
    this.notes.push(message);
  }

  hasProposal(): boolean {
    return this.resolveType() !== undefined;
  }

  resolveType(): EventType | undefined {
    if (this.bestPriority > this.suppressedAt) return this.bestType;
    let best: EventType | undefined;
    let bestP = this.suppressedAt;
    for (const [t, p] of this.proposals) {
      if (p > bestP) {
        best = t;
        bestP = p;
      }
    }
    return best;
  }

  /** The EventDraft, or null when no mapper proposed a type (the caller counts a drop). */
  finish(span: TelemetrySpan, fallback?: EventType): EventDraft | null {
    const eventType = this.resolveType() ?? fallback;
    if (eventType === undefined) return null;
    const fields = this.fields;

    if (eventType !== 'model_call') {
      // Aggregated usage on agent/request spans would double count the child model calls.
      delete fields.input_tokens;
      delete fields.output_tokens;
      for (const k of this.tokenKeys) this.consumed.delete(k);
    }

    const errorType = str(span.attributes['error.type']);
    if (errorType !== undefined) {
      if (fields.error_type === undefined) fields.error_type = errorType;
      this.consumed.add('error.type');
    }
    if (fields.status === undefined) fields.status = span.statusCode === 2 ? 'error' : 'ok';
    if (fields.status === 'error' && fields.error_type && TIMEOUT_RE.test(fields.error_type)) {
      fields.status = 'timeout';
    }

    const draft: EventDraft = {
      eventType,
      fields,
      content: this.content,
      contentState: this.finalContentState(),
      context: this.context,
      conventions: this.conventions,
      consumedKeys: this.consumed,
    };
    if (this.notes.length > 0) draft.notes = this.notes;
    if (this.derived) draft.derived = this.derived;
    return draft;
  }

  private finalContentState(): ContentState {
    if (this.contentState === 'redacted_by_source') return 'redacted_by_source';
    if (hasContent(this.content)) return 'captured';
    if (this.contentState === 'stored_externally') return 'stored_externally';
    return this.contentState === 'empty' ? 'empty' : 'not_captured';
  }
}

export function hasContent(c: EventContent): boolean {
  return (
    (c.system !== undefined && c.system.length > 0) ||
    (c.input !== undefined && c.input.length > 0) ||
    (c.output !== undefined && c.output.length > 0) ||
    (c.arguments !== undefined && c.arguments !== null && c.arguments !== '') ||
    (c.result !== undefined && c.result !== null && c.result !== '') ||
    (c.query !== undefined && c.query !== '')
  );
}
