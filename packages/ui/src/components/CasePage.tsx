import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { caseUrl, queryString, type ApiError } from '../api.ts';
import { CaseLoader } from '../case-loader.ts';
import { useApp } from '../context.ts';
import { screenCsv } from '../csv.ts';
import { fileSafe, saveBlob } from '../download.ts';
import { caseIntegrityView, formatCount, formatTime, typeLabel } from '../format.ts';
import { EVENT_TYPES, type AuditEvent, type CaseSummary } from '../model.ts';
import { Spinner } from './bits.tsx';
import { RawContentDialog } from './RawContentDialog.tsx';
import { PlaceholderCard, StepCard } from './StepCard.tsx';
import { VirtualFeed, type VirtualFeedHandle } from './VirtualFeed.tsx';

type Summary = { state: 'loading' } | { state: 'ready'; summary: CaseSummary } | { state: 'error'; status: number; message: string };

/** Heights before a row is measured: by type, which is what decides most of a card's size. */
const ESTIMATE: Record<string, number> = { request: 190, retrieval: 300, model_call: 330, tool_call: 330, approval: 320, system_effect: 200, outcome: 170, access: 190 };

const ICON: Record<string, string> = { ok: '✓', info: '◷', warn: '?', bad: '✗' };

export function CasePage({ id, focusEventId }: { id: string; focusEventId: string | null }) {
  const { api, announce } = useApp();
  const [summary, setSummary] = useState<Summary>({ state: 'loading' });
  const [integrityLoading, setIntegrityLoading] = useState(true);
  const [version, setVersion] = useState(0);
  const [raw, setRaw] = useState<AuditEvent | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ tone: 'ok' | 'bad' | 'info'; text: string } | null>(null);
  const feed = useRef<VirtualFeedHandle | null>(null);
  const focusWanted = useRef<string | null>(focusEventId);

  const loader = useMemo(() => {
    const l = new CaseLoader((cursor, limit, signal) => api.caseEvents(id, cursor, limit, signal), 0, () => setVersion((v) => v + 1));
    return l;
  }, [id]);
  useEffect(() => () => loader.stop(), [loader]);

  useEffect(() => {
    const ac = new AbortController();
    let facts = false;
    // The facts first (fast), then the integrity of every event (about 1 s per 30,000 events).
    api
      .caseSummary(id, false, ac.signal)
      .then((s) => {
        facts = true;
        loader.expected = s.events;
        setSummary({ state: 'ready', summary: s });
        setVersion((v) => v + 1);
        return api.caseSummary(id, true, ac.signal);
      })
      .then((s) => {
        setSummary({ state: 'ready', summary: s });
        setIntegrityLoading(false);
        if (s.integrity?.status === 'broken') announce(`Warning: this case fails its integrity check. ${s.integrity.summary}`);
      })
      .catch((err: ApiError) => {
        if (ac.signal.aborted) return;
        setIntegrityLoading(false);
        if (facts) setMessage({ tone: 'bad', text: `The integrity check could not be made: ${err.message}` });
        else setSummary({ state: 'error', status: err.status, message: err.message });
      });
    return () => ac.abort();
  }, [id]);

  // Scroll to an event asked for (?event=, a problem's "show"), once it is loaded.
  const showEvent = useCallback(
    (eventId: string) => {
      focusWanted.current = eventId;
      const i = loader.story.indexOf(eventId);
      if (i >= 0) {
        focusWanted.current = null;
        feed.current?.scrollToIndex(i, true);
      } else loader.wantEvent(eventId);
    },
    [loader],
  );
  useEffect(() => {
    const want = focusWanted.current;
    if (!want) return;
    const i = loader.story.indexOf(want);
    if (i >= 0) {
      focusWanted.current = null;
      // After the rows rendered.
      requestAnimationFrame(() => feed.current?.scrollToIndex(i, true));
    } else if (summary.state === 'ready') loader.wantEvent(want);
  }, [version, summary.state]);

  if (summary.state === 'loading') return <Spinner label={`Opening case ${id}…`} />;
  if (summary.state === 'error') {
    return (
      <div class="notice warn" role="alert">
        <h1>Case {id}</h1>
        <p>{summary.status === 404 ? 'No events are stored under this case id in the tenants you may read.' : summary.message}</p>
        <p>
          <a href={`/${queryString({ q: id })}`}>Search for “{id}”</a>
        </p>
      </div>
    );
  }

  const s = summary.summary;
  const count = loader.count;
  const items = loader.story.items;
  const integrity = caseIntegrityView(s);

  const download = async (what: 'csv' | 'evidence') => {
    setBusy(what);
    setMessage(null);
    try {
      const d =
        what === 'csv'
          ? { ...(await api.download(`/api/v1/events${queryString({ correlation_id: id, format: 'csv', export: 1 })}`)), filename: `${fileSafe(id)}.csv` }
          : await api.download(`${caseUrl(id)}/evidence`, `${fileSafe(id)}-evidence.zip`);
      saveBlob(d.blob, d.filename);
      setMessage({
        tone: 'ok',
        text:
          what === 'csv'
            ? `Every event of the case exported to ${d.filename}. The export is recorded in the audit trail.`
            : `Evidence pack ${d.filename} downloaded: check it offline with "otel-audit verify-evidence ${d.filename}". Its making is recorded in the audit trail.`,
      });
    } catch (err) {
      const e = err as ApiError;
      const missing = what === 'evidence' && e.status === 404 && /no such endpoint/.test(e.message);
      setMessage({ tone: 'bad', text: missing ? 'This bridge does not make evidence packs (its API has no /evidence endpoint).' : `${what === 'csv' ? 'Export' : 'Evidence pack'} failed: ${e.message}` });
    } finally {
      setBusy(null);
    }
  };

  return (
    <div class="case-page">
      <header class="case-head card">
        <p class="eyebrow">Case</p>
        <h1 class="case-id">{s.correlation_id}</h1>
        <dl class="case-facts">
          <div>
            <dt>Events</dt>
            <dd>{formatCount(s.events)}</dd>
          </div>
          <div>
            <dt>Traces</dt>
            <dd>{formatCount(s.traces)}</dd>
          </div>
          <div>
            <dt>First (UTC)</dt>
            <dd class="num">{formatTime(s.first_time)}</dd>
          </div>
          <div>
            <dt>Last (UTC)</dt>
            <dd class="num">{formatTime(s.last_time)}</dd>
          </div>
          <div>
            <dt>Actors</dt>
            <dd>{s.actors.join(', ') || '—'}</dd>
          </div>
          <div>
            <dt>Tenant</dt>
            <dd>{s.tenants.join(', ')}</dd>
          </div>
        </dl>
        <ul class="type-counts" aria-label="Events by type">
          {[...EVENT_TYPES.filter((t) => s.by_type[t]), ...Object.keys(s.by_type).filter((t) => !(EVENT_TYPES as readonly string[]).includes(t))].map((t) => (
            <li class={`type-tag t-${t}`}>
              {typeLabel(t)} <strong>{formatCount(s.by_type[t])}</strong>
            </li>
          ))}
        </ul>
        <section class={`integrity-banner tone-${integrityLoading ? 'info' : integrity.tone}`} aria-labelledby="integrity-title" aria-live="polite">
          <h2 id="integrity-title">
            <span aria-hidden="true">{integrityLoading ? '◷' : ICON[integrity.tone]} </span>
            {integrityLoading ? `Checking the integrity of ${formatCount(s.events)} events…` : integrity.headline}
          </h2>
          {!integrityLoading && integrity.details.map((d) => <p>{d}</p>)}
          {!integrityLoading && s.integrity && s.integrity.problems.length > 0 && (
            <ul class="problems">
              {s.integrity.problems.map((p) => (
                <li>
                  <strong>{p.status === 'modified' ? 'Modified' : 'Broken'}</strong>: seq {p.seq} of chain {p.chain_id}, event <code>{p.event_id}</code>. {p.reason}.{' '}
                  <button type="button" class="link-button" onClick={() => showEvent(p.event_id)}>
                    Show this event
                  </button>
                </li>
              ))}
            </ul>
          )}
        </section>
        <div class="toolbar case-toolbar">
          <button
            type="button"
            disabled={loader.loaded === 0}
            onClick={() => {
              const events = items.map((it) => it.event);
              saveBlob(new Blob([screenCsv(events)], { type: 'text/csv;charset=utf-8' }), `${fileSafe(id)}-on-screen.csv`);
              announce(`CSV of the ${events.length} loaded events downloaded.`);
            }}
          >
            CSV of loaded events ({formatCount(loader.loaded)})
          </button>
          <button type="button" disabled={busy !== null} onClick={() => void download('csv')}>
            {busy === 'csv' ? 'Exporting…' : 'Export whole case (CSV)'}
          </button>
          <button type="button" disabled={busy !== null} onClick={() => void download('evidence')}>
            {busy === 'evidence' ? 'Gathering the pack…' : 'Evidence pack (.zip)'}
          </button>
          <span class="toolbar-gap" />
          <button type="button" onClick={() => feed.current?.scrollToIndex(0, true)}>
            First event
          </button>
          <button
            type="button"
            onClick={() => {
              loader.wantAll();
              feed.current?.scrollToIndex('end', true);
            }}
          >
            Last event
          </button>
        </div>
        {message && (
          <p class={`notice ${message.tone}`} role={message.tone === 'bad' ? 'alert' : 'status'}>
            {message.text}
          </p>
        )}
      </header>

      <div class="story-head">
        <h2 id="story-title">The story, in time order</h2>
        <p class="muted" role="status">
          {loader.error
            ? `Loading stopped: ${loader.error}`
            : loader.done
              ? `${formatCount(loader.loaded)} events; approvals are drawn under the proposals they decide.`
              : `${formatCount(loader.loaded)} of ${formatCount(count)} events loaded; more load as you scroll.`}
        </p>
      </div>
      <VirtualFeed
        handle={feed}
        count={count}
        version={version}
        label={`Events of case ${s.correlation_id}`}
        busy={!loader.done}
        estimate={(i) => {
          const it = items[i];
          return it ? (ESTIMATE[it.event.event_type] ?? 220) + (it.event.event_type === 'retrieval' ? it.event.sources.length * 34 : 0) : 220;
        }}
        onRange={(_start, end) => loader.want(end)}
        isLoaded={(i) => i < items.length}
        loaded={items.length}
        renderRow={(i) => {
          const it = items[i];
          if (!it) return <PlaceholderCard index={i} setSize={loader.done ? count : -1} />;
          return <StepCard item={it} index={i} setSize={loader.done ? count : -1} complete={loader.done} onOpenRaw={setRaw} onShowEvent={showEvent} />;
        }}
      />
      {raw && <RawContentDialog event={raw} onClose={() => setRaw(null)} />}
    </div>
  );
}
