// Who is logged in and what the role may call: the console offers an action only when the
// session's `can` list (GET /api/v1/session) holds its route, so it never offers what the API refuses.

import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Role, Session } from './api-types.js';
import { PATHS, type PathName } from './api-paths.js';

export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === undefined) throw new Error('useSession outside a session');
  return session;
}

export function allows(session: Session, name: PathName): boolean {
  return session.can.includes(PATHS[name]);
}

const ORDER: readonly Role[] = ['audit', 'restore', 'operator', 'admin'];

/** Whether the session's role is this one or higher. */
export function roleAtLeast(session: Session, role: Role): boolean {
  return ORDER.indexOf(session.role) >= ORDER.indexOf(role);
}

/** Whether this session may run the plan: the run route, and the role its kind needs. */
export function mayRun(session: Session, plan: { readonly valid: boolean; readonly runRole?: Role }): boolean {
  return plan.valid && allows(session, 'run') && roleAtLeast(session, plan.runRole ?? 'operator');
}

export function useCan(): (name: PathName) => boolean {
  const session = useSession();
  return (name) => allows(session, name);
}
