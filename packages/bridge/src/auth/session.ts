/**
 * Signing in from a browser (docs/security.md, "Signing in"): a token of the auth file typed
 * into the web UI's form (`POST /api/v1/session`), or OpenID Connect (auth/oidc.ts), either way
 * kept as a server-side session the browser holds a cookie for.
 *
 * - The cookie (`otel_audit_session`) holds a random session id (256 bits), never the token:
 *   `HttpOnly; SameSite=Strict; Path=/`, and `Secure` when the request came over TLS or with
 *   `X-Forwarded-Proto: https`. The bridge keeps only the id's SHA-256, in memory: a restart
 *   signs everyone out.
 * - A session ends after `idleMs` without a request, `absoluteMs` after sign-in, or on sign-out.
 * - A token session keeps the token's SHA-256 and asks the auth file for its principal at every
 *   request: a token removed by a reload (SIGHUP) ends its sessions, changed roles or tenants
 *   apply at once. An OIDC session keeps the roles and tenants the identity provider gave.
 * - CSRF: besides SameSite=Strict, every request but GET/HEAD/OPTIONS made with the session
 *   cookie must carry the session's CSRF token in `X-CSRF-Token` (the UI reads it from the
 *   `otel_audit_csrf` cookie, which is not HttpOnly, or from `GET /api/v1/session`), else 403.
 *   A request with `Authorization: Bearer` is judged by its token alone (a browser never adds
 *   that header by itself).
 * - Failed token sign-ins are limited per client address (IPv6: per /64): past the limit in a
 *   minute, sign-ins from there get 429 without the token being looked at.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { Access, hasRole, LOCAL_PRINCIPAL, tokenDigest, type Principal } from './access.ts';
import { AccessError } from './errors.ts';

export const SESSION_COOKIE = 'otel_audit_session';
/** Not HttpOnly: the web UI reads it and echoes it in CSRF_HEADER. */
export const CSRF_COOKIE = 'otel_audit_csrf';
export const CSRF_HEADER = 'x-csrf-token';

export interface SessionOptions {
  /** A session ends after this long without a request (`--session-idle-timeout`). */
  idleMs: number;
  /** ... and this long after sign-in, whatever happens (`--session-lifetime`). */
  absoluteMs: number;
  /** Failed token sign-ins per client address per minute; more get 429. */
  maxFailuresPerMinute: number;
  /** Sessions kept at most; past it the oldest ends. */
  maxSessions: number;
}

export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  idleMs: 8 * 3600_000,
  absoluteMs: 12 * 3600_000,
  maxFailuresPerMinute: 10,
  maxSessions: 10_000,
};

/** How a session was opened; what it needs to find its principal again. */
export type SessionSource =
  | { method: 'token'; digest: Buffer }
  | { method: 'oidc'; principal: Principal; issuer: string; subject: string };

interface Session {
  csrf: string;
  source: SessionSource;
  createdAt: number;
  lastSeenAt: number;
}

/** The part of a request the access layer reads. */
export interface RequestLike {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A signed-in session, as `GET /api/v1/session` describes it. */
export interface SessionInfo {
  method: 'token' | 'oidc';
  csrfToken: string;
  /** When it ends at the latest (ms since the epoch); without requests it ends at idleExpiresAt. */
  expiresAt: number;
  idleExpiresAt: number;
}

export interface Authenticated {
  principal: Principal;
  /** `local`: no auth configured; `bearer`: an Authorization header; `session`: the cookie. */
  via: 'local' | 'bearer' | 'session';
  session?: SessionInfo;
}

/** A refused sign-in that is not an access error: bad input (400), too many failures (429). */
export class SignInError extends Error {
  /** Whether to log it: a client over the limit is logged once (when it reaches it), not at every try. */
  readonly quiet: boolean;
  readonly status: number;
  readonly retryAfterSeconds?: number;
  constructor(status: number, message: string, retryAfterSeconds?: number, quiet = false) {
    super(message);
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
    this.quiet = quiet;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const keyOf = (id: string): string => hash('sha256', id, 'hex');
const header = (r: RequestLike, name: string): string | undefined => {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Roles a browser session can use: every role but ingest (OTLP takes no cookies). */
export function mayUseTheUi(p: Principal): boolean {
  return hasRole(p, 'reader');
}

/**
 * The sessions of signed-in browsers, and the one decision of who a request to the API is:
 * `authenticate(request)`, which the API's access hook calls for every request.
 */
export class Sessions {
  readonly options: SessionOptions;
  private readonly access: Access;
  private readonly oidc: boolean;
  private readonly now: () => number;
  /** By the SHA-256 of the session id; insertion order is sign-in order. */
  private readonly byKey = new Map<string, Session>();
  private readonly limiter: FailureLimiter;

  constructor(access: Access, options: Partial<SessionOptions> = {}, { oidc = false, now = Date.now }: { oidc?: boolean; now?: () => number } = {}) {
    this.access = access;
    this.options = { ...DEFAULT_SESSION_OPTIONS, ...options };
    this.oidc = oidc;
    this.now = now;
    this.limiter = new FailureLimiter(this.options.maxFailuresPerMinute, 60_000, now);
  }

  /** Whether the API needs a credential: with an auth file, or with OIDC. */
  get required(): boolean {
    return this.access.enabled || this.oidc;
  }

  /** The ways to sign in on this bridge (for the UI's sign-in page). */
  get methods(): Array<'token' | 'oidc'> {
    return [...(this.access.enabled ? (['token'] as const) : []), ...(this.oidc ? (['oidc'] as const) : [])];
  }

  /** Live sessions (after dropping ended ones). */
  get size(): number {
    this.prune();
    return this.byKey.size;
  }

  /**
   * Who made a request: the bearer token of its Authorization header if it has one, else its
   * session cookie (and, for any method but GET/HEAD/OPTIONS, the session's CSRF token in
   * X-CSRF-Token), else nobody. Throws UNAUTHENTICATED (no or an ended session, no or an
   * unknown token) or PERMISSION_DENIED (no or a wrong CSRF token). Without an auth file and
   * without OIDC, everyone is the local principal.
   */
  authenticate(request: RequestLike): Authenticated {
    const authorization = header(request, 'authorization');
    if (!this.required) return { principal: LOCAL_PRINCIPAL, via: 'local' };
    if (authorization !== undefined) {
      if (!this.access.enabled) {
        throw new AccessError('UNAUTHENTICATED', 'this bridge has no auth file, so it takes no bearer tokens: sign in with OpenID Connect (/api/v1/oidc/login)');
      }
      return { principal: this.access.authenticate(authorization), via: 'bearer' };
    }
    const id = readCookie(header(request, 'cookie'), SESSION_COOKIE);
    if (id !== undefined) {
      const found = this.find(id);
      if (!found) throw new AccessError('UNAUTHENTICATED', 'the session has ended (signed out, expired, or its token was withdrawn): sign in again');
      if (!SAFE_METHODS.has(request.method.toUpperCase())) {
        const sent = header(request, CSRF_HEADER);
        if (!sent || !sameSecret(sent, found.session.csrf)) {
          throw new AccessError('PERMISSION_DENIED', `a signed-in browser must send the session's CSRF token in X-CSRF-Token with every request but GET (the ${CSRF_COOKIE} cookie holds it)`);
        }
      }
      return { principal: found.principal, via: 'session', session: this.info(found.session) };
    }
    if (!this.access.enabled) throw new AccessError('UNAUTHENTICATED', 'sign in first: this bridge signs people in with OpenID Connect (/api/v1/oidc/login)');
    return { principal: this.access.authenticate(undefined), via: 'bearer' };
  }

  /**
   * Signs in with a token of the auth file (POST /api/v1/session) from a client address.
   * Throws SignInError 400 (no auth file) or 429 (too many failures from there: the token is
   * not even looked at), AccessError UNAUTHENTICATED (not a token of this bridge: counted as a
   * failure) or PERMISSION_DENIED (an ingest-only token: nothing to see in a browser).
   */
  signInWithToken(token: string, client: string): { id: string; csrf: string; principal: Principal; session: SessionInfo } {
    if (!this.access.enabled) {
      throw new SignInError(400, this.oidc ? 'this bridge has no auth file: sign in with OpenID Connect (/api/v1/oidc/login)' : 'this bridge has no auth file: everyone on this machine is already the "local" user');
    }
    const wait = this.limiter.blockedFor(client);
    if (wait > 0) throw new SignInError(429, `too many failed sign-ins from this address: try again in ${wait} s`, wait, true);
    let principal: Principal;
    try {
      if (/\s/.test(token) || token.length === 0) throw new AccessError('UNAUTHENTICATED', 'the token is not valid on this bridge');
      principal = this.access.authenticate(`Bearer ${token}`);
    } catch (err) {
      if (err instanceof AccessError && err.code === 'UNAUTHENTICATED' && this.limiter.fail(client)) {
        throw new AccessError('UNAUTHENTICATED', `the token is not valid on this bridge; this address may not try again for a minute (${this.options.maxFailuresPerMinute} failed sign-ins)`);
      }
      throw err;
    }
    if (!mayUseTheUi(principal)) {
      throw new AccessError('PERMISSION_DENIED', `token "${principal.name}" only sends OTLP (role ingest): it cannot sign in to read the trail`);
    }
    const { id, csrf, session } = this.create({ method: 'token', digest: tokenDigest(token) });
    return { id, csrf, principal, session };
  }

  /** Opens a session (an OIDC sign-in, or signInWithToken's); returns the cookie's id and the CSRF token. */
  create(source: SessionSource): { id: string; csrf: string; session: SessionInfo } {
    this.prune();
    while (this.byKey.size >= this.options.maxSessions) this.byKey.delete(this.byKey.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const t = this.now();
    const session: Session = { csrf, source, createdAt: t, lastSeenAt: t };
    this.byKey.set(keyOf(id), session);
    return { id, csrf, session: this.info(session) };
  }

  /**
   * Signs out the request's session cookie (DELETE /api/v1/session): a live session needs its
   * CSRF token, like every change made with the cookie. Returns whether a session ended.
   */
  signOut(request: RequestLike): boolean {
    const id = readCookie(header(request, 'cookie'), SESSION_COOKIE);
    if (id === undefined) return false;
    const found = this.find(id);
    if (!found) return false;
    const sent = header(request, CSRF_HEADER);
    if (!sent || !sameSecret(sent, found.session.csrf)) {
      throw new AccessError('PERMISSION_DENIED', 'signing out needs the session\'s CSRF token in X-CSRF-Token');
    }
    this.byKey.delete(keyOf(id));
    return true;
  }

  /** Ends every session (e.g. when an operator wants everyone to sign in again). */
  clear(): number {
    const n = this.byKey.size;
    this.byKey.clear();
    return n;
  }

  /** The live session of a cookie value and its principal now, or null (unknown, ended, token withdrawn). */
  private find(id: string): { session: Session; principal: Principal } | null {
    if (id.length > 256) return null;
    const key = keyOf(id);
    const s = this.byKey.get(key);
    if (!s) return null;
    const t = this.now();
    if (this.ended(s, t)) {
      this.byKey.delete(key);
      return null;
    }
    const principal = s.source.method === 'token' ? this.access.principalOfDigest(s.source.digest) : s.source.principal;
    if (!principal || !mayUseTheUi(principal)) {
      this.byKey.delete(key);
      return null;
    }
    s.lastSeenAt = t;
    return { session: s, principal };
  }

  private ended(s: Session, t: number): boolean {
    return t - s.lastSeenAt >= this.options.idleMs || t - s.createdAt >= this.options.absoluteMs;
  }

  private info(s: Session): SessionInfo {
    return {
      method: s.source.method,
      csrfToken: s.csrf,
      expiresAt: s.createdAt + this.options.absoluteMs,
      idleExpiresAt: Math.min(s.lastSeenAt + this.options.idleMs, s.createdAt + this.options.absoluteMs),
    };
  }

  private prune(): void {
    const t = this.now();
    for (const [k, s] of this.byKey) if (this.ended(s, t)) this.byKey.delete(k);
  }
}

/**
 * Failed attempts per client in fixed one-minute windows. IPv6 addresses count per /64 (one
 * host usually has a whole /64 to pick addresses from).
 */
export class FailureLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, { start: number; failures: number }>();
  private static readonly MAX_CLIENTS = 100_000;

  constructor(limit: number, windowMs: number, now: () => number = Date.now) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.now = now;
  }

  /** Seconds until this client may try again; 0 when it may now. */
  blockedFor(client: string): number {
    const w = this.windows.get(clientKey(client));
    const t = this.now();
    if (!w || t - w.start >= this.windowMs || w.failures < this.limit) return 0;
    return Math.max(1, Math.ceil((w.start + this.windowMs - t) / 1000));
  }

  /** Counts a failure; returns true when it is the one that reaches the limit. */
  fail(client: string): boolean {
    const key = clientKey(client);
    const t = this.now();
    const w = this.windows.get(key);
    if (w && t - w.start < this.windowMs) {
      w.failures++;
      return w.failures === this.limit;
    }
    this.windows.delete(key);
    if (this.windows.size >= FailureLimiter.MAX_CLIENTS) {
      for (const [k, v] of this.windows) if (t - v.start >= this.windowMs) this.windows.delete(k);
      while (this.windows.size >= FailureLimiter.MAX_CLIENTS) this.windows.delete(this.windows.keys().next().value!);
    }
    this.windows.set(key, { start: t, failures: 1 });
    return this.limit === 1;
  }
}

/** An IPv4 address as is; an IPv6 address by its /64 (IPv4-mapped ones as IPv4). */
export function clientKey(address: string): string {
  const a = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!isIPv6(a)) return a;
  const [head, tail = ''] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

/** The value of one cookie in a Cookie header, or undefined. */
export function readCookie(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

/** Whether the browser reached us over TLS: the socket's own, or a proxy's X-Forwarded-Proto. */
export function cameOverTls(request: { headers: RequestLike['headers']; socket?: unknown }): boolean {
  if ((request.socket as { encrypted?: boolean } | undefined)?.encrypted) return true;
  const forwarded = request.headers['x-forwarded-proto'];
  const proto = Array.isArray(forwarded) ? forwarded[0] : forwarded;
  return proto !== undefined && proto.split(',')[0].trim().toLowerCase() === 'https';
}

/** The Set-Cookie values of a new session: the session id (HttpOnly) and its CSRF token (readable by the UI). */
export function sessionCookies(id: string, csrf: string, secure: boolean): string[] {
  const attrs = `Path=/; SameSite=Strict${secure ? '; Secure' : ''}`;
  return [`${SESSION_COOKIE}=${id}; ${attrs}; HttpOnly`, `${CSRF_COOKIE}=${csrf}; ${attrs}`];
}

/** The Set-Cookie values that remove both cookies of a session. */
export function clearedSessionCookies(secure: boolean): string[] {
  const attrs = `Path=/; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
  return [`${SESSION_COOKIE}=; ${attrs}; HttpOnly`, `${CSRF_COOKIE}=; ${attrs}`];
}
