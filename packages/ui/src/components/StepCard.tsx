import type { ComponentChildren } from 'preact';
import { useApp } from '../context.ts';
import {
  approvalEdits,
  describe,
  formatDuration,
  formatGap,
  formatTime,
  humanize,
  integrityView,
  isTampered,
  millisBetween,
  modelOutput,
  parseContent,
  prettyJson,
  rawContentNote,
  stepTitle,
  type Message,
} from '../format.ts';
import { canReadContent, type AuditEvent } from '../model.ts';
import type { StoryItem } from '../story.ts';
import { IdentityLine, IntegrityBadge, Lazy, TraceRef } from './bits.tsx';

interface Props {
  item: StoryItem;
  index: number;
  setSize: number;
  /** Every page of the case is loaded (so "no approval recorded" is a fact, not a gap). */
  complete: boolean;
  onOpenRaw: (e: AuditEvent) => void;
  onShowEvent: (eventId: string) => void;
}

const DECISION_TONE: Record<string, string> = { approved: 'ok', edited: 'ok', rejected: 'bad', blocked: 'bad', escalated: 'warn', returned: 'warn', overridden: 'warn' };

/** One step of a case's story: what happened, who did it for whom, and whether the row is intact. */
export function StepCard({ item, index, setSize, complete, onOpenRaw, onShowEvent }: Props) {
  const e = item.event;
  const tampered = isTampered(e.integrity);
  const titleId = `step-${e.event_id}-title`;
  const classes = ['step', `t-${e.event_type}`, item.depth ? 'nested' : '', item.approvals.length ? 'has-approvals' : '', tampered ? 'tampered' : ''].filter(Boolean).join(' ');
  return (
    <article class={classes} aria-posinset={index + 1} aria-setsize={setSize} aria-labelledby={titleId} tabIndex={-1} id={`event-${e.event_id}`} data-event-id={e.event_id}>
      {item.depth === 1 && <span class="connector" aria-hidden="true" />}
      <header class="step-head">
        <span class="type-dot" aria-hidden="true" />
        <h3 id={titleId}>{stepTitle(e)}</h3>
        {e.name && squash(e.name) !== squash(stepTitle(e)) && <span class="span-name">{e.name}</span>}
        <time class="num" dateTime={`${e.event_time.replace(' ', 'T').slice(0, 23)}Z`}>
          {formatTime(e.event_time)}
        </time>
        <IntegrityBadge integrity={e.integrity} detail="none" />
      </header>
      {tampered && (
        <p class="tamper-alert">
          <strong>This event fails its integrity check.</strong> {integrityView(e.integrity).detail}. What is shown below is the stored row as it is now, not what was
          sealed.
        </p>
      )}
      {item.depth === 1 && item.proposal && <Approves approval={e} proposal={item.proposal} onShowEvent={onShowEvent} />}
      {item.unpaired && e.links.length > 0 && (
        <p class="note warn-text">
          Decides a proposal that is not part of this case (span {e.links[0].span_id} of trace <code>{e.links[0].trace_id}</code>).
        </p>
      )}
      <IdentityLine event={e} />
      <Body event={e} />
      {e.event_type === 'tool_call' && e.approval_required && item.approvals.length === 0 && (
        <p class={`note ${complete ? 'warn-text' : 'muted'}`}>{complete ? 'No approval decision is recorded for this proposal in this case.' : 'Its approval, if any, is further down (not loaded yet).'}</p>
      )}
      {item.approvals.length > 0 && (
        <p class="note muted">
          Decided below by {item.approvals.map((a) => `${a.reviewer_id || a.actor_id} (${humanize(a.decision || 'decided')})`).join(', ')}.
        </p>
      )}
      <Footer event={e} onOpenRaw={onOpenRaw} />
    </article>
  );
}

function Approves({ approval, proposal, onShowEvent }: { approval: AuditEvent; proposal: AuditEvent; onShowEvent: (id: string) => void }) {
  const gap = millisBetween(proposal.event_time, approval.event_time);
  return (
    <p class="approves">
      <span aria-hidden="true">↳ </span>
      Decides the proposal above:{' '}
      <a
        href={`#event-${proposal.event_id}`}
        onClick={(ev) => {
          ev.preventDefault();
          onShowEvent(proposal.event_id);
        }}
      >
        {describe(proposal)}
      </a>
      {gap !== null && <>, {formatGap(gap)}</>}
      {proposal.trace_id !== approval.trace_id && <>, in another trace</>}.
    </p>
  );
}

/** Letters and digits only, lower case: "Approval: approved" and "approval approved" say the same. */
const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/** JSON on one line when it is short, laid out when it is long. */
function JsonValue({ text }: { text: string }) {
  const pretty = prettyJson(text);
  const flat = pretty.replace(/\s*\n\s*/g, ' ');
  return flat.length <= 140 ? <code class="json-line">{flat}</code> : <pre>{pretty}</pre>;
}

function Fact({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="fact">
      <dt>{label}</dt> <dd>{children}</dd>{' '}
    </div>
  );
}

function Facts({ children }: { children: ComponentChildren }) {
  return <dl class="facts">{children}</dl>;
}

const target = (e: AuditEvent) => [e.target_system, e.target_id].filter(Boolean).join(' / ');

/** What is particular to each type of step. */
function Body({ event: e }: { event: AuditEvent }) {
  const status = e.status && e.status !== 'ok' && (
    <Fact label="Status">
      <span class="status-bad">
        {humanize(e.status)}
        {e.error_type && ` (${e.error_type})`}
      </span>
    </Fact>
  );
  switch (e.event_type) {
    case 'request':
      return (
        <>
          <Facts>
            <Fact label="Request">{e.name}</Fact>
            {e.purpose && <Fact label="Purpose">{humanize(e.purpose)}</Fact>}
            {e.service_name && <Fact label="Service">{e.service_name}</Fact>}
            {formatDuration(e.duration_ns) && <Fact label="Took">{formatDuration(e.duration_ns)}</Fact>}
            {status}
          </Facts>
          <ContentBlock event={e} />
        </>
      );
    case 'retrieval':
      return (
        <>
          <Facts>
            <Fact label="From">{e.target_system || e.name}</Fact>
            {status}
          </Facts>
          {e.sources.length > 0 ? (
            <table class="sources">
              <caption>Sources used</caption>
              <thead>
                <tr>
                  <th scope="col">Source</th>
                  <th scope="col">Version</th>
                  <th scope="col">Sensitivity</th>
                  <th scope="col">Score</th>
                  <th scope="col">URI</th>
                </tr>
              </thead>
              <tbody>
                {e.sources.map((s) => (
                  <tr>
                    <td>
                      <strong>{s.id}</strong>
                    </td>
                    <td>{s.version || '—'}</td>
                    <td>{s.sensitivity ? <span class={`sens sens-${s.sensitivity}`}>{s.sensitivity}</span> : '—'}</td>
                    <td class="num">{s.score === null ? '—' : s.score.toFixed(2)}</td>
                    <td class="uri">{s.uri || '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">No source references were recorded.</p>
          )}
          <ContentBlock event={e} title="Query (redacted)" />
        </>
      );
    case 'model_call': {
      const out = modelOutput(e);
      return (
        <>
          <Facts>
            <Fact label="Model">
              {[e.provider, e.request_model].filter(Boolean).join(' ') || e.name}
              {e.response_model && e.response_model !== e.request_model && <span class="muted"> → {e.response_model}</span>}
            </Fact>
            {e.input_tokens !== null && (
              <Fact label="Tokens">
                {e.input_tokens} in, {e.output_tokens ?? '?'} out
              </Fact>
            )}
            {e.prompt_version && <Fact label="Prompt version">{e.prompt_version}</Fact>}
            {status}
          </Facts>
          {out && (
            <div class="output">
              <h4>Model output (redacted)</h4>
              {out.text && <blockquote>{out.text}</blockquote>}
              {out.toolCalls.map((t) => (
                <p class="tool-request">
                  Asks to call <strong>{t.name}</strong>
                  {t.arguments && (
                    <>
                      {' '}
                      with <code class="inline-json">{t.arguments.replace(/\s+/g, ' ')}</code>
                    </>
                  )}
                </p>
              ))}
            </div>
          )}
          <ContentBlock event={e} title="Prompt and answer (redacted)" />
        </>
      );
    }
    case 'tool_call': {
      const c = parseContent(e);
      return (
        <>
          <Facts>
            <Fact label="Tool">{e.tool_name || e.name}</Fact>
            {e.action && <Fact label="Action">{humanize(e.action)}</Fact>}
            {target(e) && <Fact label="Target">{target(e)}</Fact>}
            {e.permission && <Fact label="Permission">{humanize(e.permission)}</Fact>}
            <Fact label="Needs approval">{e.approval_required ? 'yes' : 'no'}</Fact>
            {status}
          </Facts>
          {c?.kind === 'tool' ? (
            <>
              {c.arguments && (
                <div class="output">
                  <h4>Arguments (redacted)</h4>
                  <JsonValue text={c.arguments} />
                </div>
              )}
              {c.result && (
                <Lazy class="content" summary="Result (redacted)">
                  {() => <pre>{prettyJson(c.result)}</pre>}
                </Lazy>
              )}
            </>
          ) : (
            <ContentBlock event={e} />
          )}
        </>
      );
    }
    case 'approval': {
      const edits = approvalEdits(e);
      return (
        <>
          <Facts>
            <Fact label="Decision">
              <span class={`badge tone-${DECISION_TONE[e.decision] ?? 'info'}`}>{humanize(e.decision || 'none recorded')}</span>
            </Fact>
            <Fact label="Reviewer">
              <strong>{e.reviewer_id || e.actor_id || 'unknown'}</strong>
              {e.reviewer_role && <span class="muted"> ({humanize(e.reviewer_role)})</span>}
            </Fact>
            <Fact label="Edited">{e.edited ? 'yes, the reviewer changed the proposal' : 'no'}</Fact>
            {status}
          </Facts>
          {e.rationale && (
            <div class="output">
              <h4>Rationale</h4>
              <blockquote>{e.rationale}</blockquote>
            </div>
          )}
          {edits && (
            <div class="output">
              <h4>What was edited</h4>
              <pre>{edits}</pre>
            </div>
          )}
          {e.edited && !edits && <p class="muted">The app did not record the edits themselves (audit.approval.edits).</p>}
        </>
      );
    }
    case 'system_effect':
      return (
        <>
          <Facts>
            <Fact label="Effect">{humanize(e.effect || e.name)}</Fact>
            {target(e) && <Fact label="In">{target(e)}</Fact>}
            {e.action && <Fact label="Action">{humanize(e.action)}</Fact>}
            {e.tool_name && <Fact label="Through">{e.tool_name}</Fact>}
            {status}
          </Facts>
          <ContentBlock event={e} />
        </>
      );
    case 'outcome':
      return (
        <>
          <Facts>
            <Fact label="Outcome">{humanize(e.outcome || e.name)}</Fact>
            {status}
          </Facts>
          <ContentBlock event={e} />
        </>
      );
    case 'access':
      return (
        <Facts>
          <Fact label="Who">{e.actor_id}</Fact>
          <Fact label="Read">{e.target_id || '—'}</Fact>
          <Fact label="How">{humanize(e.purpose || 'read')}</Fact>
        </Facts>
      );
    default:
      return (
        <>
          <Facts>
            <Fact label="What">{describe(e)}</Fact>
            {status}
          </Facts>
          <ContentBlock event={e} />
        </>
      );
  }
}

function Messages({ title, messages }: { title: string; messages: Message[] }) {
  if (messages.length === 0) return null;
  return (
    <>
      <h5>{title}</h5>
      {messages.map((m) => (
        <div class="message">
          {m.role && <span class="role">{m.role}</span>}
          {m.parts.map((p) =>
            p.type === 'tool_call' ? (
              <p>
                calls <strong>{p.name}</strong> <code class="inline-json">{(p.arguments ?? '').replace(/\s+/g, ' ')}</code>
              </p>
            ) : (
              <p class="pre-line">{p.text}</p>
            ),
          )}
        </div>
      ))}
    </>
  );
}

/** The stored (redacted) content, folded. */
function ContentBlock({ event: e, title = 'Content (redacted)' }: { event: AuditEvent; title?: string }) {
  const c = parseContent(e);
  if (!c) return null;
  return (
    <Lazy
      class="content"
      summary={
        <>
          {title}
          {e.redactions > 0 && <span class="muted"> · {e.redactions} value{e.redactions === 1 ? '' : 's'} masked</span>}
        </>
      }
    >
      {() =>
        c.kind === 'messages' ? (
          <>
            <Messages title="Instructions" messages={c.system} />
            <Messages title="Input" messages={c.input} />
            <Messages title="Output" messages={c.output} />
          </>
        ) : c.kind === 'query' ? (
          <p>
            <span class="label">Query</span> {c.query}
          </p>
        ) : c.kind === 'tool' ? (
          <pre>{prettyJson({ arguments: c.arguments, result: c.result })}</pre>
        ) : (
          <pre>{c.text}</pre>
        )
      }
    </Lazy>
  );
}

const HIDDEN_FIELDS = new Set(['content', 'integrity', 'has_sealed_content']);

function Footer({ event: e, onOpenRaw }: { event: AuditEvent; onOpenRaw: (e: AuditEvent) => void }) {
  const { config } = useApp();
  const mayRead = canReadContent(config);
  const helpId = `raw-help-${e.event_id}`;
  return (
    <footer class="step-foot">
      {!isTampered(e.integrity) && (
        <span class={`integrity-detail tone-text-${integrityView(e.integrity).tone}`}>
          <span class="label">Integrity</span> {integrityView(e.integrity).detail}
        </span>
      )}
      <span>
        <TraceRef event={e} />
      </span>
      <span class="muted">
        event <code>{e.event_id}</code>
      </span>
      {e.service_name && <span class="muted">{e.service_name}</span>}
      {e.risk && <span class={`risk risk-${e.risk}`}>{e.risk} risk</span>}
      {rawContentNote(e) && <span class="muted raw-note">{rawContentNote(e)}</span>}
      {e.has_sealed_content &&
        (mayRead ? (
          <button type="button" class="small" onClick={() => onOpenRaw(e)}>
            Open raw content…
          </button>
        ) : (
          <span class="raw-locked">
            <button type="button" class="small" disabled aria-describedby={helpId}>
              Open raw content
            </button>
            <span id={helpId} class="help">
              Sealed. Opening it needs the content_reader role; your token has {config.roles.join(', ') || 'no role'}.
            </span>
          </span>
        ))}
      <Lazy class="all-fields" summary="All fields">
        {() => (
          <dl>
            {Object.entries(e)
              .filter(([k, v]) => !HIDDEN_FIELDS.has(k) && v !== '' && v !== null && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0))
              .map(([k, v]) => (
                <div class="kv">
                  <dt>{k}</dt>
                  <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
                </div>
              ))}
          </dl>
        )}
      </Lazy>
    </footer>
  );
}

/** A row not loaded yet. */
export function PlaceholderCard({ index, setSize }: { index: number; setSize: number }) {
  return (
    <article class="step placeholder" aria-posinset={index + 1} aria-setsize={setSize} aria-busy="true" aria-label={`Event ${index + 1}, loading`}>
      <div class="skeleton wide" />
      <div class="skeleton" />
    </article>
  );
}
