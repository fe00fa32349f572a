import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, queryString } from '../api.ts';
import { useApp } from '../context.ts';
import { screenCsv } from '../csv.ts';
import { fileSafe, saveBlob } from '../download.ts';
import { casePath, describe, formatCount, formatTime, humanize, isTampered, typeLabel } from '../format.ts';
import { EVENT_TYPES, type AuditEvent } from '../model.ts';
import { navigate } from '../router.ts';
import { checkpointNote, IntegrityBadge, Spinner, TypeTag } from './bits.tsx';

/** The filters of GET /api/v1/events, as the search form shows them. */
const FILTERS = ['q', 'correlation_id', 'type', 'actor', 'reviewer', 'tool', 'target', 'status', 'risk', 'from', 'to', 'tenant'] as const;
type Filter = (typeof FILTERS)[number];
type Filters = Record<Filter, string>;

const PAGE_SIZES = [25, 50, 100, 250];
const DEFAULT_PAGE = 50;

function filtersOf(q: URLSearchParams): Filters {
  return Object.fromEntries(FILTERS.map((f) => [f, q.get(f) ?? ''])) as Filters;
}

function searchHref(f: Partial<Filters>, extra: Record<string, string | number | null> = {}): string {
  return `/${queryString({ ...f, ...extra })}`;
}

type Results = { state: 'idle' } | { state: 'loading' } | { state: 'done'; events: AuditEvent[]; next: string | null } | { state: 'error'; message: string; status: number };

export function SearchPage({ query }: { query: URLSearchParams }) {
  const { api, config, announce } = useApp();
  const applied = filtersOf(query);
  const cursor = query.get('cursor');
  const limit = PAGE_SIZES.includes(Number(query.get('limit'))) ? Number(query.get('limit')) : DEFAULT_PAGE;
  const [form, setForm] = useState<Filters>(applied);
  const [results, setResults] = useState<Results>({ state: 'idle' });
  /** Cursors of the pages before this one (for "Previous"). */
  const [back, setBack] = useState<string[]>([]);
  const [exporting, setExporting] = useState(false);
  const [exportMessage, setExportMessage] = useState<{ tone: 'ok' | 'bad'; text: string } | null>(null);
  const key = query.toString();
  const firstRender = useRef(true);

  // The form follows the address (back / forward, a pasted link).
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    setForm(filtersOf(query));
  }, [key]);

  useEffect(() => {
    const ac = new AbortController();
    setResults({ state: 'loading' });
    api
      .events({ ...applied, cursor, limit, integrity: 1 }, ac.signal)
      .then((page) => {
        setResults({ state: 'done', events: page.events, next: page.next_cursor });
        announce(`${page.events.length === 0 ? 'No' : formatCount(page.events.length)} event${page.events.length === 1 ? '' : 's'} found${page.next_cursor ? ', more on the next page' : ''}.`);
      })
      .catch((err: ApiError) => {
        if (ac.signal.aborted) return;
        setResults({ state: 'error', message: err.message, status: err.status });
      });
    return () => ac.abort();
  }, [key]);

  const set = (f: Filter) => (ev: Event) => setForm({ ...form, [f]: (ev.target as HTMLInputElement | HTMLSelectElement).value });
  /** A labelled text filter; its help is read by screen readers, and shown when `visibleHelp`. */
  const field = (f: Filter, label: string, help?: string, placeholder?: string, o: { visibleHelp?: boolean; wide?: boolean } = {}) => (
    <div class={`field${o.wide ? ' wide' : ''}`}>
      <label for={`f-${f}`}>{label}</label>
      <input id={`f-${f}`} name={f} type="text" value={form[f]} onInput={set(f)} placeholder={placeholder} aria-describedby={help ? `f-${f}-help` : undefined} />
      {help && (
        <span id={`f-${f}-help`} class={o.visibleHelp ? 'help' : 'visually-hidden'}>
          {help}
        </span>
      )}
    </div>
  );

  const events = results.state === 'done' ? results.events : [];
  const tenants = config.tenants === '*' ? null : config.tenants;
  const pageStart = back.length * limit;

  return (
    <div class="search-page">
      <div class="search-top">
        <h1 class="page-title">Search the audit trail</h1>
        <form
          class="open-case"
          role="search"
          aria-label="Open a case"
          onSubmit={(ev) => {
            ev.preventDefault();
            const id = (new FormData(ev.currentTarget as HTMLFormElement).get('case') as string).trim();
            if (id) navigate(casePath(id));
          }}
        >
          <label for="open-case-id">Open a case</label>
          <input id="open-case-id" name="case" type="text" placeholder="Case ID, e.g. CASE-123" aria-describedby="open-case-help" required />
          <span id="open-case-help" class="visually-hidden">
            The correlation id of a case, ticket or task: opens its story, across traces.
          </span>
          <button type="submit" class="primary">
            Open case
          </button>
        </form>
      </div>

      <form
        class="filters card"
        role="search"
        aria-label="Search events"
        onSubmit={(ev) => {
          ev.preventDefault();
          setBack([]);
          navigate(searchHref(form, { limit: limit === DEFAULT_PAGE ? null : limit }));
        }}
      >
        <fieldset>
          <legend>Filters</legend>
          <div class="filter-grid">
            {field('q', 'Text', 'Searched in names, redacted content, attribute values, tools, targets, rationales and source ids', 'e.g. refund', { wide: true })}
            {field('correlation_id', 'Case ID', 'The exact correlation id', 'CASE-123')}
            <div class="field">
              <label for="f-type">Event type</label>
              <select id="f-type" name="type" value={form.type} onChange={set('type')}>
                <option value="">Any type</option>
                {EVENT_TYPES.slice(0, 8).map((t) => (
                  <option value={t}>{typeLabel(t)}</option>
                ))}
              </select>
            </div>
            {field('actor', 'Actor or on behalf of', 'Who acted, or the person an agent acted for')}
            {field('reviewer', 'Reviewer', 'Who decided an approval')}
            {field('tool', 'Tool')}
            {field('target', 'Target', 'A system, a record id, or system/id', 'crm/ACC-9')}
            <div class="field">
              <label for="f-status">Status</label>
              <input id="f-status" name="status" type="text" list="status-values" value={form.status} onInput={set('status')} placeholder="ok, error, denied…" />
              <datalist id="status-values">
                {['ok', 'error', 'timeout', 'denied'].map((v) => (
                  <option value={v} />
                ))}
              </datalist>
            </div>
            <div class="field">
              <label for="f-risk">Risk</label>
              <select id="f-risk" name="risk" value={form.risk} onChange={set('risk')}>
                <option value="">Any risk</option>
                <option value="low">Low</option>
                <option value="medium">Medium</option>
                <option value="high">High</option>
              </select>
            </div>
            {field('from', 'From (UTC)', 'A duration ago (24h, 7d) or a time (2026-11-22 10:00:00); inclusive', '24h, 7d, 2026-11-22…')}
            {field('to', 'To (UTC)', 'Same forms as From; exclusive', 'now')}
            {tenants && tenants.length > 1 ? (
              <div class="field">
                <label for="f-tenant">Tenant</label>
                <select id="f-tenant" name="tenant" value={form.tenant} onChange={set('tenant')}>
                  <option value="">All my tenants</option>
                  {tenants.map((t) => (
                    <option value={t}>{t}</option>
                  ))}
                </select>
              </div>
            ) : tenants === null ? (
              field('tenant', 'Tenant', 'Empty: every tenant', 'any')
            ) : null}
            <div class="actions">
          <button type="submit" class="primary">
            Search
          </button>
          <button
            type="button"
            onClick={() => {
              setForm(filtersOf(new URLSearchParams()));
              setBack([]);
              navigate('/');
            }}
          >
            Clear filters
          </button>
              <span class="muted actions-note">Oldest first; times in UTC.</span>
            </div>
          </div>
        </fieldset>
      </form>

      <section class="results" aria-labelledby="results-title">
        <div class="results-head">
          <h2 id="results-title">
            Events{' '}
            {results.state === 'done' && (
              <span class="muted count">
                {events.length === 0 ? 'none found' : `${formatCount(pageStart + 1)}–${formatCount(pageStart + events.length)}${results.next ? ', more on the next pages' : ''}`}
              </span>
            )}
          </h2>
          <div class="toolbar">
            <button
              type="button"
              disabled={events.length === 0}
              onClick={() => {
                saveBlob(new Blob([screenCsv(events)], { type: 'text/csv;charset=utf-8' }), `${fileSafe(applied.correlation_id || 'events')}-page.csv`);
                announce(`CSV of the ${events.length} events on screen downloaded.`);
              }}
            >
              CSV of this page
            </button>
            <button
              type="button"
              disabled={exporting || events.length === 0}
              aria-describedby="export-help"
              onClick={async () => {
                setExporting(true);
                setExportMessage(null);
                try {
                  const d = await api.download(`/api/v1/events${queryString({ ...applied, format: 'csv', export: 1 })}`);
                  d.filename = `${fileSafe(applied.correlation_id || 'events')}.csv`;
                  saveBlob(d.blob, d.filename);
                  setExportMessage({ tone: 'ok', text: `Exported every matching event to ${d.filename}. The export is recorded in the audit trail.` });
                } catch (err) {
                  setExportMessage({ tone: 'bad', text: `Export failed: ${(err as Error).message}` });
                } finally {
                  setExporting(false);
                }
              }}
            >
              {exporting ? 'Exporting…' : 'Export all matching (CSV)'}
            </button>
            <span id="export-help" class="visually-hidden">
              Exports every event that matches the filters, not only this page; the bridge records the export in the audit trail.
            </span>
          </div>
        </div>
        {exportMessage && (
          <p class={`notice ${exportMessage.tone}`} role={exportMessage.tone === 'bad' ? 'alert' : 'status'}>
            {exportMessage.text}
          </p>
        )}
        {results.state === 'loading' && <Spinner label="Searching…" />}
        {results.state === 'error' && (
          <p class="notice bad" role="alert">
            {results.status === 403 ? 'Not allowed: ' : 'The search failed: '}
            {results.message}
          </p>
        )}
        {results.state === 'done' && events.length === 0 && <p class="empty">No event matches these filters.</p>}
        {events.length > 0 && <ResultsTable events={events} />}
        {results.state === 'done' && (back.length > 0 || results.next || cursor) && (
          <nav class="pager" aria-label="Pages of results">
            <button
              type="button"
              disabled={back.length === 0 && !cursor}
              onClick={() => {
                const prev = back.slice(0, -1);
                const c = back.length ? back[back.length - 1] : null;
                setBack(prev);
                navigate(searchHref(applied, { cursor: c || null, limit: limit === DEFAULT_PAGE ? null : limit }));
              }}
            >
              ← Previous page
            </button>
            <label class="inline">
              Per page{' '}
              <select
                value={String(limit)}
                onChange={(ev) => {
                  setBack([]);
                  navigate(searchHref(applied, { limit: Number((ev.target as HTMLSelectElement).value) }));
                }}
              >
                {PAGE_SIZES.map((n) => (
                  <option value={String(n)}>{n}</option>
                ))}
              </select>
            </label>
            <button
              type="button"
              disabled={!results.next}
              onClick={() => {
                setBack([...back, cursor ?? '']);
                navigate(searchHref(applied, { cursor: results.next, limit: limit === DEFAULT_PAGE ? null : limit }));
              }}
            >
              Next page →
            </button>
          </nav>
        )}
      </section>
    </div>
  );
}

function ResultsTable({ events }: { events: AuditEvent[] }) {
  return (
    <div class="table-wrap">
      <table class="results-table">
        <caption class="visually-hidden">Events matching the filters, oldest first; times in UTC</caption>
        <thead>
          <tr>
            <th scope="col">Time (UTC)</th>
            <th scope="col">Type</th>
            <th scope="col">What</th>
            <th scope="col">Actor / on behalf of</th>
            <th scope="col">Status</th>
            <th scope="col">Case</th>
            <th scope="col">Integrity</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.event_id} class={isTampered(e.integrity) ? 'row-bad' : undefined} data-event-id={e.event_id}>
              <td class="nowrap num">{formatTime(e.event_time)}</td>
              <td>
                <TypeTag type={e.event_type} />
              </td>
              <td class="what">{describe(e)}</td>
              <td>
                <span class="nowrap">
                  {e.actor_id || '—'}
                  {e.actor_type && <span class="muted"> ({e.actor_type})</span>}
                </span>
                {e.on_behalf_of && (
                  <span class="sub">
                    <span class="muted">for</span> {e.on_behalf_of}
                  </span>
                )}
              </td>
              <td class={e.status && e.status !== 'ok' ? 'status-bad' : undefined}>{humanize(e.status || '—')}</td>
              <td class="case">
                <a href={casePath(e.correlation_id, e.event_id)}>{e.correlation_id}</a>
              </td>
              <td class="integrity">
                <IntegrityBadge integrity={e.integrity} />
                {checkpointNote(e.integrity) && <span class="sub muted">{checkpointNote(e.integrity)}</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
