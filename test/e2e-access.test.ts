/**
 * Access control on the query API and the CLI (DESIGN 3.4), with a real bridge and an auth
 * file: every endpoint but the health checks needs a token with the route's role; an ingest
 * token's tenant is the stored tenant; a reader limited to a tenant never sees another's rows
 * in any listing, export, proof or query; exports are recorded in the trail; SIGHUP reloads the
 * tokens; without an auth file the bridge refuses to listen beyond loopback.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, flush, runCli, sql, startBridge, tempDir, writeAuthFile, type BridgeProcess, type TestToken } from './helpers/bridge-process.ts';
import { bearer, encodeTraces, postOtlp, sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

const tok = (name: string) => `${name}-${'0123456789abcdef'.repeat(2)}`;
const TOKENS: TestToken[] = [
  { name: 'ingest-acme', token: tok('ingest-acme'), roles: ['ingest'], tenants: ['acme'] },
  { name: 'ingest-both', token: tok('ingest-both'), roles: ['ingest'], tenants: ['acme', 'globex'] },
  { name: 'reader-acme', token: tok('reader-acme'), roles: ['reader'], tenants: ['acme'] },
  { name: 'admin', token: tok('admin'), roles: ['admin'], tenants: ['*'] },
];
const T = Object.fromEntries(TOKENS.map((t) => [t.name, t.token]));

let work: string;
let authFile: string;
let bridge: BridgeProcess;
const ids: Record<string, { event_id: string; trace_id: string }> = {};

const api = (path: string, token?: string, init: RequestInit = {}) =>
  fetch(`${bridge.apiUrl}${path}`, { ...init, headers: { ...bearer(token), ...(init.headers as Record<string, string>) } });
const lines = async (r: Response) => (await r.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);

function tool(name: string, caseId: string, extra: Record<string, string> = {}): SpanSpec {
  return {
    traceId: traceId(),
    spanId: spanId(),
    name,
    attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'lookup', 'audit.correlation_id': caseId, 'audit.actor.id': 'bot', ...extra },
  };
}
const NO_TENANT = { 'service.name': 'e2e-app' };

beforeAll(async () => {
  work = tempDir('access-e2e-');
  authFile = writeAuthFile(work, TOKENS);
  bridge = await startBridge({ args: ['--auth-file', authFile, '--checkpoint-every-events', '1'] });
  // acme by its only tenant; globex chosen by audit.tenant among a two-tenant token's tenants.
  await sendSpans(bridge.otlpUrl, [tool('acme call', 'CASE-A')], NO_TENANT, T['ingest-acme']);
  await sendSpans(bridge.otlpUrl, [tool('globex call', 'CASE-G')], { 'service.name': 'e2e-app', 'audit.tenant': 'globex' }, T['ingest-both']);
  await sendSpans(bridge.otlpUrl, [tool('both default', 'CASE-A')], NO_TENANT, T['ingest-both']);
  await flush(bridge.apiUrl, T.admin);
  for (const r of await sql<{ name: string; event_id: string; trace_id: string }>(bridge.apiUrl, 'SELECT name, event_id, trace_id FROM otel_audit.events', T.admin)) {
    ids[r.name] = r;
  }
}, 90_000);

afterAll(async () => {
  if (bridge && bridge.child.exitCode === null) expect(await bridge.stop()).toBe(0);
});

describe('tokens and roles', () => {
  const ROUTES: Array<[method: string, path: () => string]> = [
    ['GET', () => '/metrics'],
    ['GET', () => '/api/v1/info'],
    ['GET', () => '/api/v1/timeline/CASE-A'],
    ['GET', () => `/api/v1/traces/${ids['acme call'].trace_id}`],
    ['GET', () => '/api/v1/events'],
    ['POST', () => '/api/v1/sql'],
    ['POST', () => '/api/v1/flush'],
    ['POST', () => '/api/v1/verify'],
    ['GET', () => `/api/v1/proof/${ids['acme call'].event_id}`],
    ['GET', () => '/api/v1/public-key'],
    ['GET', () => '/api/v1/checkpoints/latest'],
    ['GET', () => `/api/v1/events/${ids['acme call'].event_id}/content`],
    ['POST', () => '/api/v1/erase'],
    ['GET', () => `/api/v1/events/${ids['acme call'].event_id}`],
    ['GET', () => `/api/v1/events/${ids['acme call'].event_id}/proof`],
    ['GET', () => '/api/v1/events?format=json'],
    ['GET', () => '/api/v1/cases/CASE-A'],
    ['GET', () => '/api/v1/cases/CASE-A/events'],
    ['GET', () => '/api/v1/ui-config'],
    ['GET', () => '/api/openapi.json'],
    ['GET', () => '/no/such/endpoint'],
  ];

  it('health checks are open; every other endpoint answers 401 without a valid token', async () => {
    expect((await api('/healthz')).status).toBe(200);
    expect((await api('/readyz')).status).toBe(200);
    // The web UI's shell holds no data: public. What it shows comes from /api, with a token.
    for (const page of ['/', '/cases/CASE-A']) {
      const r = await api(page, undefined, { headers: { accept: 'text/html' } });
      expect(r.status, page).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await r.text()).not.toContain('CASE-A');
    }
    for (const [method, path] of ROUTES) {
      for (const token of [undefined, 'not-a-token-of-this-bridge']) {
        const r = await api(path(), token, { method, body: method === 'POST' ? 'SELECT 1' : undefined });
        expect(r.status, `${method} ${path()} with ${token ?? 'no token'}`).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer realm="otel-audit"');
      }
    }
  });

  it('a token without the role gets 403 naming the role', async () => {
    const cases: Array<[string, string, string, RegExp]> = [
      ['ingest-acme', 'GET', '/api/v1/events', /needs the "reader" role/],
      ['ingest-acme', 'POST', '/api/v1/sql', /needs the "reader" role/],
      ['reader-acme', 'POST', '/api/v1/flush', /needs the "admin" role/],
      ['reader-acme', 'POST', '/api/v1/erase', /needs the "admin" role/],
      ['reader-acme', 'GET', `/api/v1/events/${ids['acme call'].event_id}/content`, /needs the "content_reader" role/],
    ];
    for (const [name, method, path, msg] of cases) {
      const r = await api(path, T[name], { method, body: method === 'POST' ? '{}' : undefined });
      expect(r.status, `${name} ${method} ${path}`).toBe(403);
      expect((await r.json()).error).toMatch(msg);
    }
  });

  it('tokens never reach the log', () => {
    for (const t of TOKENS) expect(bridge.log()).not.toContain(t.token);
  });
});

describe('tenants bound to ingest credentials', () => {
  it('stores the token tenant and its name as ingest_principal', async () => {
    const rows = await sql<Record<string, string>>(bridge.apiUrl, 'SELECT name, tenant, ingest_principal FROM otel_audit.events ORDER BY name', T.admin);
    expect(rows).toEqual([
      { name: 'acme call', tenant: 'acme', ingest_principal: 'ingest-acme' },
      { name: 'both default', tenant: 'acme', ingest_principal: 'ingest-both' },
      { name: 'globex call', tenant: 'globex', ingest_principal: 'ingest-both' },
    ]);
  });

  it('a header naming another tenant is refused (403) and a span naming one is rejected; nothing stored', async () => {
    const body = encodeTraces([tool('smuggled', 'CASE-X')], 'json', NO_TENANT);
    const h = await postOtlp(bridge.otlpUrl, 'traces', body, { headers: { ...bearer(T['ingest-acme']), 'x-otel-audit-tenant': 'globex' } });
    expect(h.status).toBe(403);
    const s = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces([tool('smuggled', 'CASE-X')], 'json', { 'audit.tenant': 'globex' }), { headers: bearer(T['ingest-acme']) });
    expect(s.status).toBe(200);
    expect(JSON.parse(s.body.toString())).toMatchObject({ partialSuccess: { rejectedSpans: '1' } });
    expect(JSON.parse(s.body.toString()).partialSuccess.errorMessage).toContain('audit.tenant "globex" is not a tenant of this ingest token');
    const r = await postOtlp(bridge.otlpUrl, 'traces', body, { headers: bearer(T['reader-acme']) });
    expect(r.status).toBe(403);
    await flush(bridge.apiUrl, T.admin);
    expect(await sql(bridge.apiUrl, "SELECT name FROM otel_audit.events WHERE name = 'smuggled'", T.admin)).toEqual([]);
  });
});

describe('a reader sees its tenants only', () => {
  const reader = T['reader-acme'];

  it('in timelines, traces, searches and exports', async () => {
    expect(await lines(await api('/api/v1/timeline/CASE-G', reader))).toEqual([]);
    expect(await lines(await api(`/api/v1/traces/${ids['globex call'].trace_id}`, reader))).toEqual([]);
    const all = await lines(await api('/api/v1/events?format=jsonl', reader));
    expect(all.map((e) => e.tenant).sort()).toEqual(['acme', 'acme']);
    const forbidden = await api('/api/v1/events?tenant=globex', reader);
    expect(forbidden.status).toBe(403);
    const exported = await runCli(['export', '--format', 'jsonl', '--api-url', bridge.apiUrl], { OTEL_AUDIT_TOKEN: reader });
    expect(exported.code).toBe(0);
    expect(exported.stdout).not.toContain('globex');
    expect(exported.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('in event details, cases, pages and free-text search: another tenant’s event or case is not found', async () => {
    const own = await api(`/api/v1/events/${ids['acme call'].event_id}`, reader);
    expect(own.status).toBe(200);
    expect((await own.json()).event.tenant).toBe('acme');
    for (const path of [`/api/v1/events/${ids['globex call'].event_id}`, `/api/v1/events/${ids['globex call'].event_id}/proof`, '/api/v1/cases/CASE-G', '/api/v1/cases/CASE-G/events']) {
      const r = await api(path, reader);
      expect(r.status, path).toBe(404);
      expect(await r.text(), path).not.toContain('globex');
    }
    expect((await api('/api/v1/cases/CASE-G', T.admin)).status).toBe(200);
    const summary = await (await api('/api/v1/cases/CASE-A', reader)).json();
    expect(summary).toMatchObject({ correlation_id: 'CASE-A', tenants: ['acme'] });
    const pageRows = (await (await api('/api/v1/events?format=json&limit=1000', reader)).json()).events as Array<Record<string, string>>;
    expect(pageRows.length).toBeGreaterThanOrEqual(2);
    expect(pageRows.every((e) => e.tenant === 'acme')).toBe(true);
    const text = (await (await api('/api/v1/events?format=json&q=call', reader)).json()).events as Array<Record<string, string>>;
    expect(text.map((e) => e.name).sort()).toEqual(['acme call']);
    const csv = await (await api('/api/v1/events?format=csv', reader)).text();
    expect(csv).not.toContain('globex');
    expect((await api('/api/v1/events?format=json&tenant=globex', reader)).status).toBe(403);
  });

  it('in proofs: another tenant’s event is not found', async () => {
    expect((await api(`/api/v1/proof/${ids['acme call'].event_id}`, reader)).status).toBe(200);
    const other = await api(`/api/v1/proof/${ids['globex call'].event_id}`, reader);
    expect(other.status).toBe(404);
  });

  it('in sql, by the engine, whatever the query says', async () => {
    const rows = await sql<{ tenant: string }>(bridge.apiUrl, 'SELECT DISTINCT tenant FROM otel_audit.events', reader);
    expect(rows).toEqual([{ tenant: 'acme' }]);
    const viewRows = await sql<{ n: string }>(bridge.apiUrl, "SELECT count() AS n FROM otel_audit.tool_calls WHERE correlation_id = 'CASE-G'", reader);
    expect(viewRows).toEqual([{ n: '0' }]);
  });

  it('the CLI sends --token or OTEL_AUDIT_TOKEN, and says so when it is missing', async () => {
    const withFlag = await runCli(['timeline', 'CASE-A', '--format', 'jsonl', '--api-url', bridge.apiUrl, '--token', reader]);
    expect(withFlag.code).toBe(0);
    expect(withFlag.stdout.trim().split('\n')).toHaveLength(2);
    const without = await runCli(['timeline', 'CASE-A', '--format', 'jsonl', '--api-url', bridge.apiUrl], { OTEL_AUDIT_TOKEN: '' });
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('pass --token or set OTEL_AUDIT_TOKEN');
  });
});

describe('reads are part of the trail', () => {
  it('an export is stored as an access event by the reader, per tenant it read', async () => {
    await flush(bridge.apiUrl, T.admin);
    const access = await eventually(async () => {
      const rows = await sql<Record<string, string>>(
        bridge.apiUrl,
        "SELECT actor_id, tenant, purpose, target_id, ingest_principal FROM otel_audit.events WHERE event_type = 'access'",
        T.admin,
      );
      return rows.length ? rows : undefined;
    });
    expect(access).toEqual([{ actor_id: 'reader-acme', tenant: 'acme', purpose: 'export', target_id: 'export:limit=10000000', ingest_principal: 'reader-acme' }]);
  });
});

describe('the auth file', () => {
  it('is reloaded on SIGHUP; a bad one leaves the tokens in force', async () => {
    const late = tok('late-reader');
    writeFileSync(authFile, '{"tokens": [');
    bridge.child.kill('SIGHUP');
    await eventually(async () => bridge.log().includes('auth file not reloaded'), 10_000, 'the failed reload to be logged');
    expect((await api('/api/v1/info', T.admin)).status).toBe(200);
    writeAuthFile(work, [...TOKENS, { name: 'late', token: late, roles: ['reader'], tenants: ['acme'] }]);
    bridge.child.kill('SIGHUP');
    await eventually(async () => (await api('/api/v1/info', late)).status === 200, 10_000, 'the new token to be accepted');
  });

  it('without one, a non-loopback listen address is refused at start (exit 2, naming the flag)', async () => {
    for (const flag of ['--api', '--otlp-http', '--otlp-grpc']) {
      const r = await runCli(['serve', '--data-dir', join(work, 'never'), flag, '0.0.0.0:0']);
      expect(r.code, flag).toBe(2);
      expect(r.stderr).toContain(`${flag} 0.0.0.0 would accept connections from other hosts, and this bridge has no --auth-file`);
    }
  });

  it('a bad auth file is refused at start (exit 2) with what is wrong', async () => {
    const bad = join(work, 'bad-auth.json');
    writeFileSync(bad, JSON.stringify({ tokens: [{ name: 'x', token: 'short', roles: ['ingest'], tenants: ['*'] }] }));
    const r = await runCli(['serve', '--data-dir', join(work, 'never'), '--auth-file', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"token" must be at least 16 characters');
  });
});
