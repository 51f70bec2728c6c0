// The dashboard (docs/console.md#screens): GET /api/v1/status, what is protected and what failed.

import { call } from '../api.js';
import type { Status } from '../api-types.js';
import { Loading, useLoad } from '../parts/load.js';
import { FailuresCard, ReplicasCard, RpoCard, RunningTasksCard, VmsCard } from './dashboard-cards.js';
import { LastRunsTable, PlansTable, RepositoriesTable } from './dashboard-tables.js';

// Other screens take the badge from here too.
export { Outcome } from '../parts/outcome.js';

export function Dashboard() {
  const loaded = useLoad(() => call<Status>('status'), []);
  return (
    <>
      <h1 tabIndex={-1}>Dashboard</h1>
      <Loading loaded={loaded}>{(status) => <Facts status={status} />}</Loading>
    </>
  );
}

function Facts({ status }: { readonly status: Status }) {
  return (
    <div class="grid">
      <VmsCard vms={status.vms} />
      <FailuresCard failures={status.failuresByPlan} />
      <RpoCard missed={status.rpoMissed} />
      <RunningTasksCard tasks={status.runningTasks} />
      <RepositoriesTable repositories={status.repositories} now={Date.now()} />
      <PlansTable plans={status.plans} />
      <ReplicasCard replicas={status.replicas} />
      <LastRunsTable runs={status.lastRuns} />
    </div>
  );
}
