/**
 * The UI's pages and their addresses. The bridge answers every page address with the same
 * index.html (api/routes/ui.ts); the app reads the path:
 *
 *   /                        search (filters in the query string: /?type=approval&actor=lead-7)
 *   /cases/<correlation-id>  a case (?event=<event id> scrolls to one of its events)
 *
 * A case address is stable: it is what a reviewer pastes into a ticket.
 */

export type Route = { page: 'search'; query: URLSearchParams } | { page: 'case'; id: string; eventId: string | null } | { page: 'not-found'; path: string };

export function parseRoute(pathname: string, search: string): Route {
  const query = new URLSearchParams(search);
  if (pathname === '/' || pathname === '' || pathname === '/index.html') return { page: 'search', query };
  const m = /^\/cases\/([^/]+)\/?$/.exec(pathname);
  if (m) {
    let id: string;
    try {
      id = decodeURIComponent(m[1]);
    } catch {
      id = m[1];
    }
    return { page: 'case', id, eventId: query.get('event') };
  }
  return { page: 'not-found', path: pathname };
}

type Listener = () => void;
const listeners = new Set<Listener>();

export function currentRoute(): Route {
  return parseRoute(location.pathname, location.search);
}

/** Goes to an address of the app without reloading the page. */
export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  for (const l of listeners) l();
  if (!replace) window.scrollTo(0, 0);
}

export function onRouteChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** Follows same-origin links to app pages inside the app (not downloads, new tabs, or /api). */
export function installLinkInterception(): void {
  window.addEventListener('popstate', () => {
    for (const l of listeners) l();
  });
  document.addEventListener('click', (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const a = (ev.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
    if (a.pathname.startsWith('/api/') || a.pathname.startsWith('/assets/')) return;
    ev.preventDefault();
    navigate(a.pathname + a.search + a.hash);
  });
}
