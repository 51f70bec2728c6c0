// The API's roles (docs/api.md#tokens-and-roles): each holds every right of the ones before it.
// Reading guest data (files, downloads, serve) starts at restore: an auditor never sees guest bytes.

export const ROLES = ['audit', 'restore', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_RIGHTS: Readonly<Record<Role, string>> = {
  audit: 'read metadata: plans, tasks, runs, backups, replicas, status, history, metrics',
  restore:
    "audit, and read guest data: browse and download a point's files, run restore plans, see a drill's screenshot",
  operator: 'restore, and run plans, dry-run, prune, verify, protect, unprotect, forget, failover --test, cancel tasks',
  admin: 'everything: operator, real failover, doctor, tokens and the audit record',
};

export function isRole(text: string): text is Role {
  return (ROLES as readonly string[]).includes(text);
}

export function roleAllows(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}
