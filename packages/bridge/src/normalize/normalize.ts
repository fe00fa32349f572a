/**
 * The normalize stage: one span → one EventDraft (or null: no audit meaning), one log record →
 * content to join to its span. Most spans of a real application are HTTP or DB spans: they are
 * recognized as such from their attribute keys alone and cost one map lookup per key.
 */
import type { EventType, TelemetrySpan } from '../model.ts';
import type { AuditContext, EventDraft, Mapper } from './types.ts';
import { Builder } from './internal/builder.ts';
import { contextOnlySink } from './internal/context.ts';
import { errorMessage } from './internal/values.ts';
import { resourceContext } from './mappers/audit.ts';
import { MAPPERS } from './registry.ts';

export { logEventSpan, normalizeLog } from './logs.ts';
export type { LogContent } from './logs.ts';

interface Dispatch {
  /** Attribute-key root (text before the first '.') → [prefix, mapper bit]. */
  byRoot: Map<string, Array<[string, number]>>;
  /** Bits of mappers without triggers: they run on every span. */
  always: number;
}

const dispatchCache = new WeakMap<readonly Mapper[], Dispatch>();

function rootOf(s: string): string {
  const dot = s.indexOf('.');
  return dot < 0 ? s : s.slice(0, dot);
}

function dispatchFor(mappers: readonly Mapper[]): Dispatch {
  let d = dispatchCache.get(mappers);
  if (d) return d;
  if (mappers.length > 30) throw new Error('normalize: at most 30 mappers (bit mask)');
  d = { byRoot: new Map(), always: 0 };
  mappers.forEach((m, i) => {
    if (!m.triggers) {
      d!.always |= 1 << i;
      return;
    }
    for (const prefix of m.triggers) {
      const root = rootOf(prefix);
      let list = d!.byRoot.get(root);
      if (!list) d!.byRoot.set(root, (list = []));
      list.push([prefix, 1 << i]);
    }
  });
  dispatchCache.set(mappers, d);
  return d;
}

/** Bit mask of the mappers whose triggers match some attribute key of the span. */
function triggered(span: TelemetrySpan, d: Dispatch): number {
  let mask = d.always;
  const attrs = span.attributes;
  for (const key in attrs) {
    const list = d.byRoot.get(rootOf(key));
    if (!list) continue;
    for (const [prefix, bit] of list) if ((mask & bit) === 0 && key.startsWith(prefix)) mask |= bit;
  }
  return mask;
}

/**
 * The audit event a span makes, or null when it has none (the caller counts it as dropped).
 * A failing mapper does not make it throw: the failure is noted in `notes`, what the mapper
 * wrote before failing is kept, and if nothing proposed a type its table-lookup `fallbackType`
 * decides. (It throws for a mapper list of more than 30, a programming error.)
 */
export function normalizeSpan(span: TelemetrySpan, mappers: readonly Mapper[] = MAPPERS): EventDraft | null {
  const mask = triggered(span, dispatchFor(mappers));
  if (mask === 0) return null;

  const b = new Builder();
  resourceContext(span, b.context);
  for (let i = 0; i < mappers.length; i++) {
    const m = mappers[i]!;
    if ((mask & (1 << i)) === 0 || !m.context) continue;
    try {
      m.context(span, b);
    } catch (err) {
      b.note(`mapper ${m.name} failed reading context: ${errorMessage(err)}`);
    }
  }

  const failed: Mapper[] = [];
  for (let i = 0; i < mappers.length; i++) {
    const m = mappers[i]!;
    if ((mask & (1 << i)) === 0) continue;
    try {
      if (m.map(span, b)) b.conventions.push(m.name);
    } catch (err) {
      b.note(`mapper ${m.name} failed: ${errorMessage(err)}`);
      b.conventions.push(m.name);
      failed.push(m);
    }
  }

  let fallback: EventType | undefined;
  if (failed.length > 0 && !b.hasProposal()) {
    for (const m of failed) {
      try {
        fallback = m.fallbackType?.(span);
      } catch {
        fallback = undefined;
      }
      if (fallback) {
        b.note(`event type ${fallback} from the ${m.name} fallback`);
        break;
      }
    }
  }
  try {
    return b.finish(span, fallback);
  } catch (err) {
    // Only reachable with a span that breaks the model's types; keep what we have.
    const type = b.resolveType() ?? fallback;
    if (!type) return null;
    return {
      eventType: type,
      fields: b.fields,
      content: b.content,
      contentState: 'not_captured',
      context: b.context,
      conventions: b.conventions,
      consumedKeys: b.consumed,
      notes: [...b.notes, `finishing the draft failed: ${errorMessage(err)}`],
    };
  }
}

/**
 * The context a span states itself (not inherited), for EVERY span, including those that make
 * no event (an HTTP root carrying audit.correlation_id or session.id). Same rules as the
 * `context` of normalizeSpan's draft, at the cost of a key scan.
 */
export function spanContext(span: TelemetrySpan, mappers: readonly Mapper[] = MAPPERS): AuditContext {
  const sink = contextOnlySink();
  try {
    resourceContext(span, sink.context);
  } catch {
    // A malformed resource must not cost the span its context.
  }
  const mask = triggered(span, dispatchFor(mappers));
  if (mask === 0) return sink.context;
  for (let i = 0; i < mappers.length; i++) {
    const m = mappers[i]!;
    if ((mask & (1 << i)) === 0 || !m.context) continue;
    try {
      m.context(span, sink);
    } catch {
      // Same as normalizeSpan: a failing family only loses its own part.
    }
  }
  return sink.context;
}
