/**
 * The UI's calls to the query API (same origin). Errors are the API's own `{"error": "..."}`
 * messages, with the HTTP status; a 401 also tells the app that the reviewer must sign in (again).
 */
import type { AuditEvent, CaseSummary, EventPage, SealedContent, UiConfig } from './model.ts';
import type { Session, SignInMethod } from './session.ts';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** A file the API answered with, ready to be saved. */
export interface Download {
  blob: Blob;
  filename: string;
}

export type Query = Record<string, string | number | undefined | null>;

/** GET /api/v1/session: who is signed in, and how. */
export interface SessionInfo {
  name: string;
  roles: string[];
  tenants: string[] | '*';
  /** `token` / `oidc`: a session cookie; `bearer`: an Authorization header; `local`: no access control. */
  method: 'token' | 'oidc' | 'bearer' | 'local';
  sign_in: SignInMethod[];
}

/** Who the browser is: signed in, or not (and the ways to sign in). */
export type Whoami = { signedIn: SessionInfo } | { signIn: SignInMethod[]; message: string };

/** What a sign-in with a token came to. */
export type SignInResult = { ok: true } | { ok: false; status: number; message: string; retryAfter?: number };

/** `?a=1&b=x` of the non-empty values. */
export function queryString(q: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const caseUrl = (id: string) => `/api/v1/cases/${encodeURIComponent(id)}`;

export class Api {
  private readonly session: Session;
  private readonly onUnauthorized: (message: string) => void;

  constructor(session: Session, onUnauthorized: (message: string) => void) {
    this.session = session;
    this.onUnauthorized = onUnauthorized;
  }

  private async call(path: string, init: RequestInit = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(path, this.session.init(init));
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError(0, 'The bridge cannot be reached. Is it running?');
    }
    if (res.ok) return res;
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: string };
      if (body.error) message = body.error;
    } catch {
      // Not JSON: keep the status line.
    }
    if (res.status === 401) this.onUnauthorized(message);
    throw new ApiError(res.status, message);
  }

  async json<T>(path: string, init?: RequestInit): Promise<T> {
    return (await (await this.call(path, { ...init, headers: { accept: 'application/json', ...(init?.headers as Record<string, string>) } })).json()) as T;
  }

  /** A file (CSV export, evidence pack), named as the API's content-disposition says. */
  async download(path: string, fallbackName = 'download', signal?: AbortSignal): Promise<Download> {
    const res = await this.call(path, { signal });
    const disposition = res.headers.get('content-disposition') ?? '';
    const name = /filename\*=UTF-8''([^;]+)/i.exec(disposition)?.[1] ?? /filename="?([^";]+)"?/i.exec(disposition)?.[1];
    let filename = fallbackName;
    if (name) {
      try {
        filename = decodeURIComponent(name);
      } catch {
        filename = name;
      }
    }
    return { blob: await res.blob(), filename };
  }

  /** GET /api/v1/session (public): 401 is an answer here, not a failure. */
  async whoami(): Promise<Whoami> {
    let res: Response;
    try {
      res = await fetch('/api/v1/session', this.session.init({ headers: { accept: 'application/json' } }));
    } catch {
      throw new ApiError(0, 'The bridge cannot be reached. Is it running?');
    }
    const body = (await res.json().catch(() => ({}))) as Partial<SessionInfo> & { error?: string };
    if (res.ok) return { signedIn: body as SessionInfo };
    if (res.status === 401) return { signIn: body.sign_in ?? ['token'], message: body.error ?? 'not signed in' };
    throw new ApiError(res.status, body.error ?? `${res.status} ${res.statusText}`);
  }

  /** POST /api/v1/session {"token"}: the bridge sets the session cookie. */
  async signIn(token: string): Promise<SignInResult> {
    const res = await fetch('/api/v1/session', this.session.init({ method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ token }) }));
    if (res.ok) return { ok: true };
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    const retry = Number(res.headers.get('retry-after'));
    return { ok: false, status: res.status, message: body.error ?? `${res.status} ${res.statusText}`, retryAfter: Number.isFinite(retry) && retry > 0 ? retry : undefined };
  }

  /** DELETE /api/v1/session (with the CSRF token): ends the session and removes its cookies. */
  async signOut(): Promise<void> {
    try {
      await fetch('/api/v1/session', this.session.init({ method: 'DELETE' }));
    } catch {
      // The bridge is gone: the cookie will be refused anyway.
    }
  }

  uiConfig(): Promise<UiConfig> {
    return this.json<UiConfig>('/api/v1/ui-config');
  }

  events(q: Query, signal?: AbortSignal): Promise<EventPage> {
    return this.json<EventPage>(`/api/v1/events${queryString({ ...q, format: 'json' })}`, { signal });
  }

  caseSummary(id: string, withIntegrity: boolean, signal?: AbortSignal): Promise<CaseSummary> {
    return this.json<CaseSummary>(`${caseUrl(id)}${withIntegrity ? '' : '?integrity=0'}`, { signal });
  }

  caseEvents(id: string, cursor: string | null, limit: number, signal?: AbortSignal): Promise<EventPage> {
    return this.json<EventPage>(`${caseUrl(id)}/events${queryString({ cursor, limit })}`, { signal });
  }

  event(id: string): Promise<{ event: AuditEvent }> {
    return this.json(`/api/v1/events/${encodeURIComponent(id)}`);
  }

  sealedContent(eventId: string): Promise<SealedContent> {
    return this.json<SealedContent>(`/api/v1/events/${encodeURIComponent(eventId)}/content`);
  }
}
