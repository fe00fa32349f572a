/**
 * How the UI's calls are authenticated (docs/security.md, "Signing in").
 *
 * A browser signs in once and then holds the bridge's session cookie: the token form posts the
 * token to `POST /api/v1/session`, and the bridge answers with an HttpOnly, SameSite=Strict
 * session cookie (the token is not kept by the page: not in memory, not in any storage), or
 * OpenID Connect signs the person in at `/api/v1/oidc/login`. Every call is made with
 * `credentials: 'same-origin'`, so the cookie goes along, and echoes the session's CSRF token
 * (the `otel_audit_csrf` cookie, readable by the page on purpose) in `X-CSRF-Token`, which the
 * bridge asks of every cookie-authenticated request but GET. Without an auth file the bridge
 * needs no sign-in at all.
 */

/** The session's CSRF cookie, and the header it is echoed in. */
export const CSRF_COOKIE = 'otel_audit_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** The ways a bridge offers to sign in (GET /api/v1/session's `sign_in`). */
export type SignInMethod = 'token' | 'oidc';

export class Session {
  private readonly cookies: () => string;

  constructor(cookies: () => string = () => '') {
    this.cookies = cookies;
  }

  /** The session of this browser. */
  static forBrowser(): Session {
    return new Session(() => document.cookie);
  }

  /** Headers for a call: the session's CSRF token, when there is a session. */
  headers(): Record<string, string> {
    const csrf = readCookie(this.cookies(), CSRF_COOKIE);
    return csrf ? { [CSRF_HEADER]: csrf } : {};
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
