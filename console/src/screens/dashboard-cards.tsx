// The dashboard's cards: VMs with and without a plan, failures, missed RPOs, running tasks, replicas.

import type { Status } from '../api-types.js';
import { duration, time } from '../format.js';
import { Link } from '../parts/link.js';

export function VmsCard({ vms }: { readonly vms: Status['vms'] }) {
  return (
    <section aria-labelledby="d-vms" class="card">
      <h2 id="d-vms">VMs</h2>
      <p class="big">
        <strong>{vms.withPlan.length}</strong> protected by a plan,{' '}
        <strong class={vms.withoutPlan.length > 0 ? 'bad' : ''}>{vms.withoutPlan.length}</strong> not
      </p>
      {vms.withoutPlan.length > 0 && <p>Without a plan: {vms.withoutPlan.join(', ')}</p>}
    </section>
  );
}

export function FailuresCard({ failures }: { readonly failures: Status['failuresByPlan'] }) {
  return (
    <section aria-labelledby="d-failures" class="card">
      <h2 id="d-failures">Failures of the last 7 days</h2>
      {failures.length === 0 ? (
        <p class="good">None</p>
      ) : (
        <>
          <ul class="plain">
            {failures.map((plan) => (
              <li key={plan.plan}>
                <Link href={`/failures?plan=${encodeURIComponent(plan.plan)}`}>{plan.plan}</Link>:{' '}
                <span class={plan.open > 0 ? 'bad' : 'muted'}>{plan.open} open</span>
                {plan.acknowledged > 0 && <span class="muted">, {plan.acknowledged} acknowledged</span>}
              </li>
            ))}
          </ul>
          <p>
            <Link href="/failures">All failures of the last 7 days</Link>
          </p>
        </>
      )}
    </section>
  );
}

export function RpoCard({ missed }: { readonly missed: Status['rpoMissed'] }) {
  return (
    <section aria-labelledby="d-rpo" class="card">
      <h2 id="d-rpo">RPO missed</h2>
      {missed.length === 0 ? (
        <p class="good">Every scheduled plan has a recent enough point</p>
      ) : (
        <ul class="plain">
          {missed.map((plan) => (
            <li key={plan.plan}>
              <strong>{plan.plan}</strong> ({plan.schedule}): newest point{' '}
              {plan.newestPoint ? `${duration(plan.newestPoint.ageSeconds)} old` : 'none'}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function RunningTasksCard({ tasks }: { readonly tasks: Status['runningTasks'] }) {
  return (
    <section aria-labelledby="d-tasks" class="card">
      <h2 id="d-tasks">Running tasks</h2>
      {tasks.length === 0 ? (
        <p class="muted">None</p>
      ) : (
        <ul class="plain">
          {tasks.map((task) => (
            <li key={task.id}>
              <Link href={`/tasks/${encodeURIComponent(task.id)}`}>{task.title}</Link> since {time(task.startedAt)}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function ReplicasCard({ replicas }: { readonly replicas: Status['replicas'] }) {
  return (
    <section aria-labelledby="d-replicas" class="card wide">
      <h2 id="d-replicas">Replicas</h2>
      {replicas.length === 0 ? (
        <p class="muted">No replicate plan has a point yet</p>
      ) : (
        <ul class="plain">
          {replicas.map((replica) => (
            <li key={replica.plan}>
              <strong>{replica.plan}</strong> on {replica.replicaNode ?? '-'}: {duration(replica.lagSeconds)} behind
              {replica.failover && <span class="bad"> (failed over)</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
