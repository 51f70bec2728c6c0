// Replicas (docs/console.md#screens): each replicate plan's lag and points on its replica node;
// a failover test (a throwaway boot, no network) and a real failover, both asked first: they start
// a VM. The real one needs the admin role.

import { useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { Replica, Task } from '../api-types.js';
import { useConfirm, type Question } from '../parts/confirm.js';
import { Loading, Refusal, useLoad } from '../parts/load.js';
import { navigate } from '../router.js';
import { ReplicaCard } from './replica-card.js';

export function Replicas() {
  const loaded = useLoad(() => call<{ replicas: Replica[] }>('replicas'), []);
  const [error, setError] = useState<string | undefined>(undefined);
  const { dialog, ask } = useConfirm();

  const failover = async (replica: Replica, test: boolean) => {
    setError(undefined);
    if (!(await ask(failoverQuestion(replica, test)))) return;
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
                <ReplicaCard key={replica.plan} replica={replica} failover={failover} />
              ))}
            </>
          )
        }
      </Loading>
      {dialog}
    </>
  );
}

function failoverQuestion(replica: Replica, test: boolean): Question {
  return test
    ? {
        title: `Test failover of ${replica.plan}?`,
        text: `A throwaway copy of the newest replica point boots on ${replica.replicaNode ?? 'the replica node'}, without network, then is removed.`,
        confirm: 'Start the test',
      }
    : {
        title: `Fail over ${replica.plan} for real?`,
        text: `The replica domain of VM ${replica.vm ?? ''} starts on ${replica.replicaNode ?? 'the replica node'} and syncs of this plan stop. Do this only when the source is lost.`,
        confirm: 'Fail over',
      };
}
