import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Access, AccessError, clearedSessionCookies, FailureLimiter, LOCAL_PRINCIPAL, readCookie, sessionCookies, Sessions, SignInError, type Principal } from './index.ts';
import { cameOverTls, clientKey } from './session.ts';

const READER = 'reader-token-0123456789abcdef';
const INGEST = 'ingest-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';

function authFile(tokens: Array<{ name: string; token: string; roles: string[]; tenants: string[] }>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'session-')), 'auth.json');
  writeFileSync(file, JSON.stringify({ tokens }));
  return file;
}
const TOKENS = [
  { name: 'reader', token: READER, roles: ['reader'], tenants: ['acme'] },
  { name: 'app', token: INGEST, roles: ['ingest'], tenants: ['acme'] },
  { name: 'ops', token: ADMIN, roles: ['admin'], tenants: ['*'] },
];

/** A clock the test moves. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
};

const req = (method: string, headers: Record<string, string | undefined> = {}) => ({ method, headers });
const cookieOf = (id: string, csrf?: string) => `otel_audit_session=${id}${csrf ? `; otel_audit_csrf=${csrf}` : ''}`;

describe('sessions of a token', () => {
  it('sign in with a token: the cookie carries a random id, never the token; GET needs only the cookie', () => {
    const file = authFile(TOKENS);
    const s = new Sessions(Access.open(file));
    const { id, csrf, principal, session } = s.signInWithToken(READER, '127.0.0.1');
    expect(principal.name).toBe('reader');
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(id).not.toBe(csrf);
    expect(session).toMatchObject({ method: 'token', csrfToken: csrf });
    for (const c of sessionCookies(id, csrf, false)) expect(c).not.toContain(READER);
    const a = s.authenticate(req('GET', { cookie: cookieOf(id) }));
    expect([a.via, a.principal.name, a.principal.tenants]).toEqual(['session', 'reader', ['acme']]);
    // Two sign-ins, two sessions.
    expect(s.signInWithToken(READER, '127.0.0.1').id).not.toBe(id);
  });

  it('any other method needs X-CSRF-Token equal to the session\'s; a bearer header needs none', () => {
    const s = new Sessions(Access.open(authFile(TOKENS)));
    const { id, csrf } = s.signInWithToken(ADMIN, '127.0.0.1');
    for (const method of ['POST', 'DELETE', 'PUT', 'PATCH']) {
      for (const headers of [{ cookie: cookieOf(id, csrf) }, { cookie: cookieOf(id, csrf), 'x-csrf-token': 'x'.repeat(43) }, { cookie: cookieOf(id), 'x-csrf-token': '' }]) {
        const err = errorOf(() => s.authenticate(req(method, headers))) as AccessError;
        expect([err.code, err.httpStatus], method).toEqual(['PERMISSION_DENIED', 403]);
      }
      expect(s.authenticate(req(method, { cookie: cookieOf(id), 'x-csrf-token': csrf })).principal.name).toBe('ops');
    }
    expect(s.authenticate(req('HEAD', { cookie: cookieOf(id) })).via).toBe('session');
    expect(s.authenticate(req('POST', { authorization: `Bearer ${READER}`, cookie: cookieOf(id) })).principal.name).toBe('reader');
  });

  it('no cookie, an unknown one, or a bad bearer token: UNAUTHENTICATED', () => {
    const s = new Sessions(Access.open(authFile(TOKENS)));
    for (const headers of [{}, { cookie: 'otel_audit_session=nope' }, { cookie: 'other=1' }, { authorization: 'Bearer nope-nope-nope-nope-nope' }]) {
      const err = errorOf(() => s.authenticate(req('GET', headers))) as AccessError;
      expect(err.code, JSON.stringify(headers)).toBe('UNAUTHENTICATED');
    }
    expect(errorOf(() => s.authenticate(req('GET'))).message).toMatch(/a token is required/);
  });

  it('ends after the idle timeout, and after the lifetime even when used', () => {
    const c = clock();
    const s = new Sessions(Access.open(authFile(TOKENS)), { idleMs: 60_000, absoluteMs: 120_000 }, { now: c.now });
    const idle = s.signInWithToken(READER, '127.0.0.1').id;
    const busy = s.signInWithToken(READER, '127.0.0.1').id;
    c.advance(59_000);
    s.authenticate(req('GET', { cookie: cookieOf(busy) }));
    c.advance(1_000);
    expect(errorOf(() => s.authenticate(req('GET', { cookie: cookieOf(idle) }))).message).toMatch(/session has ended/);
    c.advance(45_000); // 105 s after sign-in, 46 s idle
    expect(s.authenticate(req('GET', { cookie: cookieOf(busy) })).via).toBe('session');
    c.advance(15_000); // 120 s after sign-in, 15 s idle
    expect(errorOf(() => s.authenticate(req('GET', { cookie: cookieOf(busy) }))).message).toMatch(/session has ended/);
    expect(s.size).toBe(0);
  });

  it('follows the auth file: a token removed on reload ends its sessions, changed roles apply at once', () => {
    const file = authFile(TOKENS);
    const access = Access.open(file);
    const s = new Sessions(access);
    const reader = s.signInWithToken(READER, '127.0.0.1').id;
    const ops = s.signInWithToken(ADMIN, '127.0.0.1').id;
    writeFileSync(file, JSON.stringify({ tokens: [{ ...TOKENS[2], roles: ['reader'], tenants: ['globex'] }] }));
    access.reload();
    expect((errorOf(() => s.authenticate(req('GET', { cookie: cookieOf(reader) }))) as AccessError).code).toBe('UNAUTHENTICATED');
    const p = s.authenticate(req('GET', { cookie: cookieOf(ops) })).principal;
    expect([[...p.roles], p.tenants]).toEqual([['reader'], ['globex']]);
    // Put back, the removed token's session stays ended: it was dropped.
    writeFileSync(file, JSON.stringify({ tokens: TOKENS }));
    access.reload();
    expect(() => s.authenticate(req('GET', { cookie: cookieOf(reader) }))).toThrow(AccessError);
  });

  it('an ingest-only token cannot sign in; a wrong one is UNAUTHENTICATED and counted', () => {
    const s = new Sessions(Access.open(authFile(TOKENS)), { maxFailuresPerMinute: 3 });
    const ingest = errorOf(() => s.signInWithToken(INGEST, '10.0.0.1')) as AccessError;
    expect([ingest.code, ingest.message]).toEqual(['PERMISSION_DENIED', 'token "app" only sends OTLP (role ingest): it cannot sign in to read the trail']);
    for (const bad of ['wrong-token-0123456789abcdef', 'has space 0123456789abcdef', 'x']) {
      expect((errorOf(() => s.signInWithToken(bad, '10.0.0.1')) as AccessError).code).toBe('UNAUTHENTICATED');
    }
    const limited = errorOf(() => s.signInWithToken(READER, '10.0.0.1')) as SignInError;
    expect([limited.status, limited.retryAfterSeconds]).toEqual([429, 60]);
    // Another address is not affected.
    expect(s.signInWithToken(READER, '10.0.0.2').principal.name).toBe('reader');
  });

  it('without an auth file: everyone is local; with OIDC only, bearer tokens and token sign-in are refused', () => {
    const local = new Sessions(Access.open());
    expect(local.required).toBe(false);
    expect(local.authenticate(req('POST', { cookie: cookieOf('x') })).principal).toBe(LOCAL_PRINCIPAL);
    expect((errorOf(() => local.signInWithToken(READER, '127.0.0.1')) as SignInError).status).toBe(400);
    const oidc = new Sessions(Access.open(), {}, { oidc: true });
    expect([oidc.required, oidc.methods]).toEqual([true, ['oidc']]);
    expect(errorOf(() => oidc.authenticate(req('GET'))).message).toMatch(/sign in first.*OpenID Connect/);
    expect(errorOf(() => oidc.authenticate(req('GET', { authorization: `Bearer ${READER}` }))).message).toMatch(/no auth file, so it takes no bearer tokens/);
    expect((errorOf(() => oidc.signInWithToken(READER, '127.0.0.1')) as SignInError).message).toMatch(/sign in with OpenID Connect/);
    const person: Principal = { name: 'oidc:alice', roles: new Set(['reader']), tenants: ['acme'] };
    const { id } = oidc.create({ method: 'oidc', principal: person, issuer: 'https://idp', subject: 'a1' });
    expect(oidc.authenticate(req('GET', { cookie: cookieOf(id) })).principal).toBe(person);
    expect(new Sessions(Access.open(authFile(TOKENS)), {}, { oidc: true }).methods).toEqual(['token', 'oidc']);
  });

  it('sign-out needs the CSRF token of a live session, then the session is gone', () => {
    const s = new Sessions(Access.open(authFile(TOKENS)));
    const { id, csrf } = s.signInWithToken(READER, '127.0.0.1');
    expect((errorOf(() => s.signOut(req('DELETE', { cookie: cookieOf(id) }))) as AccessError).httpStatus).toBe(403);
    expect(s.signOut(req('DELETE', { cookie: cookieOf(id), 'x-csrf-token': csrf }))).toBe(true);
    expect(s.signOut(req('DELETE', { cookie: cookieOf(id), 'x-csrf-token': csrf }))).toBe(false);
    expect(() => s.authenticate(req('GET', { cookie: cookieOf(id) }))).toThrow(/session has ended/);
  });

  it('keeps at most maxSessions: the oldest ends first', () => {
    const s = new Sessions(Access.open(authFile(TOKENS)), { maxSessions: 2 });
    const [a, b, c] = [0, 1, 2].map(() => s.signInWithToken(READER, '127.0.0.1').id);
    expect(() => s.authenticate(req('GET', { cookie: cookieOf(a) }))).toThrow(AccessError);
    expect(s.authenticate(req('GET', { cookie: cookieOf(b) })).via).toBe('session');
    expect(s.authenticate(req('GET', { cookie: cookieOf(c) })).via).toBe('session');
  });
});

describe('cookies', () => {
  it('session: HttpOnly, SameSite=Strict, Path=/, Secure over TLS; the CSRF cookie is readable by the UI', () => {
    expect(sessionCookies('ID', 'CSRF', false)).toEqual(['otel_audit_session=ID; Path=/; SameSite=Strict; HttpOnly', 'otel_audit_csrf=CSRF; Path=/; SameSite=Strict']);
    expect(sessionCookies('ID', 'CSRF', true)).toEqual(['otel_audit_session=ID; Path=/; SameSite=Strict; Secure; HttpOnly', 'otel_audit_csrf=CSRF; Path=/; SameSite=Strict; Secure']);
    expect(clearedSessionCookies(false)[0]).toBe('otel_audit_session=; Path=/; SameSite=Strict; Max-Age=0; HttpOnly');
  });

  it('reads one cookie of a Cookie header; knows TLS from the socket or X-Forwarded-Proto', () => {
    expect(readCookie('a=1; otel_audit_session=abc; b=2', 'otel_audit_session')).toBe('abc');
    expect(readCookie('xotel_audit_session=abc', 'otel_audit_session')).toBeUndefined();
    expect(readCookie(undefined, 'a')).toBeUndefined();
    expect(cameOverTls({ headers: {}, socket: { encrypted: true } })).toBe(true);
    expect(cameOverTls({ headers: { 'x-forwarded-proto': 'https' } })).toBe(true);
    expect(cameOverTls({ headers: { 'x-forwarded-proto': 'HTTPS, http' } })).toBe(true);
    expect(cameOverTls({ headers: { 'x-forwarded-proto': 'http' } })).toBe(false);
    expect(cameOverTls({ headers: {} })).toBe(false);
  });
});

describe('failed sign-ins per client', () => {
  it('allows `limit` failures a minute, then says how long to wait', () => {
    const c = clock();
    const l = new FailureLimiter(3, 60_000, c.now);
    expect([l.fail('1.2.3.4'), l.fail('1.2.3.4'), l.fail('1.2.3.4')]).toEqual([false, false, true]);
    expect(l.blockedFor('1.2.3.4')).toBe(60);
    c.advance(30_500);
    expect(l.blockedFor('1.2.3.4')).toBe(30);
    expect(l.blockedFor('1.2.3.5')).toBe(0);
    c.advance(29_500);
    expect(l.blockedFor('1.2.3.4')).toBe(0);
  });

  it('counts IPv6 per /64 and IPv4-mapped addresses as IPv4', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(clientKey('10.1.2.3')).toBe('10.1.2.3');
  });
});
