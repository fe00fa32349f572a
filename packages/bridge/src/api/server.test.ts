/**
 * The API's routes in-process (no store is reached): every registered route goes through the
 * access layer, is documented in /api/openapi.json with its role, and a route without an access
 * config or a summary cannot be added.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Access, ROLES } from '../auth/index.ts';
import type { Checkpointer } from '../chain/index.ts';
import { createLogger, Metrics } from '../internal/index.ts';
import type { PrivacyFilter } from '../policy/index.ts';
import type { Store } from '../store/index.ts';
import { registerApiRoutes } from './routes/index.ts';
import { ApiServer, DEFAULT_API_CONFIG, type ApiRoute } from './server.ts';

const INGEST = 'acme-ingest-0123456789abcdef';
const ADMIN = 'ops-admin-0123456789abcdef';

function server(uiDir?: string): ApiServer {
  const access = Access.open(join(import.meta.dirname, '..', 'auth', 'testdata', 'valid', 'contract.json'));
  const store = { database: 'otel_audit', mode: 'embedded' } as unknown as Store;
  const status = { ready: () => ({ ok: true, reason: '' }), flush: async () => {}, info: () => ({}), recordAccess: async () => {} };
  const api = new ApiServer({ ...DEFAULT_API_CONFIG, port: 0, uiDir }, store, {} as PrivacyFilter, new Metrics(), status, createLogger('error'), access);
  const { publicKey } = generateKeyPairSync('ed25519');
  const checkpointer = { key: { keyId: 'k', publicKey }, anchors: { sinks: [], sizes: async () => [], read: async () => ({}) }, status: () => ({}) } as unknown as Checkpointer;
  registerApiRoutes(api.context, { chainId: 'main', checkpointers: new Map([['main-low', checkpointer]]) });
  return api;
}

// No built UI there (the default, src/ui/dist, may hold one).
const api = server(join(mkdtempSync(join(tmpdir(), 'no-ui-')), 'missing'));
let app: Awaited<ReturnType<ApiServer['build']>>;
beforeAll(async () => {
  app = await api.build();
});
afterAll(async () => {
  await api.stop();
});

/** A concrete path for a route's URL. */
const pathOf = (url: string) => url.replace(/:(\w+)/g, (_m, p: string) => (p === 'traceId' ? '0'.repeat(32) : 'x')).replace('*', 'app.js');

describe('every route goes through the access layer', () => {
  it('has an access config: a role or public, and says what it allows', () => {
    expect(api.routes.length).toBeGreaterThan(20);
    for (const r of api.routes) {
      expect([...ROLES, 'public'], `${r.method} ${r.url}`).toContain(r.config.access);
      expect(r.config.what, `${r.method} ${r.url}`).toMatch(/\w/);
    }
    // Public: the health checks, the web UI's shell, and signing in (GET, POST, DELETE /api/v1/session).
    expect(api.routes.filter((r) => r.config.access === 'public').map((r) => r.url).sort()).toEqual([
      '/',
      '/api/v1/session',
      '/api/v1/session',
      '/api/v1/session',
      '/assets/*',
      '/cases/:correlationId',
      '/healthz',
      '/readyz',
    ]);
  });

  it('answers 401 (with WWW-Authenticate) without a token, and 403 to a token without the role, before any handler runs', async () => {
    for (const r of api.routes.filter((x) => x.config.access !== 'public')) {
      const none = await app.inject({ method: r.method as 'GET', url: pathOf(r.url), payload: r.method === 'POST' ? '{}' : undefined });
      expect(none.statusCode, `${r.method} ${r.url}`).toBe(401);
      expect(none.headers['www-authenticate']).toBe('Bearer realm="otel-audit"');
      expect(none.json()).toEqual({ error: expect.stringMatching(/a token is required/) });
      const ingest = await app.inject({ method: r.method as 'GET', url: pathOf(r.url), headers: { authorization: `Bearer ${INGEST}` } });
      expect(ingest.statusCode, `${r.method} ${r.url}`).toBe(403);
      expect(ingest.json().error).toContain(`needs the "${r.config.access}" role`);
    }
  });

  it('an unknown path needs a token too; with one it is 404, a known path with another method 405', async () => {
    expect((await app.inject({ method: 'GET', url: '/no/such/endpoint' })).statusCode).toBe(401);
    const missing = await app.inject({ method: 'GET', url: '/no/such/endpoint', headers: { authorization: `Bearer ${ADMIN}` } });
    expect([missing.statusCode, missing.json()]).toEqual([404, { error: 'no such endpoint: /no/such/endpoint' }]);
    const method = await app.inject({ method: 'DELETE', url: '/api/v1/events', headers: { authorization: `Bearer ${ADMIN}` } });
    expect([method.statusCode, method.json().error, method.headers.allow]).toEqual([405, 'method DELETE not allowed on /api/v1/events', 'GET']);
  });

  it('a browser asking for a page of the UI gets the shell without a token; the API does not', async () => {
    const page = await app.inject({ method: 'GET', url: '/search?q=x', headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const api = await app.inject({ method: 'GET', url: '/api/v1/nothing', headers: { accept: 'text/html' } });
    expect(api.statusCode).toBe(401);
  });

  it('bad input is a 400 naming the parameter, checked after access', async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    const cases: Array<[string, RegExp]> = [
      ['/api/v1/events?limit=0', /invalid query parameter "limit": must be >= 1/],
      ['/api/v1/events?format=xml', /invalid query parameter "format": must be one of jsonl, csv, json/],
      ['/api/v1/events?actr=alice', /unknown query parameter "actr"/],
      ['/api/v1/cases/X/events?limit=5000', /invalid query parameter "limit": must be <= 1000/],
      ['/api/v1/events?format=json&limit=1001', /at most 1000 events per page/],
      ['/api/v1/events?format=json&cursor=bm9wZQ', /invalid cursor/],
      ['/api/v1/events?type=chat', /invalid event type "chat"/],
      ['/api/v1/events?risk=extreme', /invalid risk "extreme"/],
      ['/api/v1/events?q=' + 'x'.repeat(201), /invalid query parameter "q": must NOT have more than 200 characters/],
      ['/api/v1/events/not-an-id', /invalid event id "not-an-id"/],
    ];
    for (const [url, message] of cases) {
      const r = await app.inject({ method: 'GET', url, headers: auth });
      expect(r.statusCode, url).toBe(400);
      expect(r.json().error, url).toMatch(message);
    }
    const erase = await app.inject({ method: 'POST', url: '/api/v1/erase', headers: auth, payload: { tenant: 'acme' } });
    expect([erase.statusCode, erase.json().error]).toEqual([400, 'missing body field "subject"']);
    const big = await app.inject({ method: 'POST', url: '/api/v1/erase', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify({ subject: 'x'.repeat(70_000) }) });
    expect([big.statusCode, big.json().error]).toEqual([413, 'request body over 64 KiB']);
    const json = await app.inject({ method: 'POST', url: '/api/v1/verify', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"chain":' });
    expect([json.statusCode, json.json().error]).toEqual([400, 'request body is not valid JSON']);
  });
});

describe('the OpenAPI document', () => {
  it('documents every route with its role and bearer security, and nothing else', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/openapi.json', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.statusCode).toBe(200);
    const doc = r.json();
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths as Record<string, Record<string, { 'x-otel-audit-role': string; security: unknown[]; summary: string }>>).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
    );
    const expected = api.routes.map((x) => `${x.method} ${x.url.replace(/:(\w+)/g, '{$1}').replace('*', '{*}')}`);
    expect(documented.map((d) => d.key).sort()).toEqual(expected.sort());
    for (const { key, op } of documented) {
      const route = api.routes.find((x) => key === `${x.method} ${x.url.replace(/:(\w+)/g, '{$1}').replace('*', '{*}')}`)!;
      expect(op['x-otel-audit-role'], key).toBe(route.config.access);
      expect(op.security, key).toEqual(route.config.access === 'public' ? [] : [{ bearer: [] }]);
      expect(op.summary, key).toMatch(/\w/);
    }
    expect(doc.components.schemas.Event.properties.content_sealed).toBeUndefined();
    expect(doc.components.schemas.Event.properties.has_sealed_content).toEqual({ type: 'boolean' });
  });
});

describe('the web UI', () => {
  it('serves a built UI: index.html for its pages, files under /assets, nothing outside', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ui-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>desk</title>');
    writeFileSync(join(dir, 'assets', 'app-3f9a0c1d.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'not an asset');
    const ui = server(dir);
    const a = await ui.build();
    try {
      for (const url of ['/', '/cases/CASE-1', '/cases/CASE%2F7%20x']) {
        const r = await a.inject({ method: 'GET', url });
        expect([r.statusCode, r.body], url).toEqual([200, '<!doctype html><title>desk</title>']);
        expect(r.headers['cache-control']).toBe('no-cache');
      }
      const js = await a.inject({ method: 'GET', url: '/assets/app-3f9a0c1d.js' });
      expect([js.statusCode, js.headers['content-type'], js.headers['cache-control'], js.body]).toEqual([
        200,
        'text/javascript; charset=utf-8',
        'public, max-age=31536000, immutable',
        'console.log(1)',
      ]);
      for (const url of ['/assets/../secret.txt', '/assets/..%2Fsecret.txt', '/assets/%2e%2e/secret.txt', '/assets/nope.js', '/assets/']) {
        const r = await a.inject({ method: 'GET', url });
        expect(r.statusCode, url).not.toBe(200);
        expect(r.body, url).not.toContain('not an asset');
      }
    } finally {
      await ui.stop();
    }
  });

  it('without a built UI, a page says so', async () => {
    const r = await app.inject({ method: 'GET', url: '/' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('The web UI is not built');
  });
});

describe('route()', () => {
  const base = { method: 'GET', url: '/x', handler: async () => ({}) } as const;
  it('refuses a route without an access config or a summary', () => {
    const a = server();
    expect(() => a.route({ ...base, schema: { summary: 's' } } as unknown as ApiRoute)).toThrow(/has no access config/);
    expect(() => a.route({ ...base, config: { access: 'everyone', what: 'x' }, schema: { summary: 's' } } as unknown as ApiRoute)).toThrow(/has no access config/);
    expect(() => a.route({ ...base, config: { access: 'reader', what: 'x' }, schema: {} } as unknown as ApiRoute)).toThrow(/has no schema.summary/);
  });
});
