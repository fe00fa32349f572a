/**
 * How events read for people: labels, one-line descriptions, identities, integrity in words,
 * times, trace links, and the structure inside stored (redacted) content. Pure functions: the
 * components only lay them out.
 */
import type { AuditEvent, CaseSummary, CheckpointRef, Integrity, IntegrityStatus } from './model.ts';

// ---------------------------------------------------------------- words

const WORDS: Record<string, string> = {
  ai_assisted: 'AI-assisted',
  model_call: 'model call',
  tool_call: 'tool call',
  system_effect: 'system effect',
  team_lead: 'team lead',
  not_checked: 'not checked',
};

/** `record_updated` → "record updated"; a few known values get their proper spelling. */
export function humanize(v: string): string {
  return WORDS[v] ?? v.replace(/_/g, ' ');
}

const TYPE_LABELS: Record<string, string> = {
  request: 'Request',
  retrieval: 'Sources retrieved',
  model_call: 'Model call',
  tool_call: 'Tool call',
  approval: 'Approval',
  system_effect: 'System effect',
  outcome: 'Outcome',
  access: 'Access to the trail',
  evaluation: 'Evaluation',
  deployment: 'Deployment',
};

/** The short name of an event type ("Model call"). */
export function typeLabel(type: string): string {
  return TYPE_LABELS[type] ?? (type ? type[0].toUpperCase() + humanize(type.slice(1)) : 'Event');
}

/** The heading of a step of a case's story. */
export function stepTitle(e: AuditEvent): string {
  switch (e.event_type) {
    case 'tool_call':
      return e.approval_required ? 'Tool call proposed, needs approval' : 'Tool call';
    case 'approval':
      return e.decision ? `Approval: ${humanize(e.decision)}` : 'Approval';
    case 'outcome':
      return e.outcome ? `Outcome: ${humanize(e.outcome)}` : 'Outcome';
    case 'access':
      return accessTitle(e);
    default:
      return typeLabel(e.event_type);
  }
}

function accessTitle(e: AuditEvent): string {
  if (e.purpose === 'erase') return 'Subject erased (its sealed content can no longer be read)';
  const what = e.purpose === 'read_content' ? 'Sealed content opened' : e.purpose === 'export' ? 'Export' : e.purpose === 'evidence' ? 'Evidence pack' : 'Access';
  return `${what} (a read of the trail)`;
}

const target = (e: AuditEvent) => (e.target_system && e.target_id ? `${e.target_system}/${e.target_id}` : e.target_system || e.target_id);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** One line saying what the event did ("update_crm_case: update crm/CASE-123"). */
export function describe(e: AuditEvent): string {
  const parts: string[] = [];
  switch (e.event_type) {
    case 'request':
      parts.push(e.name, e.purpose && `purpose: ${humanize(e.purpose)}`);
      break;
    case 'retrieval': {
      const ids = e.sources.map((s) => s.id).filter(Boolean);
      parts.push(
        e.target_system ? `from ${e.target_system}` : e.name,
        `${plural(e.sources.length, 'source')}${ids.length ? `: ${ids.slice(0, 4).join(', ')}${ids.length > 4 ? ', …' : ''}` : ''}`,
      );
      break;
    }
    case 'model_call':
      parts.push(
        [e.provider, e.response_model || e.request_model].filter(Boolean).join(' ') || e.name,
        e.input_tokens !== null ? `${e.input_tokens} → ${e.output_tokens ?? '?'} tokens` : '',
      );
      break;
    case 'tool_call':
      parts.push([e.tool_name || e.name, e.action && humanize(e.action), target(e)].filter(Boolean).join(' '), e.approval_required ? 'needs approval' : '');
      break;
    case 'approval':
      parts.push([humanize(e.decision || 'decided'), e.reviewer_id && `by ${e.reviewer_id}`, e.reviewer_role && `(${humanize(e.reviewer_role)})`].filter(Boolean).join(' '), e.edited ? 'edited' : '');
      break;
    case 'system_effect':
      parts.push([e.effect ? humanize(e.effect) : e.name, target(e)].filter(Boolean).join(' '));
      break;
    case 'outcome':
      parts.push(e.outcome ? humanize(e.outcome) : e.name);
      break;
    case 'access':
      parts.push(`${e.actor_id || 'someone'} ${e.purpose === 'read_content' ? 'opened' : e.purpose === 'erase' ? 'erased' : 'read'} ${e.target_id || 'the trail'}`);
      break;
    default:
      parts.push(e.name, e.purpose && humanize(e.purpose));
  }
  return parts.filter(Boolean).join(' · ');
}

// ---------------------------------------------------------------- identity

export interface Identity {
  actor: string;
  /** "agent", "human", ... */
  actorType: string;
  actorRole: string;
  onBehalfOf: string;
  initiation: string;
}

export function identity(e: AuditEvent): Identity {
  return { actor: e.actor_id, actorType: e.actor_type, actorRole: e.actor_role ? humanize(e.actor_role) : '', onBehalfOf: e.on_behalf_of, initiation: e.initiation ? humanize(e.initiation) : '' };
}

/** "support-assistant (agent) on behalf of cust-1042 · AI-assisted" */
export function identityLine(e: AuditEvent): string {
  const i = identity(e);
  const who = i.actor ? `${i.actor}${i.actorType || i.actorRole ? ` (${[i.actorType, i.actorRole].filter(Boolean).join(', ')})` : ''}` : 'unknown actor';
  return [`${who}${i.onBehalfOf ? ` on behalf of ${i.onBehalfOf}` : ''}`, i.initiation].filter(Boolean).join(' · ');
}

// ---------------------------------------------------------------- time

/** "2026-12-02 08:17:28.175000000" → "2026-12-02 08:17:28.175" (UTC, to the millisecond). */
export function formatTime(t: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?/.exec(t);
  if (!m) return t;
  return `${m[1]} ${m[2]}.${(m[3] ?? '').padEnd(3, '0').slice(0, 3)}`;
}

/** An ISO 8601 instant → "2026-12-02 08:17:32 UTC". */
export function formatInstant(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Milliseconds between two event times (ns precision strings), or null. */
export function millisBetween(a: string, b: string): number | null {
  const ms = (t: string) => {
    const d = Date.parse(`${t.slice(0, 23).replace(' ', 'T')}Z`);
    return Number.isNaN(d) ? null : d;
  };
  const x = ms(a);
  const y = ms(b);
  return x === null || y === null ? null : y - x;
}

/** 3_723_000 → "1 h 2 min later"; small gaps in s or ms. */
export function formatGap(ms: number): string {
  const abs = Math.abs(ms);
  const word = ms < 0 ? 'earlier' : 'later';
  if (abs < 1000) return `${Math.round(abs)} ms ${word}`;
  if (abs < 60_000) return `${(abs / 1000).toFixed(abs < 10_000 ? 1 : 0)} s ${word}`;
  if (abs < 3_600_000) return `${Math.round(abs / 60_000)} min ${word}`;
  if (abs < 86_400_000) return `${Math.floor(abs / 3_600_000)} h ${Math.round((abs % 3_600_000) / 60_000)} min ${word}`;
  return `${Math.round(abs / 86_400_000)} days ${word}`;
}

/** Nanoseconds (decimal string) → "98.7 ms", "2.1 s". */
export function formatDuration(ns: string): string {
  const n = Number(ns);
  if (!Number.isFinite(n) || n <= 0) return '';
  const ms = n / 1e6;
  if (ms < 1) return `${(n / 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export const formatCount = (n: number): string => n.toLocaleString('en-US');

// ---------------------------------------------------------------- integrity

export type Tone = 'ok' | 'info' | 'warn' | 'bad';

export interface IntegrityView {
  tone: Tone;
  /** A word or two: "Verified", "Modified". */
  label: string;
  /** What it means for this event, in a sentence. */
  detail: string;
}

const STATUS_LABEL: Record<IntegrityStatus, string> = {
  verified: 'Verified',
  unanchored: 'Not yet signed',
  unchecked: 'Not checked',
  modified: 'Modified',
  broken: 'Chain broken',
};

/** An event's integrity, for a badge: whether its hash verifies and which signed checkpoint covers it. */
export function integrityView(i: Integrity | undefined): IntegrityView {
  if (!i) return { tone: 'info', label: 'Not checked', detail: 'integrity was not checked for this listing' };
  const cp = i.checkpoint;
  const where = cp ? `checkpoint ${formatCount(cp.tree_size)} of chain ${cp.chain_id}${cp.created_at ? `, signed ${formatInstant(cp.created_at)}` : ''}` : '';
  switch (i.status) {
    case 'verified':
      return { tone: 'ok', label: STATUS_LABEL.verified, detail: `hash verifies; included in ${where}` };
    case 'unanchored':
      return { tone: 'info', label: STATUS_LABEL.unanchored, detail: 'hash verifies and the hash chain links hold; no signed checkpoint covers it yet' };
    case 'unchecked':
      return { tone: 'warn', label: STATUS_LABEL.unchecked, detail: i.reason ?? `hash ${i.hash_ok ? 'verifies' : 'does not verify'}; inclusion not checked` };
    case 'modified':
      return { tone: 'bad', label: STATUS_LABEL.modified, detail: i.reason ?? 'the stored row no longer matches what was sealed' };
    case 'broken':
      return { tone: 'bad', label: STATUS_LABEL.broken, detail: i.reason ?? 'the hash chain around this event is broken' };
    default:
      return { tone: 'warn', label: String(i.status), detail: i.reason ?? '' };
  }
}

export const isTampered = (i: Integrity | undefined): boolean => i?.status === 'modified' || i?.status === 'broken';

export interface CaseIntegrityView {
  tone: Tone;
  headline: string;
  /** The API's own sentence, and more where it helps. */
  details: string[];
}

/** The case header's integrity line: "Verified up to checkpoint N at T", or what is broken. */
export function caseIntegrityView(summary: Pick<CaseSummary, 'integrity' | 'events'>): CaseIntegrityView {
  const s = summary.integrity;
  if (!s) return { tone: 'info', headline: 'Integrity not checked yet', details: [] };
  const c = s.counts;
  const total = Object.values(c).reduce((a, b) => a + b, 0);
  const upTo = checkpointsPhrase(s.checkpoints);
  switch (s.status) {
    case 'verified':
      return { tone: 'ok', headline: `Verified up to ${upTo || 'the newest checkpoint'}`, details: [`All ${formatCount(total)} events hash correctly and are included in signed checkpoints.`] };
    case 'unanchored':
      return {
        tone: 'info',
        headline: c.verified ? `Verified up to ${upTo}; ${formatCount(c.unanchored)} newer not yet signed` : `Hash chain intact; not yet covered by a signed checkpoint`,
        details: [`${formatCount(c.unanchored)} of ${formatCount(total)} events are newer than the newest signed checkpoint: their hashes and links verify, a checkpoint will sign them soon.`],
      };
    case 'unchecked':
      return { tone: 'warn', headline: `Partly checked: ${formatCount(c.verified)} of ${formatCount(total)} verified`, details: [s.summary] };
    case 'broken': {
      const bad = (c.modified ?? 0) + (c.broken ?? 0);
      return {
        tone: 'bad',
        headline: `Integrity broken: ${formatCount(bad)} of ${formatCount(total)} event${total === 1 ? '' : 's'} fail${bad === 1 ? 's' : ''} the check`,
        details: [
          [
            c.modified ? `${formatCount(c.modified)} modified (the stored row is not what was sealed)` : '',
            c.broken ? `${formatCount(c.broken)} with the hash chain broken around them` : '',
            `${formatCount(c.verified ?? 0)} verified`,
          ]
            .filter(Boolean)
            .join(', ') + '. "otel-audit verify" checks the whole chain and its anchors.',
        ],
      };
    }
    default:
      return { tone: 'warn', headline: s.summary, details: [] };
  }
}

/**
 * "checkpoint 38 at 2026-12-02 08:52:49 UTC"; with a chain per risk level, "checkpoint 38
 * (main-medium) and checkpoint 1 (main-high), signed 2026-12-02 08:52:49 UTC" (one time when they
 * were signed in the same second).
 */
export function checkpointsPhrase(cps: CheckpointRef[]): string {
  if (cps.length === 0) return '';
  if (cps.length === 1) return `checkpoint ${formatCount(cps[0].tree_size)} at ${formatInstant(cps[0].created_at)}`;
  const sorted = [...cps].sort((a, b) => b.tree_size - a.tree_size);
  const times = new Set(sorted.map((cp) => formatInstant(cp.created_at)));
  const list = (f: (cp: CheckpointRef) => string) => {
    const parts = sorted.map(f);
    return parts.length === 2 ? parts.join(' and ') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  };
  if (times.size === 1) return `${list((cp) => `checkpoint ${formatCount(cp.tree_size)} (${cp.chain_id})`)}, signed ${[...times][0]}`;
  return list((cp) => `checkpoint ${formatCount(cp.tree_size)} (${cp.chain_id}) at ${formatInstant(cp.created_at)}`);
}

// ---------------------------------------------------------------- links

/**
 * The configured tracing UI's link to an event's trace (`{trace_id}`, and `{span_id}` if the
 * template has it), or null: no template, or a template that is not an http(s) URL.
 */
export function traceUrl(template: string | null | undefined, traceId: string, spanId = ''): string | null {
  if (!template || !traceId) return null;
  const url = template.replaceAll('{trace_id}', encodeURIComponent(traceId)).replaceAll('{span_id}', encodeURIComponent(spanId));
  return /^https?:\/\//i.test(url) ? url : null;
}

/** The UI's own page of a case (optionally focused on one event). */
export function casePath(correlationId: string, eventId?: string): string {
  return `/cases/${encodeURIComponent(correlationId)}${eventId ? `?event=${encodeURIComponent(eventId)}` : ''}`;
}

// ---------------------------------------------------------------- content

export interface MessagePart {
  type: 'text' | 'tool_call' | 'other';
  text: string;
  /** Tool calls: the tool's name and arguments (as JSON text). */
  name?: string;
  arguments?: string;
}

export interface Message {
  role: string;
  parts: MessagePart[];
}

export type ParsedContent =
  | { kind: 'messages'; system: Message[]; input: Message[]; output: Message[] }
  | { kind: 'tool'; arguments: string | null; result: string | null }
  | { kind: 'query'; query: string }
  | { kind: 'text'; text: string };

const asText = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v, null, 2));

function parsePart(p: unknown): MessagePart {
  if (typeof p === 'string') return { type: 'text', text: p };
  const o = (p ?? {}) as Record<string, unknown>;
  if (o.type === 'text' || (o.type === undefined && 'content' in o)) return { type: 'text', text: asText(o.content ?? o.text) };
  if (o.type === 'tool_call') return { type: 'tool_call', text: '', name: asText(o.name), arguments: asText(o.arguments) };
  return { type: 'other', text: asText(o) };
}

function parseMessages(v: unknown): Message[] {
  if (!Array.isArray(v)) return typeof v === 'string' && v ? [{ role: '', parts: [{ type: 'text', text: v }] }] : [];
  return v.map((m) => {
    const o = (m ?? {}) as Record<string, unknown>;
    const parts = Array.isArray(o.parts) ? o.parts.map(parsePart) : 'content' in o ? [parsePart({ type: 'text', content: o.content })] : [parsePart(o)];
    return { role: asText(o.role), parts };
  });
}

/** The structure of an event's stored content (already redacted), read defensively. */
export function parseContent(e: Pick<AuditEvent, 'content' | 'event_type'>): ParsedContent | null {
  if (!e.content) return null;
  let v: unknown;
  try {
    v = JSON.parse(e.content);
  } catch {
    return { kind: 'text', text: e.content };
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if ('input' in o || 'output' in o || 'system' in o) {
      return { kind: 'messages', system: parseMessages(o.system), input: parseMessages(o.input), output: parseMessages(o.output) };
    }
    if ('arguments' in o || 'result' in o) return { kind: 'tool', arguments: 'arguments' in o ? asText(o.arguments) : null, result: 'result' in o ? asText(o.result) : null };
    if (typeof o.query === 'string' && Object.keys(o).length === 1) return { kind: 'query', query: o.query };
  }
  return { kind: 'text', text: JSON.stringify(v, null, 2) };
}

/** What the model answered: its text, and the tool calls it asked for. */
export function modelOutput(e: Pick<AuditEvent, 'content' | 'event_type'>): { text: string; toolCalls: Array<{ name: string; arguments: string }> } | null {
  const c = parseContent(e);
  if (!c || c.kind !== 'messages') return null;
  const parts = c.output.flatMap((m) => m.parts);
  const text = parts
    .filter((p) => p.type === 'text')
    .map((p) => p.text)
    .join('\n')
    .trim();
  const toolCalls = parts.filter((p) => p.type === 'tool_call').map((p) => ({ name: p.name ?? '', arguments: p.arguments ?? '' }));
  return text || toolCalls.length ? { text, toolCalls } : null;
}

/** What a reviewer changed in an approval (audit.approval.edits, when the app captured it). */
export function approvalEdits(e: Pick<AuditEvent, 'attributes'>): string | null {
  const v = e.attributes?.['audit.approval.edits'];
  if (!v) return null;
  try {
    return JSON.stringify(JSON.parse(v), null, 2);
  } catch {
    return v;
  }
}

/**
 * Why a sealed-content event has no raw content to open (`otel_audit.content_sealed`, set by the
 * bridge at finalize): its subject was erased before it was stored, or it could not be sealed.
 */
export function rawContentNote(e: Pick<AuditEvent, 'attributes' | 'has_sealed_content'>): string | null {
  if (e.has_sealed_content) return null;
  const why = e.attributes?.['otel_audit.content_sealed'];
  if (why === 'erased') return 'Raw content erased: its subject was erased (otel-audit erase) after the event arrived, before it was sealed. Digests and redacted content remain.';
  if (why === 'unavailable') return 'Raw content not kept: part of it arrived without its raw form, so it could not be sealed.';
  return null;
}

/** Pretty JSON of a value that may be JSON text. */
export function prettyJson(v: unknown): string {
  if (typeof v === 'string') {
    try {
      return JSON.stringify(JSON.parse(v), null, 2);
    } catch {
      return v;
    }
  }
  return JSON.stringify(v, null, 2) ?? '';
}
