import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { useApp } from '../context.ts';
import { identity, integrityView, traceUrl, typeLabel, type Tone } from '../format.ts';
import type { AuditEvent, Integrity } from '../model.ts';

const ICON: Record<Tone, string> = { ok: '✓', info: '◷', warn: '?', bad: '✗' };

/**
 * An event's integrity as a badge: an icon and a word. `detail`: 'hidden' adds what it rests on
 * for screen readers (and as a tooltip); 'none' when the page shows it beside the badge.
 */
export function IntegrityBadge({ integrity, detail = 'hidden' }: { integrity: Integrity | undefined; detail?: 'hidden' | 'none' }) {
  const v = integrityView(integrity);
  return (
    <span class={`badge tone-${v.tone}`} title={v.detail}>
      <span aria-hidden="true">{ICON[v.tone]} </span>
      {v.label}
      {detail === 'hidden' && <span class="visually-hidden">: {v.detail}</span>}
    </span>
  );
}

/** The checkpoint that covers an event, in a few words ("checkpoint 38 · main-medium"). */
export function checkpointNote(i: Integrity | undefined): string {
  if (!i) return '';
  if (i.checkpoint && (i.status === 'verified' || i.status === 'modified')) return `checkpoint ${i.checkpoint.tree_size.toLocaleString('en-US')} · ${i.checkpoint.chain_id}`;
  if (i.status === 'unanchored') return 'hash chain only, for now';
  return '';
}

export function TypeTag({ type }: { type: string }) {
  return <span class={`type-tag t-${type}`}>{typeLabel(type)}</span>;
}

/** Who acted, for whom, and how it was started. */
export function IdentityLine({ event }: { event: AuditEvent }) {
  const i = identity(event);
  return (
    <p class="identity">
      <span class="id-part">
        <span class="label">Actor</span> <strong>{i.actor || 'unknown'}</strong>
        {(i.actorType || i.actorRole) && <span class="muted"> ({[i.actorType, i.actorRole].filter(Boolean).join(', ')})</span>}
      </span>
      {' '}
      {i.onBehalfOf && (
        <span class="id-part">
          <span class="label">on behalf of</span> <strong>{i.onBehalfOf}</strong>
        </span>
      )}
      {' '}
      {i.initiation && (
        <span class="id-part">
          <span class="label">initiation</span> {i.initiation}
        </span>
      )}
    </p>
  );
}

/** The event's trace: a link through the configured template, else its id. */
export function TraceRef({ event, children }: { event: AuditEvent; children?: ComponentChildren }) {
  const { config } = useApp();
  const url = traceUrl(config.trace_url_template, event.trace_id, event.span_id);
  const label = children ?? (
    <>
      trace <code>{event.trace_id.slice(0, 12)}…</code>
    </>
  );
  if (!url) {
    return (
      <span class="trace-ref" title={`trace ${event.trace_id}, span ${event.span_id}`}>
        {label}
      </span>
    );
  }
  return (
    <a class="trace-ref" href={url} target="_blank" rel="noopener noreferrer" title={`Open trace ${event.trace_id} in the tracing UI`}>
      {label}
      <span class="visually-hidden"> (opens the tracing UI in a new tab)</span>
    </a>
  );
}

export function Spinner({ label }: { label: string }) {
  return (
    <span class="spinner" role="status">
      <span class="spinner-dot" aria-hidden="true" />
      {label}
    </span>
  );
}

/** A <details> whose content is made only once it is opened (cards stay light in long lists). */
export function Lazy({ summary, class: cls, children }: { summary: ComponentChildren; class?: string; children: () => ComponentChildren }) {
  const [open, setOpen] = useState(false);
  return (
    <details class={cls} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>{summary}</summary>
      {open && children()}
    </details>
  );
}
