// Replicas (docs/console.md#screens): each replicate plan's lag and points on its replica node;
// a failover test (a throwaway boot, no network) and a real failover, both asked first: they start
// a VM. The real one needs the admin role.

import { useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { Replica, Task } from '../api-types.js';
import { bytes, duration, time } from '../format.js';
import { useConfirm } from '../parts/confirm.js';
import { Loading, Refusal, TableBox, useLoad } from '../parts/load.js';
import { navigate } from '../router.js';
import { useCan } from '../session.js';

export function Replicas() {
  const loaded = useLoad(() => call<{ replicas: Replica[] }>('replicas'), []);
  const [error, setError] = useState<string | undefined>(undefined);
  const can = useCan();
  const { dialog, ask } = useConfirm();

  const failover = async (replica: Replica, test: boolean) => {
    setError(undefined);
    const yes = await ask(
      test
        ? {
            title: `Test failover of ${replica.plan}?`,
            text: `A throwaway copy of the newest replica point boots on ${replica.replicaNode ?? 'the replica node'}, without network, then is removed.`,
            confirm: 'Start the test',
          }
        : {
            title: `Fail over ${replica.plan} for real?`,
            text: `The replica domain of VM ${replica.vm ?? ''} starts on ${replica.replicaNode ?? 'the replica node'} and syncs of this plan stop. Do this only when the source is lost.`,
            confirm: 'Fail over',
          },
    );
    if (!yes) return;
    try {
      const task = await call<Task>(test ? 'failoverTest' : 'failover', { params: { name: replica.plan } });
      navigate(`/tasks/${encodeURIComponent(task.id)}`);
    } catch (failure) {
      setError(failure instanceof ApiRefusal ? failure.message : String(failure));
    }
  };

  return (
    <>
      <h1 tabIndex={-1}>Replicas</h1>
      <Refusal text={error} />
      <Loading loaded={loaded}>
        {({ replicas }) =>
          replicas.length === 0 ? (
            <p class="muted">No replicate plan has a point yet</p>
          ) : (
            <>
              {replicas.map((replica) => (
                <section class="card" key={replica.plan} aria-labelledby={`r-${replica.plan}`}>
                  <h2 id={`r-${replica.plan}`}>
                    {replica.plan}{' '}
                    <span class="muted small-text">
                      VM {replica.vm ?? '-'} on {replica.replicaNode ?? '-'}
                    </span>
                  </h2>
                  <p>
                    Lag: <strong>{duration(replica.lagSeconds)}</strong>
                    {replica.failover && (
                      <span class="bad">
                        {' '}
                        — failed over at {time(replica.failover.at)} to point {replica.failover.pointId}:{' '}
                        {replica.failover.domain} runs on {replica.failover.node}
                      </span>
                    )}
                  </p>
                  <p class="actions">
                    {can('failoverTest') && (
                      <button type="button" onClick={() => void failover(replica, true)}>
                        Failover test<span class="sr-only"> of {replica.plan}</span>
                      </button>
                    )}
                    {can('failover') && !replica.failover && (
                      <button type="button" class="danger" onClick={() => void failover(replica, false)}>
                        Fail over<span class="sr-only"> {replica.plan}</span>
                      </button>
                    )}
                  </p>
                  <TableBox label={`Points of ${replica.plan}`}>
                    <thead>
                      <tr>
                        <th scope="col">Point</th>
                        <th scope="col">Taken</th>
                        <th scope="col">Age</th>
                        <th scope="col">Kind</th>
                        <th scope="col">Written</th>
                      </tr>
                    </thead>
                    <tbody>
                      {replica.points.map((point) => (
                        <tr key={point.id}>
                          <th scope="row" class="mono">
                            {point.id}
                          </th>
                          <td>{time(point.takenAt)}</td>
                          <td>{duration(point.ageSeconds)}</td>
                          <td>{point.type}</td>
                          <td>{bytes(point.bytes)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </TableBox>
                </section>
              ))}
            </>
          )
        }
      </Loading>
      {dialog}
    </>
  );
}
