// Every API route the console calls, as the route table names it ("METHOD /api/v1/path/:param"):
// what the session's `can` list is matched against, and what the console test checks against the
// OpenAPI document.

export const PATHS = {
  session: 'GET /api/v1/session',
  login: 'POST /api/v1/login',
  logout: 'POST /api/v1/logout',
  status: 'GET /api/v1/status',
  trends: 'GET /api/v1/trends',
  ack: 'POST /api/v1/runs/:id/ack',
  plans: 'GET /api/v1/plans',
  plan: 'GET /api/v1/plans/:name',
  run: 'POST /api/v1/plans/:name/run',
  dryRun: 'POST /api/v1/plans/:name/dry-run',
  task: 'GET /api/v1/tasks/:id',
  tasks: 'GET /api/v1/tasks',
  taskEvents: 'GET /api/v1/tasks/:id/events',
  cancel: 'POST /api/v1/tasks/:id/cancel',
  vms: 'GET /api/v1/vms',
  chains: 'GET /api/v1/vms/:vm/chains',
  drills: 'GET /api/v1/vms/:vm/drills',
  drillScreenshot: 'GET /api/v1/drills/:run/screenshot',
  point: 'GET /api/v1/backups/:id',
  protect: 'POST /api/v1/backups/:id/protect',
  unprotect: 'POST /api/v1/backups/:id/unprotect',
  forget: 'POST /api/v1/backups/:id/forget',
  clear: 'POST /api/v1/backups/:id/clear',
  verify: 'POST /api/v1/verify',
  restore: 'POST /api/v1/backups/:id/restore',
  serve: 'POST /api/v1/backups/:id/serve',
  files: 'GET /api/v1/backups/:id/files',
  download: 'GET /api/v1/backups/:id/files/download',
  archive: 'GET /api/v1/backups/:id/files/archive',
  replicas: 'GET /api/v1/replicas',
  failoverTest: 'POST /api/v1/plans/:name/failover-test',
  failover: 'POST /api/v1/plans/:name/failover',
  failback: 'POST /api/v1/plans/:name/failback',
} as const;

export type PathName = keyof typeof PATHS;

/** The URL of a route with its params filled in (each encoded). */
export function urlOf(
  name: PathName,
  params: Readonly<Record<string, string>> = {},
  query: Readonly<Record<string, string>> = {},
): string {
  const url = PATHS[name]
    .split(' ')[1]
    .replace(/:([A-Za-z]+)/g, (_all, key: string) => encodeURIComponent(params[key] ?? ''));
  const search = new URLSearchParams(query).toString();
  return search ? `${url}?${search}` : url;
}
