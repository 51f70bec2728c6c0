// The dashboard's tables: repositories and their room, plans and their last runs, the last runs.

import type { Status } from '../api-types.js';
import { age, bytes, duration, fullBy, time } from '../format.js';
import { TableBox } from '../parts/load.js';
import { Outcome } from '../parts/outcome.js';

export function RepositoriesTable(props: { readonly repositories: Status['repositories']; readonly now: number }) {
  const { now } = props;
  return (
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
          {props.repositories.map((repository) => (
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
  );
}

export function PlansTable({ plans }: { readonly plans: Status['plans'] }) {
  return (
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
          {plans.map((plan) => (
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
  );
}

export function LastRunsTable({ runs }: { readonly runs: Status['lastRuns'] }) {
  return (
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
          {runs.map((run) => (
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
  );
}
