/**
 * Signing in from a browser with a token of the auth file (docs/security.md, "Signing in"), with a
 * real bridge: the token buys a session cookie (HttpOnly, SameSite=Strict, a random id, never the
 * token), GETs need only the cookie, anything else also the CSRF token, sign-out ends it, wrong
 * tokens are 401 and limited per client address, and a token removed from the auth file stops
 * its sessions at the SIGHUP that reloads it.
 */
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, flush, sql, startBridge, tempDir, writeAuthFile, type BridgeProcess, type TestToken } from './helpers/bridge-process.ts';
import { sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

const tok = (name: string) => `${name}-${'0123456789abcdef'.repeat(2)}`;
const TOKENS: TestToken[] = [
  { name: 'ingest-both', token: tok('ingest-both'), roles: ['ingest'], tenants: ['acme', 'globex'] },
  { name: 'reader-acme', token: tok('reader-acme'), roles: ['reader'], tenants: ['acme'] },
  { name: 'temp-reader', token: tok('temp-reader'), roles: ['reader'], tenants: ['acme'] },
  { name: 'admin', token: tok('admin'), roles: ['admin'], tenants: ['*'] },
];
const T = Object.fromEntries(TOKENS.map((t) => [t.name, t.token]));

let work: string;
let authFile: string;
let bridge: BridgeProcess;
/** Every session id the bridge handed out, to check that none reaches its log. */
const issued: string[] = [];

interface Browser {
  /** The Cookie header a browser would send (the session and the CSRF cookie). */
  cookie: string;
  csrf: string;
  setCookies: string[];
  body: Record<string, unknown>;
}

async function signIn(token: string, headers: Record<string, string> = {}): Promise<Browser> {
  const r = await fetch(`${bridge.apiUrl}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ token }) });
  expect(r.status, await r.clone().text()).toBe(200);
  const setCookies = r.headers.getSetCookie();
  const pairs = setCookies.map((c) => c.split(';')[0]);
  const csrf = pairs.find((p) => p.startsWith('otel_audit_csrf='))!.split('=')[1];
  issued.push(pairs.find((p) => p.startsWith('otel_audit_session='))!.split('=')[1]);
  return { cookie: pairs.join('; '), csrf, setCookies, body: (await r.json()) as Record<string, unknown> };
}

const api = (path: string, init: RequestInit = {}) => fetch(`${bridge.apiUrl}${path}`, init);
const withCookie = (b: Browser, init: RequestInit = {}, csrf = false): RequestInit => ({
  ...init,
  headers: { cookie: b.cookie, ...(csrf ? { 'x-csrf-token': b.csrf } : {}), ...(init.headers as Record<string, string>) },
});

/** POST /api/v1/session from another loopback address (Linux routes 127.0.0.0/8 to the bridge on 127.0.0.1). */
function signInFrom(localAddress: string, token: string): Promise<{ status: number; retryAfter?: string }> {
  const u = new URL(`${bridge.apiUrl}/api/v1/session`);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    r.on('error', reject);
    r.end(JSON.stringify({ token }));
  });
}

function tool(name: string, caseId: string): SpanSpec {
  return { traceId: traceId(), spanId: spanId(), name, attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'lookup', 'audit.correlation_id': caseId } };
}

beforeAll(async () => {
  work = tempDir('signin-e2e-');
  authFile = writeAuthFile(work, TOKENS);
  bridge = await startBridge({ args: ['--auth-file', authFile, '--otlp-grpc', 'off'] });
  await sendSpans(bridge.otlpUrl, [tool('acme call', 'CASE-A')], { 'service.name': 'e2e', 'audit.tenant': 'acme' }, T['ingest-both']);
  await sendSpans(bridge.otlpUrl, [tool('globex call', 'CASE-G')], { 'service.name': 'e2e', 'audit.tenant': 'globex' }, T['ingest-both']);
  await flush(bridge.apiUrl, T.admin);
}, 90_000);

afterAll(async () => {
  if (bridge && bridge.child.exitCode === null) expect(await bridge.stop()).toBe(0);
});

describe('signing in with a token', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie holding a random id, never the token', async () => {
    const b = await signIn(T['reader-acme']);
    expect(b.body).toMatchObject({ name: 'reader-acme', roles: ['reader'], tenants: ['acme'], method: 'token', csrf_token: b.csrf, sign_in: ['token'] });
    const [session, csrf] = b.setCookies;
    expect(session).toMatch(/^otel_audit_session=[A-Za-z0-9_-]{43}; Path=\/; SameSite=Strict; HttpOnly$/);
    // Plain HTTP here: no Secure (a browser would drop a Secure cookie from http://).
    expect(csrf).toMatch(/^otel_audit_csrf=[A-Za-z0-9_-]{43}; Path=\/; SameSite=Strict$/);
    for (const c of b.setCookies) {
      expect(c).not.toContain(T['reader-acme']);
      expect(c).not.toContain(Buffer.from(T['reader-acme']).toString('base64url'));
      expect(c).not.toMatch(/Max-Age|Expires|Domain/i);
    }
    // Behind a TLS-terminating proxy: Secure.
    const tls = await signIn(T['reader-acme'], { 'x-forwarded-proto': 'https' });
    for (const c of tls.setCookies) expect(c).toMatch(/; Secure/);
  });

  it('GET works with the cookie alone, in the reader\'s tenants only', async () => {
    const b = await signIn(T['reader-acme']);
    const me = await api('/api/v1/session', withCookie(b));
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ name: 'reader-acme', method: 'token', csrf_token: b.csrf });
    const config = await api('/api/v1/ui-config', withCookie(b));
    expect(await config.json()).toMatchObject({ auth: true, principal: 'reader-acme', tenants: ['acme'] });
    const events = (await (await api('/api/v1/events?format=json', withCookie(b))).json()) as { events: Array<{ tenant: string; name: string }> };
    expect(events.events.map((e) => [e.tenant, e.name])).toEqual([['acme', 'acme call']]);
    expect((await api('/api/v1/cases/CASE-G', withCookie(b))).status).toBe(404);
    expect((await api('/api/v1/events?tenant=globex', withCookie(b))).status).toBe(403);
    // Without the cookie: nothing.
    expect((await api('/api/v1/events')).status).toBe(401);
  });

  it('anything but GET needs X-CSRF-Token: without it 403, with it OK', async () => {
    const b = await signIn(T['reader-acme']);
    const query = { method: 'POST', body: 'SELECT name FROM otel_audit.events ORDER BY name' };
    const without = await api('/api/v1/sql?format=jsonl', withCookie(b, query));
    expect(without.status).toBe(403);
    expect((await without.json()).error).toMatch(/CSRF token in X-CSRF-Token/);
    const wrong = await api('/api/v1/sql?format=jsonl', withCookie(b, { ...query, headers: { 'x-csrf-token': 'A'.repeat(43) } }));
    expect(wrong.status).toBe(403);
    // Another session's CSRF token is not this one's.
    const other = await signIn(T['reader-acme']);
    expect((await api('/api/v1/sql?format=jsonl', withCookie(b, { ...query, headers: { 'x-csrf-token': other.csrf } }))).status).toBe(403);
    const ok = await api('/api/v1/sql?format=jsonl', withCookie(b, query, true));
    expect(ok.status).toBe(200);
    expect((await ok.text()).trim()).toBe('{"name":"acme call"}');
    // Roles still hold: a reader's session may not flush.
    const flushed = await api('/api/v1/flush', withCookie(b, { method: 'POST' }, true));
    expect([flushed.status, (await flushed.json()).error]).toEqual([403, 'token "reader-acme" may not flush the pipeline: it needs the "admin" role']);
    const admin = await signIn(T.admin);
    expect((await api('/api/v1/flush', withCookie(admin, { method: 'POST' }, true))).status).toBe(200);
  });

  it('reads made with a session are recorded under the token\'s name', async () => {
    const b = await signIn(T['reader-acme']);
    expect((await api('/api/v1/events?export=1&correlation_id=CASE-A', withCookie(b))).status).toBe(200);
    await flush(bridge.apiUrl, T.admin);
    const rows = await eventually(async () => {
      const r = await sql<Record<string, string>>(bridge.apiUrl, "SELECT actor_id, tenant, purpose FROM otel_audit.events WHERE event_type = 'access'", T.admin);
      return r.length ? r : undefined;
    });
    expect(rows).toEqual([{ actor_id: 'reader-acme', tenant: 'acme', purpose: 'export' }]);
  });

  it('sign-out (with the CSRF token) ends the session: the cookie gets 401 afterwards', async () => {
    const b = await signIn(T['reader-acme']);
    expect((await api('/api/v1/session', withCookie(b, { method: 'DELETE' }))).status).toBe(403);
    const out = await api('/api/v1/session', withCookie(b, { method: 'DELETE' }, true));
    expect(out.status).toBe(200);
    expect(await out.json()).toEqual({ signed_out: true });
    expect(out.headers.getSetCookie()).toEqual([
      'otel_audit_session=; Path=/; SameSite=Strict; Max-Age=0; HttpOnly',
      'otel_audit_csrf=; Path=/; SameSite=Strict; Max-Age=0',
    ]);
    for (const path of ['/api/v1/events', '/api/v1/ui-config', '/no/such/path']) expect((await api(path, withCookie(b))).status, path).toBe(401);
    const me = await api('/api/v1/session', withCookie(b));
    expect(me.status).toBe(401);
    expect(await me.json()).toEqual({ error: 'the session has ended (signed out, expired, or its token was withdrawn): sign in again', sign_in: ['token'] });
    expect(me.headers.getSetCookie()[0]).toMatch(/^otel_audit_session=; .*Max-Age=0/);
  });

  it('refuses what is not a sign-in: no JSON, another site, an ingest-only token, no token', async () => {
    const post = (body: string, headers: Record<string, string>) => api('/api/v1/session', { method: 'POST', body, headers });
    const form = await post(JSON.stringify({ token: T['reader-acme'] }), { 'content-type': 'text/plain' });
    expect([form.status, form.headers.getSetCookie()]).toEqual([415, []]);
    expect((await post(JSON.stringify({ token: T['reader-acme'] }), { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    const ingest = await post(JSON.stringify({ token: T['ingest-both'] }), { 'content-type': 'application/json' });
    expect([ingest.status, (await ingest.json()).error]).toEqual([403, 'token "ingest-both" only sends OTLP (role ingest): it cannot sign in to read the trail']);
    expect((await post('{}', { 'content-type': 'application/json' })).status).toBe(400);
  });
});

describe('the auth file decides', () => {
  it('a token removed from the file stops its sessions at the SIGHUP that reloads it; others go on', async () => {
    const temp = await signIn(T['temp-reader']);
    const kept = await signIn(T['reader-acme']);
    expect((await api('/api/v1/events', withCookie(temp))).status).toBe(200);
    writeAuthFile(work, TOKENS.filter((t) => t.name !== 'temp-reader'));
    bridge.child.kill('SIGHUP');
    await eventually(async () => (await api('/api/v1/events', withCookie(temp))).status === 401, 10_000, 'the withdrawn token\'s session to end');
    expect((await api('/api/v1/events', withCookie(kept))).status).toBe(200);
    // Put back, the token signs in again, but the old session stays ended.
    writeFileSync(authFile, JSON.stringify({ tokens: TOKENS }));
    bridge.child.kill('SIGHUP');
    await eventually(async () => (await api('/api/v1/info', { headers: { authorization: `Bearer ${T['temp-reader']}` } })).status === 200, 10_000, 'the token back');
    expect((await api('/api/v1/events', withCookie(temp))).status).toBe(401);
  });
});

describe('wrong tokens', () => {
  it('are 401; past 10 failures a minute from one address, 429 with Retry-After, even for a right token; other addresses go on', async () => {
    const wrong = await api('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: tok('nobody') }) });
    expect([wrong.status, wrong.headers.getSetCookie()]).toEqual([401, []]);
    expect((await wrong.json()).error).toBe('the token is not valid on this bridge');
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await signInFrom('127.0.0.2', tok(`guess-${i}`))).status);
    expect(statuses).toEqual(Array(10).fill(401));
    const limited = await signInFrom('127.0.0.2', T['reader-acme']);
    expect(limited.status).toBe(429);
    expect(Number(limited.retryAfter)).toBeGreaterThan(0);
    expect(Number(limited.retryAfter)).toBeLessThanOrEqual(60);
    expect((await signInFrom('127.0.0.3', T['reader-acme'])).status).toBe(200);
    expect((await signInFrom('127.0.0.1', T['reader-acme'])).status).toBe(200);
    // Logged once when the limit is reached, not at every try.
    expect(bridge.log().match(/may not try again for a minute/g)).toHaveLength(1);
  });

  it('no token and no session id ever reaches the log', () => {
    const log = bridge.log();
    expect(log).toMatch(/"msg":"signed in","method":"token","principal":"reader-acme","client":"127.0.0.1"/);
    for (const t of [...TOKENS.map((x) => x.token), tok('nobody')]) expect(log).not.toContain(t);
    expect(issued.length).toBeGreaterThan(8);
    for (const id of issued) expect(log).not.toContain(id);
  });
});
