import { hash, randomBytes } from 'node:crypto';
import type { AuditContext } from '../normalize/types.ts';
import { PrivacyFilter } from '../policy/index.ts';
import type { ContentPiece, ContentSection, EventFinalizer, PendingEvent, StoredEvent } from './types.ts';

const INPUT_SECTIONS: ContentSection[] = ['system', 'input', 'arguments', 'query'];
const OUTPUT_SECTIONS: ContentSection[] = ['output', 'result'];

let fallback: EventFinalizer | null = null;
/**
 * Without a configured finalizer (unit tests of the correlator), the floor still applies, with
 * the default policy and a key of this process alone: pseudonyms then join only within it.
 */
function defaultFinalizer(): EventFinalizer {
  return (fallback ??= new PrivacyFilter(randomBytes(32)));
}

/**
 * Decides an event: its context (from its ancestors), then the privacy policy of its tenant and
 * risk (identity and text columns, attribute rules), then its content under the content policy.
 */
export function finalizeEvent(p: PendingEvent, ancestors: AuditContext[], finalizer: EventFinalizer = defaultFinalizer(), deferSealing = false): void {
  applyContext(p, ancestors);
  finalizer.finalizeColumns(p);
  assembleContent(p, finalizer, deferSealing);
}

/**
 * Fills the context columns from the span's own context, then from its ancestors (nearest
 * first), field by field. Correlation: own audit.correlation_id, else own conversation or
 * session id, else the nearest ancestor's, else the trace id.
 */
export function applyContext(p: PendingEvent, ancestors: AuditContext[]): void {
  const own = p.node.context;
  const e = p.event;
  const pick = <K extends keyof AuditContext>(key: K): AuditContext[K] => {
    if (own[key] !== undefined) return own[key];
    for (const a of ancestors) if (a[key] !== undefined) return a[key];
    return undefined;
  };
  if (own.correlationId) {
    e.correlation_id = own.correlationId;
    e.correlation_source = own.correlationSource ?? 'attribute';
  } else {
    const a = ancestors.find((c) => c.correlationId);
    if (a) {
      e.correlation_id = a.correlationId!;
      e.correlation_source = 'ancestor';
    } else {
      e.correlation_id = e.trace_id;
      e.correlation_source = 'trace';
    }
  }
  e.actor_id = pick('actorId') ?? '';
  e.actor_type = pick('actorType') ?? '';
  e.actor_role = pick('actorRole') ?? '';
  e.on_behalf_of = pick('onBehalfOf') ?? '';
  e.initiation = pick('initiation') ?? '';
  e.purpose = pick('purpose') ?? '';
  e.risk = pick('risk') ?? e.risk;
  if (!e.tenant) e.tenant = pick('tenant') ?? 'default';
}

/**
 * Orders the content pieces, computes the digests and the stored content under the content
 * policy: `digests` keeps none, `redacted` the redacted JSON, `sealed` also the raw JSON
 * encrypted under the subject's key — now, or with `deferSealing` later by the caller
 * (`contentToSeal`, then `setSealedContent`). The raw pieces are dropped here.
 */
export function assembleContent(p: PendingEvent, finalizer: EventFinalizer = defaultFinalizer(), deferSealing = false): void {
  const e = p.event as StoredEvent;
  if (p.pieces.length === 0) return;
  // Content that arrived as log records replaces the "not captured" the span alone implied.
  if (e.attributes['otel_audit.content'] === 'not_captured') delete e.attributes['otel_audit.content'];
  const pieces = [...p.pieces].sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  e.input_digest = digestOf(pieces, INPUT_SECTIONS) || e.input_digest;
  e.output_digest = digestOf(pieces, OUTPUT_SECTIONS) || e.output_digest;
  const mode = finalizer.contentMode(e);
  let rawComplete = true;
  for (const piece of pieces) {
    e.redactions += piece.redactions;
    if (piece.rawJson === undefined && piece.raw === undefined) rawComplete = false;
  }
  if (mode === 'digests') {
    e.content = '';
    e.attributes['otel_audit.content'] = 'withheld';
  } else {
    e.content = joinSections(pieces, pieceJson);
    if (mode === 'sealed') {
      // Pieces without their raw form (intake did not keep it) cannot be sealed: say so.
      if (!rawComplete) setSealedContent(p, '');
      else if (deferSealing) p.contentToSeal = joinSections(pieces, pieceRawJson);
      else setSealedContent(p, finalizer.sealContent(e, joinSections(pieces, pieceRawJson), p.arrivedAt));
    }
  }
  for (const piece of pieces) {
    delete piece.rawJson;
    delete piece.raw;
  }
}

/**
 * Sets an event's sealed content. The event says why it has none: '' it could not be sealed
 * (`unavailable`), null its subject was erased after it arrived (`erased`).
 */
export function setSealedContent(p: PendingEvent, sealed: string | null): void {
  delete p.contentToSeal;
  const e = p.event as StoredEvent;
  if (sealed) e.content_sealed = sealed;
  else e.attributes['otel_audit.content_sealed'] = sealed === null ? 'erased' : 'unavailable';
}

/** Seals content left for later (`contentToSeal`) here and now. */
export function sealContentNow(p: PendingEvent, finalizer: EventFinalizer): void {
  if (p.contentToSeal !== undefined) setSealedContent(p, finalizer.sealContent(p.event, p.contentToSeal, p.arrivedAt));
}

const LIST_SECTIONS = new Set<ContentSection>(['system', 'input', 'output']);

const pieceJson = (p: ContentPiece): string | undefined => p.json ?? JSON.stringify(p.value);
const pieceRawJson = (p: ContentPiece): string | undefined => p.rawJson ?? JSON.stringify(p.raw);

/**
 * `{"system":[…],"input":[…],"output":[…],"arguments":…}`: the list sections hold their pieces in
 * order, the others their last piece; keys in order of first appearance. Joined from each
 * piece's JSON text, byte for byte what JSON.stringify gives for the same object.
 */
function joinSections(pieces: ContentPiece[], text: (p: ContentPiece) => string | undefined): string {
  const sections: ContentSection[] = [];
  const values = new Map<ContentSection, string[] | string | undefined>();
  for (const p of pieces) {
    const t = text(p);
    if (!values.has(p.section)) sections.push(p.section);
    if (LIST_SECTIONS.has(p.section)) {
      let list = values.get(p.section) as string[] | undefined;
      if (!list) values.set(p.section, (list = []));
      list.push(t ?? 'null');
    } else {
      values.set(p.section, t);
    }
  }
  const parts: string[] = [];
  for (const s of sections) {
    const v = values.get(s);
    if (v === undefined) continue; // as JSON.stringify drops a key whose value is undefined
    parts.push(`"${s}":${Array.isArray(v) ? `[${v.join(',')}]` : v}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * SHA-256 over the concatenated raw digests of the pieces, in order: composable, so content
 * that arrives in several log records gets the same digest as the same content in one span.
 */
function digestOf(pieces: ContentPiece[], sections: ContentSection[]): string {
  let concatenated = '';
  for (const section of sections) {
    for (const p of pieces) if (p.section === section) concatenated += p.digest;
  }
  return concatenated ? hash('sha256', concatenated, 'hex') : '';
}
