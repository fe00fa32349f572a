/**
 * How the UI's calls are authenticated (docs/security.md, "Signing in").
 *
 * A browser signs in once and then holds the bridge's session cookie: the token form posts the
 * token to `POST /api/v1/session` (the bridge answers with an HttpOnly, SameSite=Strict session
 * cookie; the token never stays in the page), or OpenID Connect signs the person in at
 * `/api/v1/oidc/login`. Every call is made with `credentials: 'same-origin'`, so the cookie goes
 * along, and echoes the session's CSRF token (the `otel_audit_csrf` cookie) in `X-CSRF-Token`,
 * which the bridge asks of every cookie-authenticated request but GET.
 *
 * A bridge without the session routes (older) gets the token itself instead: kept in memory and
 * in this tab's sessionStorage (gone with the tab; never localStorage or a cookie of ours) and
 * sent as `Authorization: Bearer`.
 */

/** The sessionStorage key of a bearer token (the fallback). */
export const TOKEN_KEY = 'otel-audit.token';
/** The session's CSRF cookie, and the header it is echoed in. */
export const CSRF_COOKIE = 'otel_audit_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** The ways a bridge offers to sign in (GET /api/v1/session's `sign_in`). */
export type SignInMethod = 'token' | 'oidc';

/** The part of the Web Storage API the session uses (sessionStorage; a Map in tests). */
export interface TokenStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class Session {
  private token: string | null;
  private readonly store: TokenStore | null;
  private readonly cookies: () => string;

  constructor(store: TokenStore | null, cookies: () => string = () => '') {
    this.store = store;
    this.cookies = cookies;
    let saved: string | null = null;
    try {
      saved = store?.getItem(TOKEN_KEY) ?? null;
    } catch {
      // Storage can be refused (privacy settings): the token then lives in memory only.
    }
    this.token = saved;
  }

  /** The session of this browser tab. */
  static forBrowser(): Session {
    let store: TokenStore | null = null;
    try {
      store = window.sessionStorage;
    } catch {
      store = null;
    }
    return new Session(store, () => document.cookie);
  }

  /** Whether calls carry a bearer token (the fallback for a bridge without sessions). */
  get hasToken(): boolean {
    return this.token !== null;
  }

  /** Sets (or, with null, forgets) the bearer token. */
  setToken(token: string | null): void {
    this.token = token && token.trim() ? token.trim() : null;
    try {
      if (this.token) this.store?.setItem(TOKEN_KEY, this.token);
      else this.store?.removeItem(TOKEN_KEY);
    } catch {
      // In memory only.
    }
  }

  /** Headers for a call: the bearer token if there is one, and the session's CSRF token. */
  headers(): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.token) h.authorization = `Bearer ${this.token}`;
    const csrf = readCookie(this.cookies(), CSRF_COOKIE);
    if (csrf) h[CSRF_HEADER] = csrf;
    return h;
  }

  /** fetch() options for an API call: same-origin credentials (the session cookie) and the headers. */
  init(init: RequestInit = {}): RequestInit {
    return { ...init, credentials: 'same-origin', headers: { ...this.headers(), ...(init.headers as Record<string, string> | undefined) } };
  }
}

/** The value of one cookie in a `document.cookie` string. */
export function readCookie(cookies: string, name: string): string | null {
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return part.slice(eq + 1).trim();
      }
    }
  }
  return null;
}

/** The address that starts an OpenID Connect sign-in and comes back to `returnTo`. */
export function oidcLoginUrl(returnTo: string): string {
  const back = returnTo.startsWith('/') && !returnTo.startsWith('//') ? returnTo : '/';
  return `/api/v1/oidc/login?return_to=${encodeURIComponent(back)}`;
}
