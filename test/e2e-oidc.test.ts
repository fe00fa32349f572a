/**
 * Signing in with OpenID Connect (docs/security.md, "Signing in"), end to end: a real OpenID
 * provider (the certified `oidc-provider` package) on loopback, with a confidential client for
 * the bridge and test accounts whose claims carry otel-audit roles and tenants, and a real bridge
 * with `--oidc-*`. The test is the browser: plain fetch, following redirects by hand and keeping
 * each origin's cookies. The provider's login interaction signs the chosen account in at once
 * (no form); nothing of the protocol is mocked.
 *
 * Failures are made the way they happen: a state that is not the browser's own, a callback
 * replayed, an account without roles, a refusal at the provider, and ID tokens that the provider's
 * token endpoint hands out for another audience or issuer, expired, or signed with a key not in
 * its JWKS (a post-middleware of the provider re-signs them, with the provider's own key where the
 * signature is meant to be valid).
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, runCli, sql, startBridge, tempDir, writeAuthFile, type BridgeProcess, type TestToken } from './helpers/bridge-process.ts';
import { sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

const tok = (name: string) => `${name}-${'0123456789abcdef'.repeat(2)}`;
const TOKENS: TestToken[] = [
  { name: 'ingest-both', token: tok('ingest-both'), roles: ['ingest'], tenants: ['acme', 'globex'] },
  { name: 'ops', token: tok('ops'), roles: ['admin'], tenants: ['*'] },
];
const T = Object.fromEntries(TOKENS.map((t) => [t.name, t.token]));
const CLIENT_ID = 'otel-audit';
const CLIENT_SECRET = 'bridge-client-secret-0123456789abcdef';

/** The provider's accounts and their claims. */
const ACCOUNTS: Record<string, Record<string, unknown>> = {
  alice: { preferred_username: 'alice', name: 'Alice Reviewer', otel_audit_roles: ['reader', 'content_reader'], otel_audit_tenants: ['acme'] },
  gina: { preferred_username: 'gina', otel_audit_roles: ['reader'], otel_audit_tenants: ['globex'] },
  olga: { preferred_username: 'olga', otel_audit_roles: 'admin', otel_audit_tenants: '*' },
  bob: { preferred_username: 'bob', otel_audit_tenants: ['acme'] },
};

// --- the provider ----------------------------------------------------------------------------

const providerKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = 'test-key-1';

/** Who the next login interaction signs in (null: the person refuses). */
let nextAccount: string | null = 'alice';
/** Rewrites the ID token the token endpoint answers with, when set. */
let tamper: ((idToken: string) => string) | null = null;

let provider: InstanceType<typeof Provider>;
let providerServer: Server;
let issuer: string;

function b64json(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;
}

/** The JWT with its claims changed, signed again with `key` (RS256, the same key id). */
function resign(jwt: string, change: (claims: Record<string, unknown>) => void, key: KeyObject = providerKey.privateKey): string {
  const [h, p] = jwt.split('.');
  const claims = b64json(p);
  change(claims);
  const input = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

async function startProvider(redirectUris: string[]): Promise<void> {
  providerServer = createServer();
  await new Promise<void>((resolve) => providerServer.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(providerServer.address() as AddressInfo).port}`;
  provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: redirectUris, grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }],
    jwks: { keys: [{ ...providerKey.privateKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' }] },
    claims: { openid: ['sub'], profile: ['preferred_username', 'name', 'otel_audit_roles', 'otel_audit_tenants'] },
    findAccount: async (_ctx: unknown, id: string) => (ACCOUNTS[id] ? { accountId: id, claims: async () => ({ sub: id, ...ACCOUNTS[id] }) } : undefined),
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['provider-cookie-key-0123456789'] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
  });
  // A post-middleware: the token endpoint's answer, before it is sent.
  provider.use(async (ctx: { body?: unknown; oidc?: { route?: string } }, next: () => Promise<void>) => {
    await next();
    const body = ctx.body as { id_token?: string } | undefined;
    if (tamper && ctx.oidc?.route === 'token' && body?.id_token) body.id_token = tamper(body.id_token);
  });
  const callback = provider.callback();
  providerServer.on('request', (req, res) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res);
    // The login interaction: signs in `nextAccount` at once, and consents to what was asked.
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      if (nextAccount === null) {
        return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the person refused' }, { mergeWithLastSubmission: false });
      }
      const grant = new provider.Grant({ accountId: nextAccount, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: nextAccount }, consent: { grantId } }, { mergeWithLastSubmission: false });
    })().catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
}

// --- the browser -----------------------------------------------------------------------------

/** A browser's cookies, by origin (the bridge and the provider share a host but not a port here). */
class Browser {
  private readonly jar = new Map<string, Map<string, { value: string; path: string }>>();

  cookieHeader(url: URL): string {
    const cookies = this.jar.get(url.origin) ?? new Map();
    return [...cookies].filter(([, c]) => url.pathname.startsWith(c.path)).map(([n, c]) => `${n}=${c.value}`).join('; ');
  }

  cookie(origin: string, name: string): string | undefined {
    return this.jar.get(origin)?.get(name)?.value;
  }

  /** One request, no redirect followed; cookies sent and kept. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(u);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    for (const set of res.headers.getSetCookie()) {
      const [pair, ...attrs] = set.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
      const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) ?? '/';
      const cookies = this.jar.get(u.origin) ?? new Map();
      this.jar.set(u.origin, cookies);
      if (attrs.some((a) => /^max-age=0$/i.test(a)) || /expires=Thu, 01 Jan 1970/i.test(set)) cookies.delete(name);
      else cookies.set(name, { value, path });
    }
    return res;
  }

  /** Follows redirects from `url` until a non-redirect, or until `stop` says so of the next URL. */
  async follow(url: string, stop: (next: URL) => boolean = () => false): Promise<{ res: Response; url: URL; stoppedAt?: URL }> {
    let current = new URL(url);
    for (let i = 0; i < 20; i++) {
      const res = await this.fetch(current.href);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { res, url: current };
      await res.arrayBuffer();
      const next = new URL(location, current);
      if (stop(next)) return { res, url: current, stoppedAt: next };
      current = next;
    }
    throw new Error('too many redirects');
  }
}

// --- the bridge ------------------------------------------------------------------------------

let work: string;
let bridge: BridgeProcess;
let oidcOnly: BridgeProcess | null = null;
let oidcArgs: string[];
/** The second bridge's port, held from the provider's start until that bridge starts. */
let onlyPort: Awaited<ReturnType<typeof reservePort>> | undefined;

/**
 * A loopback port held until `release`: the provider must know the callback URLs before the
 * bridges listen, and a port freed long before its bridge starts can be taken by another test
 * (EADDRINUSE seen in a full run for the second bridge, started minutes later).
 */
async function reservePort(): Promise<{ port: number; release: () => Promise<void> }> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  return { port, release: () => new Promise<void>((resolve) => s.close(() => resolve())) };
}

const isCallback = (b: BridgeProcess) => (u: URL) => u.href.startsWith(`${b.apiUrl}/api/v1/oidc/callback`);

/** Signs `account` in to bridge `b` through the provider: returns the browser and the bridge's answer to the callback. */
async function signIn(account: string | null, b: BridgeProcess = bridge, returnTo?: string): Promise<{ browser: Browser; callback: Response }> {
  nextAccount = account;
  const browser = new Browser();
  const start = await browser.fetch(`${b.apiUrl}/api/v1/oidc/login${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`);
  expect(start.status).toBe(302);
  const { stoppedAt } = await browser.follow(start.headers.get('location')!, isCallback(b));
  expect(stoppedAt, 'the provider redirects back to the bridge').toBeDefined();
  const callback = await browser.fetch(stoppedAt!.href);
  return { browser, callback };
}

const session = async (browser: Browser, b: BridgeProcess = bridge) => {
  const r = await browser.fetch(`${b.apiUrl}/api/v1/session`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

function tool(name: string, caseId: string): SpanSpec {
  return { traceId: traceId(), spanId: spanId(), name, attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'lookup', 'audit.correlation_id': caseId } };
}

beforeAll(async () => {
  work = tempDir('oidc-e2e-');
  const [main, only] = [await reservePort(), await reservePort()];
  onlyPort = only;
  await startProvider([`http://127.0.0.1:${main.port}/api/v1/oidc/callback`, `http://127.0.0.1:${only.port}/api/v1/oidc/callback`]);
  const secretFile = join(work, 'client-secret');
  writeFileSync(secretFile, `${CLIENT_SECRET}\n`, { mode: 0o600 });
  oidcArgs = ['--oidc-issuer', issuer, '--oidc-client-id', CLIENT_ID, '--oidc-client-secret-file', secretFile, '--otlp-grpc', 'off'];
  await main.release();
  bridge = await startBridge({ args: ['--api', `127.0.0.1:${main.port}`, '--auth-file', writeAuthFile(work, TOKENS), ...oidcArgs] });
  await sendSpans(bridge.otlpUrl, [tool('acme call', 'CASE-A')], { 'service.name': 'e2e', 'audit.tenant': 'acme' }, T['ingest-both']);
  await sendSpans(bridge.otlpUrl, [tool('globex call', 'CASE-G')], { 'service.name': 'e2e', 'audit.tenant': 'globex' }, T['ingest-both']);
  await flush(bridge.apiUrl, T.ops);
}, 120_000);

afterAll(async () => {
  await onlyPort?.release().catch(() => {});
  for (const b of [bridge, oidcOnly]) if (b && b.child.exitCode === null) expect(await b.stop()).toBe(0);
  await new Promise((resolve) => providerServer?.close(resolve));
});

describe('signing in with OpenID Connect', () => {
  it('login redirects to the provider with the code flow, PKCE S256, state and nonce', async () => {
    const browser = new Browser();
    const r = await browser.fetch(`${bridge.apiUrl}/api/v1/oidc/login`);
    expect(r.status).toBe(302);
    const to = new URL(r.headers.get('location')!);
    expect(`${to.origin}${to.pathname}`).toBe(`${issuer}/auth`);
    const q = Object.fromEntries(to.searchParams);
    expect(q).toMatchObject({ client_id: CLIENT_ID, response_type: 'code', redirect_uri: `${bridge.apiUrl}/api/v1/oidc/callback`, code_challenge_method: 'S256', scope: 'openid profile email' });
    expect(q.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const txn = r.headers.getSetCookie()[0];
    expect(txn).toMatch(/^otel_audit_oidc=[A-Za-z0-9_-]{43}; Path=\/api\/v1\/oidc\/; HttpOnly; SameSite=Lax; Max-Age=600$/);
    expect(txn).not.toContain(q.state);
  });

  it('the callback opens a session for oidc:<user> with the roles and tenants of the claims, and goes to the UI', async () => {
    const { browser, callback } = await signIn('alice', bridge, '/cases/CASE-A');
    expect(callback.status).toBe(303);
    expect(callback.headers.get('location')).toBe('/cases/CASE-A');
    const cookies = callback.headers.getSetCookie();
    expect(cookies).toContainEqual(expect.stringMatching(/^otel_audit_oidc=; Path=\/api\/v1\/oidc\/; HttpOnly; SameSite=Lax; Max-Age=0$/));
    expect(cookies).toContainEqual(expect.stringMatching(/^otel_audit_session=[A-Za-z0-9_-]{43}; Path=\/; SameSite=Strict; HttpOnly$/));
    expect(cookies).toContainEqual(expect.stringMatching(/^otel_audit_csrf=[A-Za-z0-9_-]{43}; Path=\/; SameSite=Strict$/));
    const me = await session(browser);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ name: 'oidc:alice', roles: ['reader', 'content_reader'], tenants: ['acme'], method: 'oidc', sign_in: ['token', 'oidc'] });
    expect(me.body.csrf_token).toBe(browser.cookie(bridge.apiUrl, 'otel_audit_csrf'));
    expect(bridge.log()).toMatch(/"msg":"signed in","method":"oidc","principal":"oidc:alice","issuer":"http:\/\/127\.0\.0\.1:\d+","subject":"alice"/);
  });

  it('a tenant-A person reads tenant A only: listings, cases, sql', async () => {
    const { browser } = await signIn('alice');
    const events = (await (await browser.fetch(`${bridge.apiUrl}/api/v1/events?format=json`)).json()) as { events: Array<{ tenant: string }> };
    expect(events.events.map((e) => e.tenant)).toEqual(['acme']);
    expect((await browser.fetch(`${bridge.apiUrl}/api/v1/cases/CASE-A`)).status).toBe(200);
    expect((await browser.fetch(`${bridge.apiUrl}/api/v1/cases/CASE-G`)).status).toBe(404);
    expect((await browser.fetch(`${bridge.apiUrl}/api/v1/events?tenant=globex`)).status).toBe(403);
    const csrf = browser.cookie(bridge.apiUrl, 'otel_audit_csrf')!;
    const rows = await browser.fetch(`${bridge.apiUrl}/api/v1/sql?format=jsonl`, { method: 'POST', body: 'SELECT DISTINCT tenant FROM otel_audit.events', headers: { 'x-csrf-token': csrf } });
    expect((await rows.text()).trim()).toBe('{"tenant":"acme"}');
    // And the other way round.
    const { browser: g } = await signIn('gina');
    expect((await g.fetch(`${bridge.apiUrl}/api/v1/cases/CASE-A`)).status).toBe(404);
    expect((await g.fetch(`${bridge.apiUrl}/api/v1/cases/CASE-G`)).status).toBe(200);
    // A reader may not do an admin's work; "*" as tenants and admin as one string work.
    expect((await g.fetch(`${bridge.apiUrl}/api/v1/flush`, { method: 'POST', headers: { 'x-csrf-token': g.cookie(bridge.apiUrl, 'otel_audit_csrf')! } })).status).toBe(403);
    const { browser: o } = await signIn('olga');
    expect((await session(o)).body).toMatchObject({ name: 'oidc:olga', roles: ['admin'], tenants: '*' });
    expect((await o.fetch(`${bridge.apiUrl}/api/v1/flush`, { method: 'POST', headers: { 'x-csrf-token': o.cookie(bridge.apiUrl, 'otel_audit_csrf')! } })).status).toBe(200);
  });

  it('a session\'s reads go into the trail under oidc:<user>', async () => {
    const { browser } = await signIn('alice');
    expect((await browser.fetch(`${bridge.apiUrl}/api/v1/events?export=1&correlation_id=CASE-A`)).status).toBe(200);
    await flush(bridge.apiUrl, T.ops);
    const rows = await sql<Record<string, string>>(bridge.apiUrl, "SELECT actor_id, tenant, purpose FROM otel_audit.events WHERE event_type = 'access' AND actor_id = 'oidc:alice'", T.ops);
    expect(rows).toEqual([{ actor_id: 'oidc:alice', tenant: 'acme', purpose: 'export' }]);
  });

  it('sign-out ends the session', async () => {
    const { browser } = await signIn('alice');
    const out = await browser.fetch(`${bridge.apiUrl}/api/v1/session`, { method: 'DELETE', headers: { 'x-csrf-token': browser.cookie(bridge.apiUrl, 'otel_audit_csrf')! } });
    expect(out.status).toBe(200);
    expect((await session(browser)).status).toBe(401);
    expect((await browser.fetch(`${bridge.apiUrl}/api/v1/events`)).status).toBe(401);
  });

  it('the auth file\'s tokens keep working beside OIDC', async () => {
    expect((await fetch(`${bridge.apiUrl}/api/v1/info`, { headers: { authorization: `Bearer ${T.ops}` } })).status).toBe(200);
    expect((await fetch(`${bridge.apiUrl}/api/v1/info`)).status).toBe(401);
  });
});

describe('refused sign-ins', () => {
  const html = async (r: Response) => {
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
    return r.text();
  };

  it('a state that is not the browser\'s own: 400; a callback without a sign-in of this browser: 400', async () => {
    nextAccount = 'alice';
    const browser = new Browser();
    const start = await browser.fetch(`${bridge.apiUrl}/api/v1/oidc/login`);
    const { stoppedAt } = await browser.follow(start.headers.get('location')!, isCallback(bridge));
    const forged = new URL(stoppedAt!);
    forged.searchParams.set('state', 'not-the-state-this-browser-sent');
    const bad = await browser.fetch(forged.href);
    expect(bad.status).toBe(400);
    expect(await html(bad)).toContain('state mismatch');
    expect(bad.headers.getSetCookie().some((c) => c.startsWith('otel_audit_session='))).toBe(false);
    // The transaction is spent: even the right answer is refused now.
    expect((await browser.fetch(stoppedAt!.href)).status).toBe(400);
    // A callback link made in another browser (an attacker's) finds no sign-in in this one.
    nextAccount = 'alice';
    const attacker = new Browser();
    const s2 = await attacker.fetch(`${bridge.apiUrl}/api/v1/oidc/login`);
    const { stoppedAt: link } = await attacker.follow(s2.headers.get('location')!, isCallback(bridge));
    const r = await new Browser().fetch(link!.href);
    expect(r.status).toBe(400);
    expect(await html(r)).toContain('No sign-in was started in this browser');
  });

  it('a callback replayed after the sign-in: 400', async () => {
    nextAccount = 'alice';
    const browser = new Browser();
    const start = await browser.fetch(`${bridge.apiUrl}/api/v1/oidc/login`);
    const { stoppedAt } = await browser.follow(start.headers.get('location')!, isCallback(bridge));
    // The transaction cookie kept aside, as a replaying attacker would.
    const txn = browser.cookie(bridge.apiUrl, 'otel_audit_oidc')!;
    expect((await browser.fetch(stoppedAt!.href)).status).toBe(303);
    const replay = await fetch(stoppedAt!, { headers: { cookie: `otel_audit_oidc=${txn}` }, redirect: 'manual' });
    expect(replay.status).toBe(400);
  });

  const forgeries: Array<[string, (jwt: string) => string, string]> = [
    ['for another audience', (jwt) => resign(jwt, (c) => (c.aud = 'another-client')), 'unexpected JWT &quot;aud&quot; (audience) claim value'],
    ['from another issuer', (jwt) => resign(jwt, (c) => (c.iss = 'https://evil.example.com')), 'unexpected JWT &quot;iss&quot; (issuer) claim value'],
    ['expired', (jwt) => resign(jwt, (c) => ((c.exp = Math.floor(Date.now() / 1000) - 3600), (c.iat = (c.exp as number) - 600))), 'unexpected JWT &quot;exp&quot; (expiration time) claim value'],
    ['with another nonce', (jwt) => resign(jwt, (c) => (c.nonce = 'not-the-nonce')), 'unexpected ID Token &quot;nonce&quot; claim value'],
    ['signed with a key not in the provider\'s JWKS', (jwt) => resign(jwt, () => {}, otherKey.privateKey), 'JWT signature verification failed'],
    ['with its signature cut off', (jwt) => `${jwt.split('.').slice(0, 2).join('.')}.`, 'JWT signature verification failed'],
  ];
  it.each(forgeries)('an ID token %s: 401, no session', async (_what, forge, reason) => {
    tamper = forge;
    try {
      const { browser, callback } = await signIn('alice');
      expect(callback.status).toBe(401);
      const page = await html(callback);
      expect(page).toContain('is not valid here');
      expect(page).toContain(reason);
      expect(browser.cookie(bridge.apiUrl, 'otel_audit_session')).toBeUndefined();
      expect((await session(browser)).status).toBe(401);
    } finally {
      tamper = null;
    }
  });

  it('the same re-signing with the provider\'s key and nothing changed is accepted (the forgeries fail for what they change)', async () => {
    tamper = (jwt) => resign(jwt, () => {});
    try {
      const { callback } = await signIn('alice');
      expect(callback.status).toBe(303);
    } finally {
      tamper = null;
    }
  });

  it('an account without otel-audit roles: 403, a page saying which claim must carry them', async () => {
    const { browser, callback } = await signIn('bob');
    expect(callback.status).toBe(403);
    const page = await html(callback);
    expect(page).toContain('No access to otel-audit');
    expect(page).toContain('Your account (oidc:bob) holds no otel-audit role. Your identity provider must send one of reader, content_reader, admin in the &quot;otel_audit_roles&quot; claim');
    expect(browser.cookie(bridge.apiUrl, 'otel_audit_session')).toBeUndefined();
  });

  it('the person refuses at the provider: 401', async () => {
    const { callback } = await signIn(null);
    expect(callback.status).toBe(401);
    expect(await html(callback)).toContain('access_denied');
  });

  it('no secret, token or session id in the bridge\'s log', () => {
    const log = bridge.log();
    expect(log).not.toContain(CLIENT_SECRET);
    expect(log).not.toMatch(/otel_audit_session=|"code":|id_token/);
    expect(log).toMatch(/"msg":"sign-in refused","method":"oidc","client":"127\.0\.0\.1","status":401/);
  });
});

describe('OIDC without an auth file', () => {
  beforeAll(async () => {
    await onlyPort!.release();
    oidcOnly = await startBridge({ args: ['--api', `127.0.0.1:${onlyPort!.port}`, ...oidcArgs] });
  }, 90_000);

  it('the API needs a session: no local user, no bearer tokens; ingest stays local, on loopback', async () => {
    const b = oidcOnly!;
    const anonymous = await fetch(`${b.apiUrl}/api/v1/events`);
    expect([anonymous.status, (await anonymous.json()).error]).toEqual([401, 'sign in first: this bridge signs people in with OpenID Connect (/api/v1/oidc/login)']);
    expect((await fetch(`${b.apiUrl}/api/v1/events`, { headers: { authorization: `Bearer ${T.ops}` } })).status).toBe(401);
    const me = await fetch(`${b.apiUrl}/api/v1/session`);
    expect([me.status, (await me.json()).sign_in]).toEqual([401, ['oidc']]);
    const form = await fetch(`${b.apiUrl}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: T.ops }) });
    expect(form.status).toBe(400);
    // Ingest without a token: the local principal, which may choose the tenant.
    await sendSpans(b.otlpUrl, [tool('local acme', 'CASE-L')], { 'service.name': 'e2e', 'audit.tenant': 'acme' });
    await sendSpans(b.otlpUrl, [tool('local globex', 'CASE-M')], { 'service.name': 'e2e', 'audit.tenant': 'globex' });
    const { browser: o } = await signIn('olga', b);
    expect((await o.fetch(`${b.apiUrl}/api/v1/flush`, { method: 'POST', headers: { 'x-csrf-token': o.cookie(b.apiUrl, 'otel_audit_csrf')! } })).status).toBe(200);
    const { browser } = await signIn('alice', b);
    const events = (await (await browser.fetch(`${b.apiUrl}/api/v1/events?format=json`)).json()) as { events: Array<{ name: string }> };
    expect(events.events.map((e) => e.name)).toEqual(['local acme']);
    expect(await (await browser.fetch(`${b.apiUrl}/api/v1/ui-config`)).json()).toMatchObject({ auth: true, principal: 'oidc:alice', tenants: ['acme'] });
  });

  it('refuses OTLP listeners beyond loopback at start (exit 2, naming the flag); the API may listen there', async () => {
    for (const flag of ['--otlp-http', '--otlp-grpc']) {
      const r = await runCli(['serve', '--data-dir', join(work, 'never'), ...oidcArgs.filter((a) => a !== '--otlp-grpc' && a !== 'off'), flag, '0.0.0.0:0']);
      expect(r.code, flag).toBe(2);
      expect(r.stderr).toContain(`${flag} 0.0.0.0 would accept OTLP from other hosts, and this bridge has no --auth-file: OpenID Connect signs in people to the API and the web UI, not applications`);
    }
    const bad = await runCli(['serve', '--data-dir', join(work, 'never'), '--oidc-issuer', 'http://idp.example.com', '--oidc-client-id', 'x', '--oidc-client-secret-file', join(work, 'client-secret')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('the issuer must be https');
  });
});
