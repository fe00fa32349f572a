/**
 * The query API end to end (docs/api.md), with a real bridge: every route documented in
 * /api/openapi.json, and real replies of each checked against the documented schemas; cursor
 * pages that are stable and complete; the filters; one event whole with its links both ways; a
 * case's summary and pages; readable CSV; the web UI's configuration.
 */
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, runCli, sql, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';
import { sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

let bridge: BridgeProcess;
const get = (path: string, init?: RequestInit) => fetch(`${bridge.apiUrl}${path}`, init);
const json = async (path: string) => {
  const r = await get(path);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
};

const T0 = Date.parse('2026-03-01T10:00:00Z');
const PAGES = 'CASE-PAGES';
const N_PAGES = 37;
const PROPOSAL_TRACE = traceId();
const PROPOSAL = spanId();
const APPROVAL_TRACE = traceId();
const APPROVAL = spanId();
const GHOST = { traceId: traceId(), spanId: spanId() };

function seed(): SpanSpec[] {
  const spans: SpanSpec[] = [];
  for (let i = 0; i < N_PAGES; i++) {
    spans.push({
      traceId: traceId(),
      spanId: spanId(),
      name: `step ${i}`,
      // Pairs share a start time: the order must still be total and stable.
      startMs: T0 + Math.floor(i / 2) * 1000,
      attributes: {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': i % 3 === 0 ? 'lookup' : 'refund',
        'audit.correlation_id': PAGES,
        'audit.actor.id': `agent-${i % 4}`,
        'audit.risk': i % 5 === 0 ? 'high' : 'low',
        'audit.target.system': 'crm',
        'audit.target.id': `ACC-${i}`,
        'ticket.note': i === 7 ? 'customer asked about Kangaroo shipping' : 'routine',
      },
    });
  }
  spans.push(
    {
      traceId: PROPOSAL_TRACE,
      spanId: PROPOSAL,
      name: 'execute_tool crm_update',
      startMs: T0 + 100_000,
      attributes: {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'crm_update',
        'audit.correlation_id': 'CASE-LINKS',
        'audit.tool.action': 'update',
        'audit.approval.required': true,
      },
    },
    {
      traceId: APPROVAL_TRACE,
      spanId: APPROVAL,
      name: 'approval approved',
      startMs: T0 + 200_000,
      links: [{ traceId: PROPOSAL_TRACE, spanId: PROPOSAL }, GHOST],
      attributes: {
        'audit.correlation_id': 'CASE-LINKS',
        'audit.approval.decision': 'approved',
        'audit.approval.reviewer.id': 'lead-7',
        'audit.approval.rationale': 'checked, fine',
      },
    },
    {
      traceId: traceId(),
      spanId: spanId(),
      name: 'retrieve kb',
      startMs: T0 + 150_000,
      attributes: {
        'gen_ai.operation.name': 'retrieval',
        'audit.correlation_id': 'CASE-LINKS',
        'gen_ai.retrieval.documents': JSON.stringify([
          { id: 'kb-12', version: '3', sensitivity: 'internal', score: 0.82 },
          { id: 'kb-7', uri: 'https://kb.example/7' },
        ]),
      },
    },
  );
  return spans;
}

beforeAll(async () => {
  bridge = await startBridge({ args: ['--checkpoint-every-events', '5', '--trace-url-template', 'http://jaeger:16686/trace/{trace_id}', '--otlp-grpc', 'off'] });
  await sendSpans(bridge.otlpUrl, seed());
  await flush(bridge.apiUrl);
  const [{ n }] = await sql<{ n: string }>(bridge.apiUrl, 'SELECT count() AS n FROM otel_audit.events');
  expect(Number(n)).toBe(N_PAGES + 3);
});
afterAll(async () => {
  if (bridge && bridge.child.exitCode === null) expect(await bridge.stop()).toBe(0);
});

type Event = Record<string, unknown>;
const idOf = async (where: string) => (await sql<{ event_id: string }>(bridge.apiUrl, `SELECT event_id FROM otel_audit.events WHERE ${where} LIMIT 1`))[0].event_id;

describe('cursor pages', () => {
  it('walk every event once, in the stable order (event_time, chain_id, seq)', async () => {
    const seen: Event[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { events: Event[]; next_cursor: string | null } = await json(`/api/v1/events?format=json&correlation_id=${PAGES}&limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.events.length).toBeLessThanOrEqual(5);
      seen.push(...page.events);
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(Math.ceil(N_PAGES / 5));
    expect(seen).toHaveLength(N_PAGES);
    expect(new Set(seen.map((e) => e.event_id)).size).toBe(N_PAGES);
    const key = (e: Event) => [String(e.event_time), String(e.chain_id), String(e.seq).padStart(20, '0')].join('|');
    expect(seen.map(key)).toEqual(seen.map(key).sort());
    // The same walk gives the same pages.
    const again: { events: Event[] } = await json(`/api/v1/events?format=json&correlation_id=${PAGES}&limit=5`);
    expect(again.events.map((e) => e.event_id)).toEqual(seen.slice(0, 5).map((e) => e.event_id));
    expect(seen.every((e) => !('content_sealed' in e) && typeof e.has_sealed_content === 'boolean')).toBe(true);
  });

  it('a case pages in sort-key order, each event with its integrity', async () => {
    const all: Event[] = [];
    let cursor: string | null = null;
    do {
      const page: { events: Event[]; next_cursor: string | null } = await json(`/api/v1/cases/${PAGES}/events?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      all.push(...page.events);
      cursor = page.next_cursor;
    } while (cursor);
    expect(all).toHaveLength(N_PAGES);
    expect(all.map((e) => e.name).sort()).toEqual(Array.from({ length: N_PAGES }, (_, i) => `step ${i}`).sort());
    const times = all.map((e) => String(e.event_time));
    expect(times).toEqual([...times].sort());
    for (const e of all) expect(['verified', 'unanchored']).toContain((e.integrity as { status: string }).status);
    expect(all.filter((e) => (e.integrity as { status: string }).status === 'verified').length).toBeGreaterThan(0);
  });
});

describe('filters', () => {
  const names = async (query: string) => ((await json(`/api/v1/events?format=json&limit=1000&${query}`)).events as Event[]).map((e) => String(e.name)).sort();
  it.each([
    ['tool=lookup&correlation_id=CASE-PAGES', 13],
    ['risk=high&correlation_id=CASE-PAGES', 8],
    ['risk=high,low&correlation_id=CASE-PAGES', 37],
    ['actor=agent-1', 9],
    ['target=crm/ACC-3', 1],
    ['target=ACC-3', 1],
    ['status=ok&correlation_id=CASE-LINKS', 3],
    ['type=approval', 1],
    ['reviewer=lead-7', 1],
    ['from=2026-03-01T10:00:05Z&to=2026-03-01T10:00:06Z', 2],
  ])('%s', async (query, n) => {
    expect(await names(query)).toHaveLength(n);
  });

  it('q: free text in names, attribute values, rationales and source ids, case-insensitive', async () => {
    expect(await names('q=kangaroo')).toEqual(['step 7']);
    expect(await names('q=CHECKED%2C%20FINE')).toEqual(['approval approved']);
    expect(await names('q=KB-12')).toEqual(['retrieve kb']);
    expect(await names('q=crm_up')).toEqual(['execute_tool crm_update']);
  });
});

describe('one event whole', () => {
  it('an approval links to the proposal it decides, and the proposal to its approvals', async () => {
    const approvalId = await idOf(`span_id = '${APPROVAL}'`);
    const proposalId = await idOf(`span_id = '${PROPOSAL}'`);
    const a = await json(`/api/v1/events/${approvalId}`);
    expect(a.event).toMatchObject({ event_id: approvalId, decision: 'approved', reviewer_id: 'lead-7', has_sealed_content: false });
    expect(a.links.linked).toEqual([expect.objectContaining({ event_id: proposalId, span_id: PROPOSAL, event_type: 'tool_call' })]);
    expect(a.links.unresolved).toEqual([{ trace_id: GHOST.traceId, span_id: GHOST.spanId }]);
    expect(a.links.approvals).toEqual([]);
    const p = await json(`/api/v1/events/${proposalId.toUpperCase()}`);
    expect(p.links.approvals).toEqual([expect.objectContaining({ event_id: approvalId, decision: 'approved', reviewer_id: 'lead-7' })]);
    expect(['verified', 'unanchored']).toContain(p.integrity.status);
    expect((await get(`/api/v1/events/${'0'.repeat(32)}`)).status).toBe(404);
  });

  it('the proof route under /events is the same bundle', async () => {
    const id = await idOf(`span_id = '${PROPOSAL}'`);
    const a = await json(`/api/v1/events/${id}/proof`);
    const b = await json(`/api/v1/proof/${id}`);
    expect(a.format).toBe('otel-audit-inclusion-proof/v1');
    expect(a.event.event_id).toBe(id);
    expect(a.tree_size).toBeGreaterThanOrEqual(b.tree_size - 5);
  });
});

describe('a case', () => {
  it('summary: counts, times, actors, and integrity verified up to a checkpoint', async () => {
    // Every event covered by a checkpoint: prove one of each chain (checkpoints now).
    for (const chain of ['main-low', 'main-medium', 'main-high']) {
      const [row] = await sql<{ event_id: string }>(bridge.apiUrl, `SELECT event_id FROM otel_audit.events WHERE chain_id = '${chain}' ORDER BY seq DESC LIMIT 1`);
      if (row) expect((await get(`/api/v1/proof/${row.event_id}`)).status).toBe(200);
    }
    const s = await json(`/api/v1/cases/${PAGES}`);
    expect(s).toMatchObject({
      correlation_id: PAGES,
      events: N_PAGES,
      by_type: { tool_call: N_PAGES },
      first_time: '2026-03-01 10:00:00.000000000',
      last_time: '2026-03-01 10:00:18.000000000',
      actors: ['agent-0', 'agent-1', 'agent-2', 'agent-3'],
      tenants: ['acme'],
      traces: N_PAGES,
    });
    expect(s.integrity.status).toBe('verified');
    expect(s.integrity.summary).toMatch(/^all 37 events verified up to checkpoint \d+ of chain main-high \(.*\), checkpoint \d+ of chain main-low/);
    expect(s.integrity.counts).toEqual({ verified: 37, unanchored: 0, unchecked: 0, modified: 0, broken: 0 });
    const quick = await json(`/api/v1/cases/${PAGES}?integrity=0`);
    expect(quick.integrity).toBeNull();
    expect((await get('/api/v1/cases/NO-SUCH-CASE')).status).toBe(404);
  });
});

describe('CSV for people', () => {
  it('sources and links as readable text, empty cells for nulls, no ciphertext', async () => {
    const text = await (await get('/api/v1/timeline/CASE-LINKS?format=csv')).text();
    expect(text).toContain('kb-12 v3 (internal) score 0.82; kb-7 https://kb.example/7');
    expect(text).toContain(`${PROPOSAL_TRACE}/${PROPOSAL}; ${GHOST.traceId}/${GHOST.spanId}`);
    expect(text).not.toContain('\\N');
    expect(text.split('\n')[0]).not.toMatch(/content_sealed/);
    const high = await (await get(`/api/v1/events?format=csv&risk=high&correlation_id=${PAGES}&limit=1`)).text();
    const [header, row] = high.trim().split('\n').map((l) => l.split(','));
    expect(row[header.indexOf('Sealed content')]).toMatch(/^(yes|no)$/);
    expect(row[header.indexOf('Risk')]).toBe('high');
  });
});

describe('the web UI', () => {
  it('--trace-url-template must be an http(s) URL with {trace_id}', async () => {
    for (const bad of ['http://jaeger:16686/trace/', 'ftp://x/{trace_id}', 'not a url {trace_id}']) {
      const r = await runCli(['serve', '--data-dir', tempDir(), '--trace-url-template', bad]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toContain(`invalid --trace-url-template "${bad}": expected an http(s) URL with {trace_id}`);
    }
  });

  it('gets the trace link template and who is signed in', async () => {
    expect(await json('/api/v1/ui-config')).toEqual({
      trace_url_template: 'http://jaeger:16686/trace/{trace_id}',
      auth: false,
      principal: 'local',
      roles: ['ingest', 'reader', 'content_reader', 'admin'],
      tenants: '*',
    });
  });
});

describe('the OpenAPI document', () => {
  let doc: Record<string, any>;
  let ajv: Ajv;
  beforeAll(async () => {
    doc = await json('/api/openapi.json');
    ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema(doc, 'openapi');
  });

  /** The documented schema of a reply, by operation, status and content type. */
  function validator(path: string, method: string, status: number, type: string) {
    const ptr = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
    const response = doc.paths[path]?.[method]?.responses?.[String(status)];
    expect(response, `${method} ${path} documents ${status}`).toBeDefined();
    const content = response.content ?? {};
    const key = Object.keys(content).find((k) => type.startsWith(k)) ?? (content['*/*'] ? '*/*' : undefined);
    expect(key, `${method} ${path} ${status} documents ${type}`).toBeDefined();
    const v = ajv.getSchema(`openapi#/paths/${ptr(path)}/${method}/responses/${status}/content/${ptr(key!)}/schema`);
    expect(v, `${method} ${path}: schema compiles`).toBeDefined();
    return v!;
  }

  it('is valid OpenAPI 3.1 in outline, with every response schema compilable', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('otel-audit query API');
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.summary, `${method} ${path}`).toBeTruthy();
        expect(op['x-otel-audit-role'], `${method} ${path}`).toBeTruthy();
        for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
          for (const ct of Object.keys(r.content ?? {})) validator(path, method, Number(status), ct);
        }
      }
    }
  });

  it('real replies of every route match their documented schemas', async () => {
    const eventId = await idOf(`span_id = '${APPROVAL}'`);
    const [{ trace_id }] = await sql<{ trace_id: string }>(bridge.apiUrl, `SELECT trace_id FROM otel_audit.events WHERE event_id = '${eventId}'`);
    const high = await idOf("risk = 'high'");
    const concrete: Record<string, string> = {
      '/api/v1/timeline/{correlationId}': `/api/v1/timeline/${PAGES}?format=json&limit=3`,
      '/api/v1/traces/{traceId}': `/api/v1/traces/${trace_id}?format=json`,
      '/api/v1/events': '/api/v1/events?format=json&limit=3&integrity=1',
      '/api/v1/events/{eventId}': `/api/v1/events/${eventId}`,
      '/api/v1/events/{eventId}/proof': `/api/v1/events/${eventId}/proof`,
      '/api/v1/proof/{eventId}': `/api/v1/proof/${eventId}`,
      '/api/v1/events/{eventId}/content': `/api/v1/events/${high}/content`,
      '/api/v1/cases/{correlationId}': `/api/v1/cases/${PAGES}`,
      '/api/v1/cases/{correlationId}/events': `/api/v1/cases/${PAGES}/events?limit=4`,
      '/api/v1/cases/{correlationId}/evidence': `/api/v1/cases/${PAGES}/evidence`,
      '/cases/{correlationId}': '/cases/CASE-PAGES',
      '/assets/{*}': '/assets/none.js',
    };
    const bodies: Record<string, { body: string; type: string }> = {
      '/api/v1/sql': { body: JSON.stringify({ query: 'SELECT 1 AS one', format: 'json' }), type: 'application/json' },
      '/api/v1/verify': { body: '{}', type: 'application/json' },
      '/api/v1/erase': { body: JSON.stringify({ subject: 'nobody@example.com' }), type: 'application/json' },
    };
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const method of Object.keys(ops)) {
        const url = concrete[path] ?? path;
        expect(url, `a concrete URL for ${path}`).not.toMatch(/\{/);
        const b = bodies[path];
        const r = await get(url, { method: method.toUpperCase(), body: b?.body, headers: b ? { 'content-type': b.type } : undefined });
        const type = (r.headers.get('content-type') ?? '').split(';')[0];
        const text = await r.text();
        const v = validator(path, method, r.status, type);
        let value: unknown = text;
        if (type === 'application/json') value = JSON.parse(text);
        if (type === 'application/x-ndjson') for (const line of text.split('\n').filter(Boolean)) JSON.parse(line);
        expect(v(value), `${method.toUpperCase()} ${url} → ${r.status} ${type}: ${ajv.errorsText(v.errors)}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(24);
  });

  it('jsonl lines are Events as documented', async () => {
    const v = ajv.getSchema('openapi#/components/schemas/Event')!;
    const text = await (await get(`/api/v1/timeline/${PAGES}`)).text();
    const lines = text.split('\n').filter(Boolean);
    // The evidence pack fetched above is itself in the case's timeline, as an access event.
    expect(lines.filter((l) => JSON.parse(l).event_type !== 'access')).toHaveLength(N_PAGES);
    for (const l of lines) expect(v(JSON.parse(l)), ajv.errorsText(v.errors)).toBe(true);
  });
});
