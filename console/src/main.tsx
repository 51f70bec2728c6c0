// The web console (docs/console.md): a login with a token, then the screens, each reading the
// hub's API; what the session's role may not do is not offered.

import { render, type ComponentType } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiRefusal, call, useCsrf, whenUnauthorized } from './api.js';
import type { Session } from './api-types.js';
import { Link } from './parts/link.js';
import { routeOf, useLocation, type Route } from './router.js';
import { allows, SessionContext } from './session.js';
import { Backups, VmBackups } from './screens/backups.js';
import { Dashboard } from './screens/dashboard.js';
import { Failures } from './screens/failures.js';
import { Files } from './screens/files.js';
import { RestorePoint } from './screens/restore.js';
import { LoginScreen } from './screens/login.js';
import { Plans } from './screens/plans.js';
import { Replicas } from './screens/replicas.js';
import { TaskView } from './screens/task.js';
import './style.css';

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const refresh = async () => {
    try {
      const found = await call<Session>('session');
      useCsrf(found.csrf);
      setSession(found);
    } catch (error) {
      if (error instanceof ApiRefusal && error.status === 401) setSession(null);
      else setSession(null);
    }
  };
  useEffect(() => {
    whenUnauthorized(() => setSession(null));
    void refresh();
  }, []);
  if (session === undefined) return <p class="muted boot">Loading…</p>;
  if (session === null) return <LoginScreen onLoggedIn={refresh} />;
  return (
    <SessionContext.Provider value={session}>
      <Shell session={session} onLogout={() => setSession(null)} />
    </SessionContext.Provider>
  );
}

const NAV: readonly { readonly href: string; readonly label: string; readonly screens: readonly Route['screen'][] }[] =
  [
    { href: '/', label: 'Dashboard', screens: ['dashboard', 'failures'] },
    { href: '/plans', label: 'Plans', screens: ['plans', 'task'] },
    { href: '/backups', label: 'Backups', screens: ['vms', 'vm', 'files', 'restore'] },
    { href: '/replicas', label: 'Replicas', screens: ['replicas'] },
    { href: '/charts', label: 'Charts', screens: ['charts'] },
  ];

function Shell(props: { readonly session: Session; readonly onLogout: () => void }) {
  const { path, query } = useLocation();
  const route = routeOf(path);
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  // A new screen (or another folder of one): focus its heading, so a screen reader says where the
  // keyboard now is; the link it followed may be gone.
  const search = query.toString();
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [path, search]);
  const logout = async () => {
    await call('logout').catch(() => undefined);
    useCsrf(undefined);
    props.onLogout();
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">sendense-run</span>
        <nav aria-label="Screens">
          <ul>
            {NAV.map((item) => (
              <li key={item.href}>
                <Link href={item.href} aria-current={item.screens.includes(route.screen) ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          {props.session.token} <span class="role">({props.session.role})</span>
          {props.session.via === 'session' && (
            <button type="button" class="small" onClick={() => void logout()}>
              Log out
            </button>
          )}
        </span>
      </header>
      <main id="main" ref={main}>
        <Screen route={route} query={query} session={props.session} />
      </main>
    </>
  );
}

function Screen(props: { readonly route: Route; readonly query: URLSearchParams; readonly session: Session }) {
  const { route } = props;
  switch (route.screen) {
    case 'dashboard':
      return <Dashboard />;
    case 'plans':
      return <Plans />;
    case 'task':
      return <TaskView id={route.id} plan={props.query.get('plan') ?? ''} />;
    case 'vms':
      return <Backups />;
    case 'vm':
      return <VmBackups vm={route.vm} />;
    case 'files':
      if (!allows(props.session, 'files'))
        return (
          <>
            <h1 tabIndex={-1}>Files</h1>
            <p class="refusal" role="alert">
              The {props.session.role} role may not read guest data: browsing a point's files needs the restore role or
              higher.
            </p>
          </>
        );
      // One instance per disk and folder: an answer for the folder before never shows as this one's.
      return (
        <Files
          key={`${route.point}\n${props.query.get('disk') ?? ''}\n${props.query.get('path') ?? ''}`}
          point={route.point}
          disk={props.query.get('disk') ?? ''}
          path={props.query.get('path') ?? ''}
        />
      );
    case 'restore':
      if (!allows(props.session, 'restore'))
        return (
          <>
            <h1 tabIndex={-1}>Restore</h1>
            <p class="refusal" role="alert">
              The {props.session.role} role may not restore: restoring a point needs the restore role or higher.
            </p>
          </>
        );
      return <RestorePoint key={route.point} point={route.point} />;
    case 'replicas':
      return <Replicas />;
    case 'failures':
      return <Failures plan={props.query.get('plan') ?? ''} />;
    case 'charts':
      return <LazyCharts />;
    default:
      return (
        <>
          <h1 tabIndex={-1}>Not found</h1>
          <p>
            No such screen. <Link href="/">Go to the dashboard</Link>.
          </p>
        </>
      );
  }
}

// The charts and their library (uPlot) load only when the screen is opened: the other screens stay small.
function LazyCharts() {
  const [Charts, setCharts] = useState<ComponentType | undefined>(undefined);
  useEffect(() => {
    void import('./screens/charts.js').then((screen) => setCharts(() => screen.Charts));
  }, []);
  if (Charts) return <Charts />;
  return (
    <>
      <h1 tabIndex={-1}>Charts</h1>
      <p class="muted">Loading…</p>
    </>
  );
}

render(<App />, document.getElementById('app')!);
