/**
 * Signing in from a browser (auth/session.ts, auth/oidc.ts; docs/security.md, "Signing in"):
 *
 *   GET    /api/v1/session         who is signed in (and the CSRF token), or 401 with the ways to sign in
 *   POST   /api/v1/session         sign in with a token of the auth file: {"token": "..."} → session cookie
 *   DELETE /api/v1/session         sign out
 *   GET    /api/v1/oidc/login      (with OIDC) → redirect to the identity provider
 *   GET    /api/v1/oidc/callback   (with OIDC) the provider's redirect back → session cookie, redirect to the UI
 *
 * These routes are public (they are how one gets a credential); each decides for itself. Tokens
 * and session ids never reach the log.
 */
import type { FastifyReply } from 'fastify';
import { AccessError, cameOverTls, clearedSessionCookies, OIDC_CALLBACK_PATH, readCookie, SESSION_COOKIE, sessionCookies, SignInError, type Principal, type SessionInfo } from '../../auth/index.ts';
import type { OidcSignIn } from '../../auth/oidc.ts';
import { ref } from '../schemas.ts';
import { ApiError, type ApiContext } from '../server.ts';

const SESSION_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', description: "the token's name, `oidc:<user>` for OpenID Connect, `local` without access control" },
    roles: { type: 'array', items: { type: 'string' } },
    tenants: { anyOf: [{ type: 'array', items: { type: 'string' } }, { const: '*' }] },
    method: { type: 'string', enum: ['token', 'oidc', 'bearer', 'local'], description: 'how the request was authenticated: a session opened with a token or OIDC, an Authorization header, or no access control' },
    csrf_token: { type: 'string', description: 'a session\'s CSRF token: send it as X-CSRF-Token with every request but GET (also in the otel_audit_csrf cookie)' },
    expires_at: { type: 'string', description: 'when the session ends at the latest (ISO 8601)' },
    idle_expires_at: { type: 'string', description: 'when it ends without further requests (ISO 8601)' },
    sign_in: { type: 'array', items: { type: 'string', enum: ['token', 'oidc'] }, description: 'the ways to sign in on this bridge' },
  },
  required: ['name', 'roles', 'tenants', 'method', 'sign_in'],
  additionalProperties: false,
} as const;

const ERROR = (description: string) => ({ description, ...ref('Error') });
const HTML = (description: string) => ({ description, content: { 'text/html': { schema: { type: 'string' } } } });

/** Headers of the sign-in pages the bridge itself shows (OIDC failures): no script, never framed or cached. */
const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

export function registerSessionRoutes(ctx: ApiContext): void {
  const { api, sessions, log } = ctx;

  const describe = (p: Principal, method: string, s?: SessionInfo) => ({
    name: p.name,
    roles: [...p.roles],
    tenants: p.tenants,
    method,
    ...(s ? { csrf_token: s.csrfToken, expires_at: new Date(s.expiresAt).toISOString(), idle_expires_at: new Date(s.idleExpiresAt).toISOString() } : {}),
    sign_in: sessions.methods,
  });

  api.route({
    method: 'GET',
    url: '/api/v1/session',
    config: { access: 'public', what: 'see who is signed in' },
    schema: {
      summary: 'Who is signed in: the session cookie\'s (or the bearer token\'s) principal, and the session\'s CSRF token',
      tags: ['session'],
      response: {
        200: SESSION_SCHEMA,
        401: {
          description: 'not signed in; sign_in says how to',
          type: 'object',
          properties: { error: { type: 'string' }, sign_in: SESSION_SCHEMA.properties.sign_in },
          required: ['error', 'sign_in'],
          additionalProperties: false,
        },
      },
    },
    handler: async (request, reply) => {
      try {
        const a = sessions.authenticate(request);
        reply.header('cache-control', 'no-store');
        return describe(a.principal, a.via === 'session' ? a.session!.method : a.via, a.session);
      } catch (err) {
        if (!(err instanceof AccessError)) throw err;
        // A cookie of an ended session is removed, so the browser stops sending it.
        if (readCookie(request.headers.cookie, SESSION_COOKIE) !== undefined) reply.header('set-cookie', clearedSessionCookies(cameOverTls(request.raw)));
        return reply.code(401).header('www-authenticate', 'Bearer realm="otel-audit"').send({ error: err.message, sign_in: sessions.methods });
      }
    },
  });

  api.route({
    method: 'POST',
    url: '/api/v1/session',
    config: { access: 'public', what: 'sign in', body: 'json' },
    bodyLimit: 16 * 1024,
    schema: {
      summary: 'Sign in with a token of the auth file: sets the session cookie (HttpOnly, SameSite=Strict) and the CSRF cookie',
      description:
        'The body is {"token": "..."} with content-type application/json (anything else is 415, so a form on another site cannot sign a browser in). ' +
        'The cookie holds a random session id, never the token. Failed sign-ins are limited per client address: past 10 a minute, 429 with Retry-After.',
      tags: ['session'],
      body: { type: 'object', properties: { token: { type: 'string', minLength: 1, maxLength: 4096 } }, required: ['token'], additionalProperties: false },
      response: {
        200: SESSION_SCHEMA,
        400: ERROR('bad input, or this bridge has no auth file'),
        401: ERROR('not a token of this bridge'),
        403: ERROR('an ingest-only token (nothing to read), or a request from another site'),
        415: ERROR('the body is not application/json'),
        429: ERROR('too many failed sign-ins from this address: retry after Retry-After seconds'),
      },
    },
    handler: async (request, reply) => {
      if (!/^application\/json\b/i.test(String(request.headers['content-type'] ?? ''))) {
        throw new ApiError(415, 'sign in with content-type application/json: {"token": "..."}');
      }
      if (request.headers['sec-fetch-site'] === 'cross-site') throw new ApiError(403, 'sign-in from another site is refused');
      const client = request.ip;
      let signedIn;
      try {
        signedIn = sessions.signInWithToken((request.body as { token: string }).token, client);
      } catch (err) {
        if (err instanceof SignInError) {
          if (!err.quiet) log.warn('sign-in refused', { method: 'token', client, reason: err.message });
          throw new ApiError(err.status, err.message, err.retryAfterSeconds ? { 'retry-after': String(err.retryAfterSeconds) } : {});
        }
        if (err instanceof AccessError) log.warn('sign-in refused', { method: 'token', client, reason: err.message });
        throw err;
      }
      log.info('signed in', { method: 'token', principal: signedIn.principal.name, client });
      return reply
        .header('set-cookie', sessionCookies(signedIn.id, signedIn.csrf, cameOverTls(request.raw)))
        .header('cache-control', 'no-store')
        .send(describe(signedIn.principal, 'token', signedIn.session));
    },
  });

  api.route({
    method: 'DELETE',
    url: '/api/v1/session',
    config: { access: 'public', what: 'sign out' },
    schema: {
      summary: 'Sign out: ends the session of the cookie (with X-CSRF-Token) and removes the cookies',
      tags: ['session'],
      response: {
        200: { type: 'object', properties: { signed_out: { type: 'boolean', description: 'whether a session ended' } }, required: ['signed_out'], additionalProperties: false },
        403: ERROR("a live session's sign-out without its CSRF token"),
      },
    },
    handler: async (request, reply) => {
      const ended = sessions.signOut(request);
      if (ended) log.info('signed out', { client: request.ip });
      return reply.header('set-cookie', clearedSessionCookies(cameOverTls(request.raw))).send({ signed_out: ended });
    },
  });

  const oidcConfig = ctx.config.oidc;
  if (!oidcConfig) return;
  // openid-client is loaded (and the provider discovered, in the background) only with OIDC.
  let oidcSignIn: Promise<OidcSignIn> | null = null;
  const oidc = () => (oidcSignIn ??= import('../../auth/oidc.ts').then((m) => new m.OidcSignIn(oidcConfig, log)));
  void oidc().then((o) => o.discover().catch(() => {}));

  api.route({
    method: 'GET',
    url: '/api/v1/oidc/login',
    config: { access: 'public', what: 'sign in with OpenID Connect' },
    schema: {
      summary: "Sign in with OpenID Connect: redirects to the identity provider (authorization code flow with PKCE)",
      tags: ['session'],
      querystring: {
        type: 'object',
        properties: { return_to: { type: 'string', maxLength: 2048, description: 'a path of the bridge to come back to (default /)' } },
        additionalProperties: false,
      },
      response: { 302: { description: 'to the identity provider' }, 400: HTML('no Host header to build the redirect URI from'), 503: HTML('the identity provider cannot be reached') },
    },
    handler: async (request, reply) => {
      const secure = cameOverTls(request.raw);
      const host = request.headers.host;
      let redirectUri = oidcConfig.redirectUrl;
      if (!redirectUri) {
        if (!host || !/^[A-Za-z0-9.[\]:-]{1,300}$/.test(host)) return page(reply, 400, 'Cannot sign in', 'The request has no usable Host header to build the sign-in redirect from.');
        redirectUri = `${secure ? 'https' : 'http'}://${host}${OIDC_CALLBACK_PATH}`;
      }
      try {
        const { url, transaction } = await (await oidc()).begin(redirectUri, (request.query as { return_to?: string }).return_to ?? '/');
        return reply
          .header('set-cookie', transactionCookie(transaction, secure))
          .header('cache-control', 'no-store')
          .header('referrer-policy', 'no-referrer')
          .redirect(url, 302);
      } catch (err) {
        const { OidcError } = await import('../../auth/oidc.ts');
        if (!(err instanceof OidcError)) throw err;
        log.warn('OpenID Connect sign-in not started', { reason: err.message });
        return page(reply, err.status, 'Cannot sign in', err.message);
      }
    },
  });

  api.route({
    method: 'GET',
    url: OIDC_CALLBACK_PATH,
    config: { access: 'public', what: 'sign in with OpenID Connect' },
    schema: {
      summary: "The identity provider's redirect back: exchanges the code, validates the ID token, sets the session cookie and redirects to the web UI",
      tags: ['session'],
      // The provider's parameters (code, state, iss, session_state, error, ...) vary by provider.
      querystring: { type: 'object', additionalProperties: { type: 'string' } },
      response: {
        303: { description: 'signed in: to the web UI (or the return_to path of the login)' },
        400: HTML('no sign-in started in this browser, or a state that is not its own'),
        401: HTML('the provider refused, or its ID token is not valid (issuer, audience, expiry, nonce, signature)'),
        403: HTML('the account holds no otel-audit role or tenant'),
        503: HTML('the identity provider cannot be reached'),
      },
    },
    handler: async (request, reply) => {
      const secure = cameOverTls(request.raw);
      const params = new URLSearchParams(request.url.split('?')[1] ?? '');
      const { OidcError } = await import('../../auth/oidc.ts');
      // The transaction is used once, whatever happens: its cookie goes.
      try {
        const who = await (await oidc()).finish(readCookie(request.headers.cookie, OIDC_TRANSACTION_COOKIE), params);
        const { id, csrf } = sessions.create({ method: 'oidc', principal: who.principal, issuer: who.issuer, subject: who.subject });
        log.info('signed in', { method: 'oidc', principal: who.principal.name, issuer: who.issuer, subject: who.subject, client: request.ip });
        return reply
          .header('set-cookie', [clearedTransactionCookie(secure), ...sessionCookies(id, csrf, secure)])
          .header('cache-control', 'no-store')
          .redirect(who.returnTo, 303);
      } catch (err) {
        if (!(err instanceof OidcError)) throw err;
        log.warn('sign-in refused', { method: 'oidc', client: request.ip, status: err.status, reason: err.message });
        reply.header('set-cookie', clearedTransactionCookie(secure));
        return page(reply, err.status, err.status === 403 ? 'No access to otel-audit' : 'Sign-in failed', err.message);
      }
    },
  });
}

/** Must match auth/oidc.ts's OIDC_TRANSACTION_COOKIE (kept here so that oidc.ts loads only with OIDC). */
const OIDC_TRANSACTION_COOKIE = 'otel_audit_oidc';
const TRANSACTION_PATH = '/api/v1/oidc/';

/** The sign-in transaction's cookie: Lax (the provider's redirect back is a cross-site navigation), 10 minutes, callback only. */
function transactionCookie(id: string, secure: boolean): string {
  return `${OIDC_TRANSACTION_COOKIE}=${id}; Path=${TRANSACTION_PATH}; HttpOnly; SameSite=Lax; Max-Age=600${secure ? '; Secure' : ''}`;
}

function clearedTransactionCookie(secure: boolean): string {
  return `${OIDC_TRANSACTION_COOKIE}=; Path=${TRANSACTION_PATH}; HttpOnly; SameSite=Lax; Max-Age=0${secure ? '; Secure' : ''}`;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A page of the bridge's own, for a sign-in that did not work: what happened, and the way back. */
function page(reply: FastifyReply, status: number, title: string, message: string): FastifyReply {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>otel-audit: ${escapeHtml(title)}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
<p><a href="/api/v1/oidc/login">Sign in again</a> · <a href="/">otel-audit</a></p>
</body></html>
`;
  return reply.code(status).headers(PAGE_HEADERS).send(html);
}
