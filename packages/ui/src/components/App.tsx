import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, type ApiError, type SessionInfo, type SignInResult } from '../api.ts';
import { AppContext, type AppContextValue } from '../context.ts';
import type { UiConfig } from '../model.ts';
import { currentRoute, onRouteChange, type Route } from '../router.ts';
import type { Session, SignInMethod } from '../session.ts';
import { CasePage } from './CasePage.tsx';
import { SearchPage } from './SearchPage.tsx';
import { SignIn } from './SignIn.tsx';

type Boot =
  | { state: 'loading' }
  | { state: 'sign-in'; methods: SignInMethod[]; message: string | null }
  | { state: 'ready'; config: UiConfig; method: SessionInfo['method'] }
  | { state: 'error'; message: string };

export function App({ session }: { session: Session }) {
  const [boot, setBoot] = useState<Boot>({ state: 'loading' });
  const [route, setRoute] = useState<Route>(currentRoute());
  const [announcement, setAnnouncement] = useState('');
  const signedIn = useRef(false);
  const start = useRef<(message?: string | null) => Promise<void>>(async () => {});

  useEffect(() => onRouteChange(() => setRoute(currentRoute())), []);

  const api = useMemo(
    () =>
      new Api(session, () => {
        // The session was refused (it ended, or its token was revoked): sign in again.
        if (!signedIn.current) return;
        signedIn.current = false;
        void start.current('Your sign-in has ended (the session expired, or the token was revoked): sign in again.');
      }),
    [session],
  );

  /** Who is this browser? Signed in (a session cookie, a token, or no access control), or not. */
  start.current = async (message: string | null = null) => {
    try {
      const who = await api.whoami();
      if ('signIn' in who) {
        setBoot({ state: 'sign-in', methods: who.signIn, message });
        return;
      }
      const config = await api.uiConfig();
      signedIn.current = true;
      setBoot({ state: 'ready', config, method: who.signedIn.method });
    } catch (err) {
      const e = err as ApiError;
      if (e.status === 401) setBoot({ state: 'sign-in', methods: ['token'], message });
      else if (e.status === 403) setBoot({ state: 'sign-in', methods: ['token'], message: `This sign-in may not read the trail: ${e.message}` });
      else setBoot({ state: 'error', message: e.message });
    }
  };

  useEffect(() => {
    void start.current();
  }, []);

  const announce = useCallback((m: string) => {
    // Cleared first, so the same sentence twice is announced twice.
    setAnnouncement('');
    setTimeout(() => setAnnouncement(m), 50);
  }, []);

  const signOut = async () => {
    signedIn.current = false;
    await api.signOut();
    await start.current('Signed out.');
  };

  /** The token form: the bridge exchanges the token for a session cookie. Resolves with what went wrong, or null. */
  const signInWithToken = async (token: string): Promise<string | null> => {
    const r: SignInResult = await api.signIn(token).catch(() => ({ ok: false as const, status: 0, message: 'The bridge cannot be reached. Is it running?' }));
    if (r.ok) {
      await start.current();
      return null;
    }
    if (r.status === 401) return 'That token was not accepted by this bridge.';
    if (r.status === 429) return `Too many failed sign-ins from this address: try again in ${r.retryAfter ?? 60} s.`;
    return r.message;
  };

  const title = route.page === 'case' ? `Case ${route.id}` : route.page === 'search' ? 'Search' : 'Not found';
  useEffect(() => {
    document.title = `${title} · otel-audit`;
  }, [title]);

  const ctx: AppContextValue | null = boot.state === 'ready' ? { api, config: boot.config, announce } : null;

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/">
          <span class="brand-mark" aria-hidden="true">
            ✓
          </span>
          otel-audit <span class="brand-sub">reviewer's desk</span>
        </a>
        {ctx && (
          <nav aria-label="Main">
            <a href="/" aria-current={route.page === 'search' ? 'page' : undefined}>
              Search
            </a>
          </nav>
        )}
        {ctx && boot.state === 'ready' && <Who config={ctx.config} onSignOut={boot.method !== 'local' ? () => void signOut() : null} />}
      </header>
      <main id="main" tabIndex={-1}>
        {boot.state === 'loading' && <p class="muted" role="status">Connecting to the bridge…</p>}
        {boot.state === 'error' && (
          <div class="notice bad" role="alert">
            <h1>The bridge did not answer</h1>
            <p>{boot.message}</p>
            <button type="button" onClick={() => void start.current()}>
              Try again
            </button>
          </div>
        )}
        {boot.state === 'sign-in' && (
          <SignIn methods={boot.methods} message={boot.message} returnTo={location.pathname + location.search} onToken={signInWithToken} />
        )}
        {ctx && (
          <AppContext.Provider value={ctx}>
            {route.page === 'search' && <SearchPage query={route.query} />}
            {route.page === 'case' && <CasePage key={route.id} id={route.id} focusEventId={route.eventId} />}
            {route.page === 'not-found' && (
              <div class="notice warn">
                <h1>No such page</h1>
                <p>
                  Nothing lives at <code>{route.path}</code>. Cases are at <code>/cases/&lt;case id&gt;</code>; <a href="/">search</a> finds them.
                </p>
              </div>
            )}
          </AppContext.Provider>
        )}
      </main>
      <div class="visually-hidden" role="status" aria-live="polite" aria-atomic="true">
        {announcement}
      </div>
    </>
  );
}

function Who({ config, onSignOut }: { config: UiConfig; onSignOut: (() => void) | null }) {
  const tenants = config.tenants === '*' ? 'all tenants' : config.tenants.length === 1 ? `tenant ${config.tenants[0]}` : `tenants ${config.tenants.join(', ')}`;
  return (
    <div class="who">
      <span>
        <span class="muted">Signed in as</span> <strong>{config.principal}</strong>
        <span class="who-detail">
          {' '}
          · {config.roles.join(', ')} · {tenants}
        </span>
      </span>
      {onSignOut && (
        <button type="button" class="link-button" onClick={onSignOut}>
          Sign out
        </button>
      )}
    </div>
  );
}
