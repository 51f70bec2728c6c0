// Client routes (docs/console.md#screens): plain paths in the address bar, so a screen can be
// bookmarked or reloaded; the server answers index.html for any of them.

import { useEffect, useState } from 'preact/hooks';

const CHANGED = 'console:navigate';

export function navigate(to: string): void {
  if (to === location.pathname + location.search) return;
  history.pushState(null, '', to);
  window.dispatchEvent(new Event(CHANGED));
}

/** The current path and query; re-renders on every navigation (links, back, forward). */
export function useLocation(): { readonly path: string; readonly query: URLSearchParams } {
  const [where, setWhere] = useState(() => location.pathname + location.search);
  useEffect(() => {
    const update = () => setWhere(location.pathname + location.search);
    window.addEventListener('popstate', update);
    window.addEventListener(CHANGED, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(CHANGED, update);
    };
  }, []);
  const url = new URL(where, location.origin);
  return { path: url.pathname, query: url.searchParams };
}

export type Route =
  | { readonly screen: 'dashboard' }
  | { readonly screen: 'plans' }
  | { readonly screen: 'task'; readonly id: string }
  | { readonly screen: 'vms' }
  | { readonly screen: 'vm'; readonly vm: string }
  | { readonly screen: 'files'; readonly point: string }
  | { readonly screen: 'restore'; readonly point: string }
  | { readonly screen: 'replicas' }
  | { readonly screen: 'failures' }
  | { readonly screen: 'charts' }
  | { readonly screen: 'not-found' };

export function routeOf(path: string): Route {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { screen: 'dashboard' };
  if (parts[0] === 'plans' && parts.length === 1) return { screen: 'plans' };
  if (parts[0] === 'tasks' && parts.length === 2) return { screen: 'task', id: parts[1] };
  if (parts[0] === 'backups' && parts.length === 1) return { screen: 'vms' };
  if (parts[0] === 'backups' && parts.length === 2) return { screen: 'vm', vm: parts[1] };
  if (parts[0] === 'points' && parts.length === 3 && parts[2] === 'files') return { screen: 'files', point: parts[1] };
  if (parts[0] === 'points' && parts.length === 3 && parts[2] === 'restore')
    return { screen: 'restore', point: parts[1] };
  if (parts[0] === 'replicas' && parts.length === 1) return { screen: 'replicas' };
  if (parts[0] === 'failures' && parts.length === 1) return { screen: 'failures' };
  if (parts[0] === 'charts' && parts.length === 1) return { screen: 'charts' };
  return { screen: 'not-found' };
}
