import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api.ts';
import { useApp } from '../context.ts';
import { prettyJson } from '../format.ts';
import type { AuditEvent, SealedContent } from '../model.ts';

type State = { state: 'loading' } | { state: 'open'; content: SealedContent } | { state: 'error'; status: number; message: string };

const EXPLAIN: Record<number, string> = {
  403: 'Your token may not open sealed content: it needs the content_reader role.',
  404: 'This event has no sealed content (or it is not in your tenants).',
  410: "The content was erased: its subject's key was destroyed (crypto-shredding). The event, its digests and the hash chain remain.",
  503: 'The bridge could not record this opening in the audit trail, so it did not show the content.',
};

/**
 * The raw content sealed with a high-risk event, opened for a content reader. The API records
 * every opening as an access event (in this case's story) before it answers.
 */
export function RawContentDialog({ event, onClose }: { event: AuditEvent; onClose: () => void }) {
  const { api, config, announce } = useApp();
  const dialog = useRef<HTMLDialogElement>(null);
  const [s, setS] = useState<State>({ state: 'loading' });

  useEffect(() => {
    dialog.current?.showModal();
    api
      .sealedContent(event.event_id)
      .then((content) => {
        setS({ state: 'open', content });
        announce('Raw content opened; the opening is recorded in the audit trail.');
      })
      .catch((err: ApiError) => setS({ state: 'error', status: err.status, message: err.message }));
  }, [event.event_id]);

  return (
    <dialog ref={dialog} class="raw-dialog" aria-labelledby="raw-title" onClose={onClose} onCancel={onClose}>
      <h2 id="raw-title">Raw content of this {event.event_type.replace('_', ' ')}</h2>
      <p class="muted">
        Event <code>{event.event_id}</code>, {event.risk} risk.
      </p>
      {s.state === 'loading' && <p role="status">Opening… (the bridge records this opening first)</p>}
      {s.state === 'error' && (
        <div class="notice bad" role="alert">
          <p>{EXPLAIN[s.status] ?? 'The content could not be opened.'}</p>
          <p class="muted">The bridge said: {s.message}</p>
        </div>
      )}
      {s.state === 'open' && (
        <>
          <p class="notice info" role="status">
            Opened as <strong>{config.principal}</strong>. This opening is recorded in the audit trail as an access event of this case. Subject:{' '}
            <code>{s.content.subject || '—'}</code>.
          </p>
          <pre class="raw-content" tabIndex={0} aria-label="Raw content">
            {prettyJson(s.content.content)}
          </pre>
        </>
      )}
      <form method="dialog">
        <button type="submit" class="primary" autofocus>
          Close
        </button>
      </form>
    </dialog>
  );
}
