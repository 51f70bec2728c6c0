// The dashboard (docs/console.md#screens): GET /api/v1/status, what is protected and what failed.

import { call } from '../api.js';
import type { Status } from '../api-types.js';
import { age, bytes, duration, fullBy, time } from '../format.js';
import { Link } from '../parts/link.js';
import { Loading, TableBox, useLoad } from '../parts/load.js';

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
  const now = Date.now();
  return (
    <div class="grid">
      <section aria-labelledby="d-vms" class="card">
        <h2 id="d-vms">VMs</h2>
        <p class="big">
          <strong>{status.vms.withPlan.length}</strong> protected by a plan,{' '}
          <strong class={status.vms.withoutPlan.length > 0 ? 'bad' : ''}>{status.vms.withoutPlan.length}</strong> not
        </p>
        {status.vms.withoutPlan.length > 0 && <p>Without a plan: {status.vms.withoutPlan.join(', ')}</p>}
      </section>
      <section aria-labelledby="d-failures" class="card">
        <h2 id="d-failures">Failures of the last 7 days</h2>
        {status.failuresByPlan.length === 0 ? (
          <p class="good">None</p>
        ) : (
          <>
            <ul class="plain">
              {status.failuresByPlan.map((plan) => (
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
      <section aria-labelledby="d-rpo" class="card">
        <h2 id="d-rpo">RPO missed</h2>
        {status.rpoMissed.length === 0 ? (
          <p class="good">Every scheduled plan has a recent enough point</p>
        ) : (
          <ul class="plain">
            {status.rpoMissed.map((missed) => (
              <li key={missed.plan}>
                <strong>{missed.plan}</strong> ({missed.schedule}): newest point{' '}
                {missed.newestPoint ? `${duration(missed.newestPoint.ageSeconds)} old` : 'none'}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="d-tasks" class="card">
        <h2 id="d-tasks">Running tasks</h2>
        {status.runningTasks.length === 0 ? (
          <p class="muted">None</p>
        ) : (
          <ul class="plain">
            {status.runningTasks.map((task) => (
              <li key={task.id}>
                <Link href={`/tasks/${encodeURIComponent(task.id)}`}>{task.title}</Link> since {time(task.startedAt)}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="d-repos" class="card wide">
        <h2 id="d-repos">Repositories</h2>
        <TableBox label="Repositories">
          <thead>
            <tr>
              <th scope="col">Repository</th>
              <th scope="col">Points</th>
              <th scope="col">Used</th>
              <th scope="col">Free</th>
              <th scope="col">Per day</th>
              <th scope="col">Full by</th>
              <th scope="col">Last verify</th>
            </tr>
          </thead>
          <tbody>
            {status.repositories.map((repository) => (
              <tr key={repository.repository}>
                <td class="path">{repository.repository}</td>
                <td>{repository.points}</td>
                <td>{bytes(repository.usedBytes)}</td>
                <td>{bytes(repository.freeBytes)}</td>
                <td>{bytes(repository.bytesPerDay)}</td>
                <td>{fullBy(repository.estimatedFullAt, now)}</td>
                <td>{age(repository.lastVerifiedAt, now)}</td>
              </tr>
            ))}
          </tbody>
        </TableBox>
      </section>
      <section aria-labelledby="d-plans" class="card wide">
        <h2 id="d-plans">Plans</h2>
        <TableBox label="Plans and their last runs">
          <thead>
            <tr>
              <th scope="col">Plan</th>
              <th scope="col">VM</th>
              <th scope="col">Last run</th>
              <th scope="col">Newest point</th>
              <th scope="col">Next run</th>
            </tr>
          </thead>
          <tbody>
            {status.plans.map((plan) => (
              <tr key={plan.plan}>
                <td>{plan.plan}</td>
                <td>{plan.vm}</td>
                <td>
                  {plan.running ? (
                    <span class="badge run">running</span>
                  ) : plan.lastRun ? (
                    <Outcome status={plan.lastRun.status} />
                  ) : (
                    'never'
                  )}
                  {plan.lastRun && !plan.running && ` ${time(plan.lastRun.startedAt)}`}
                </td>
                <td>{plan.newestPoint ? `${duration(plan.newestPoint.ageSeconds)} old` : 'none'}</td>
                <td>{time(plan.nextRun)}</td>
              </tr>
            ))}
          </tbody>
        </TableBox>
      </section>
      <section aria-labelledby="d-replicas" class="card wide">
        <h2 id="d-replicas">Replicas</h2>
        {status.replicas.length === 0 ? (
          <p class="muted">No replicate plan has a point yet</p>
        ) : (
          <ul class="plain">
            {status.replicas.map((replica) => (
              <li key={replica.plan}>
                <strong>{replica.plan}</strong> on {replica.replicaNode ?? '-'}: {duration(replica.lagSeconds)} behind
                {replica.failover && <span class="bad"> (failed over)</span>}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="d-runs" class="card wide">
        <h2 id="d-runs">Last runs</h2>
        <TableBox label="Last runs">
          <thead>
            <tr>
              <th scope="col">Plan</th>
              <th scope="col">Outcome</th>
              <th scope="col">Started</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {status.lastRuns.map((run) => (
              <tr key={run.id}>
                <td>{run.plan}</td>
                <td>
                  <Outcome status={run.status} />
                </td>
                <td>{time(run.startedAt)}</td>
                <td class="wrap">{run.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </TableBox>
      </section>
    </div>
  );
}

export function Outcome(props: { readonly status: string }) {
  const tone =
    props.status === 'succeeded' || props.status === 'complete'
      ? 'ok'
      : props.status === 'running'
        ? 'run'
        : props.status === 'skipped'
          ? 'skip'
          : 'fail';
  return <span class={`badge ${tone}`}>{props.status}</span>;
}
