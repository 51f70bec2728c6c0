// Backups (docs/console.md#screens): VMs, then a VM's chains and points with their facts and the
// actions the role allows: restore (a form: ./restore.tsx), verify, protect/unprotect, clear a
// suspect point and forget (both asked first: clear releases the points it kept, forget merges or
// removes the point), browse files, the VM's restore plans, and its last drill (./last-drill.tsx).
// Recover has no API route: not offered here.

import { useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { Chain, Cleared, PlanJson, Point, Task, Vm } from '../api-types.js';
import { age, bytes, time } from '../format.js';
import { useConfirm } from '../parts/confirm.js';
import { Link } from '../parts/link.js';
import { Loading, Refusal, TableBox, useLoad } from '../parts/load.js';
import { navigate } from '../router.js';
import { mayRun, useCan, useSession } from '../session.js';
import { Outcome } from './dashboard.js';
import { LastDrill } from './last-drill.js';

export function Backups() {
  const loaded = useLoad(() => call<{ vms: Vm[] }>('vms'), []);
  return (
    <>
      <h1 tabIndex={-1}>Backups</h1>
      <Loading loaded={loaded}>
        {({ vms }) =>
          vms.length === 0 ? (
            <p class="muted">No VM has a plan or a point yet</p>
          ) : (
            <TableBox label="VMs">
              <thead>
                <tr>
                  <th scope="col">VM</th>
                  <th scope="col">Plans</th>
                  <th scope="col">Points</th>
                  <th scope="col">Chains</th>
                  <th scope="col">Newest point</th>
                </tr>
              </thead>
              <tbody>
                {vms.map((vm) => (
                  <tr key={vm.name}>
                    <th scope="row">
                      <Link href={`/backups/${encodeURIComponent(vm.name)}`}>{vm.name}</Link>
                      {!vm.protectedByPlan && <span class="badge fail">no backup plan</span>}
                    </th>
                    <td>{vm.plans.map((plan) => plan.name).join(', ') || '-'}</td>
                    <td>{vm.points}</td>
                    <td>{vm.chains}</td>
                    <td>
                      {vm.newestPoint ? `${time(vm.newestPoint.takenAt)} (${age(vm.newestPoint.takenAt)})` : 'none'}
                    </td>
                  </tr>
                ))}
              </tbody>
            </TableBox>
          )
        }
      </Loading>
    </>
  );
}

export function VmBackups(props: { readonly vm: string }) {
  const loaded = useLoad(async () => {
    const [chains, plans] = await Promise.all([
      call<{ vm: string; chains: Chain[] }>('chains', { params: { vm: props.vm } }),
      call<{ plans: PlanJson[] }>('plans'),
    ]);
    return {
      chains: chains.chains,
      restorePlans: plans.plans.filter((plan) => plan.kind === 'restore' && plan.vm === props.vm && plan.valid),
    };
  }, [props.vm]);
  const [error, setError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const can = useCan();
  const session = useSession();
  const { dialog, ask } = useConfirm();

  const act = async (what: () => Promise<string | undefined>) => {
    setError(undefined);
    setNotice(undefined);
    try {
      const done = await what();
      if (done) setNotice(done);
    } catch (failure) {
      setError(failure instanceof ApiRefusal ? failure.message : String(failure));
    }
    loaded.reload();
  };
  const protect = (point: Point) =>
    act(async () => {
      await call(point.protected ? 'unprotect' : 'protect', { params: { id: point.id } });
      return `point ${point.id} is ${point.protected ? 'no longer protected' : 'protected'}`;
    });
  const forget = async (point: Point) => {
    const yes = await ask({
      title: `Forget point ${point.id}?`,
      text: `Its data is merged into the next point of the chain, or removed with its files when nothing builds on it. This cannot be undone.`,
      confirm: 'Forget',
    });
    if (!yes) return;
    await act(async () => {
      const task = await call<Task>('forget', { params: { id: point.id }, query: { wait: 'true' } });
      if (task.status !== 'succeeded')
        throw new ApiRefusal(409, task.status, task.error ?? `forget ended ${task.status}`);
      return `point ${point.id} forgotten`;
    });
  };
  const clear = async (point: Point) => {
    const yes = await ask({
      title: `Clear suspect point ${point.id}?`,
      text: `Say you have checked it (${point.suspect ?? ''}). Its record keeps the reasons and names you; the clean points it kept go back to retention, prune and forget.`,
      confirm: 'Clear',
    });
    if (!yes) return;
    await act(async () => {
      const cleared = await call<Cleared>('clear', { params: { id: point.id } });
      return `point ${cleared.backupId} cleared by ${cleared.by}${cleared.released.length > 0 ? `; released ${cleared.released.join(', ')}` : ''}`;
    });
  };
  const verify = (point: Point) =>
    act(async () => {
      const task = await call<Task>('verify', { body: { backup: point.id } });
      navigate(`/tasks/${encodeURIComponent(task.id)}`);
      return undefined;
    });
  const restore = async (plan: PlanJson) => {
    if (
      !(await ask({
        title: `Run restore plan ${plan.name}?`,
        text: "It writes the restored disks over the plan's target.",
        confirm: 'Restore',
      }))
    )
      return;
    await act(async () => {
      const task = await call<Task>('run', { params: { name: plan.name } });
      navigate(`/tasks/${encodeURIComponent(task.id)}?plan=${encodeURIComponent(plan.name)}`);
      return undefined;
    });
  };

  return (
    <>
      <h1 tabIndex={-1}>VM {props.vm}</h1>
      <p>
        <Link href="/backups">All VMs</Link>
      </p>
      <Refusal text={error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <LastDrill vm={props.vm} />
      <Loading loaded={loaded}>
        {({ chains, restorePlans }) => (
          <>
            {restorePlans.some((plan) => mayRun(session, plan)) && (
              <section class="card" aria-labelledby="v-restore">
                <h2 id="v-restore">Restore plans</h2>
                <ul class="plain">
                  {restorePlans.map((plan) => (
                    <li key={plan.name}>
                      {plan.name}{' '}
                      <button type="button" class="small" onClick={() => void restore(plan)}>
                        Restore<span class="sr-only"> with plan {plan.name}</span>
                      </button>
                    </li>
                  ))}
                </ul>
              </section>
            )}
            {chains.length === 0 && <p class="muted">No point of this VM</p>}
            {chains.map((chain) => (
              <section key={chain.id} aria-label={`Chain ${chain.id}`}>
                <h2>
                  Chain {chain.id} <span class="muted small-text">in {chain.repository}</span>
                </h2>
                <TableBox label={`Points of chain ${chain.id}`} stack>
                  <thead>
                    <tr>
                      <th scope="col">Point</th>
                      <th scope="col">Kind</th>
                      <th scope="col">Status</th>
                      <th scope="col">Taken</th>
                      <th scope="col">Size</th>
                      <th scope="col">Verified</th>
                      <th scope="col">Protected</th>
                      <th scope="col">Encrypted</th>
                      <th scope="col">Actions</th>
                    </tr>
                  </thead>
                  <tbody>
                    {chain.points.map((point) => (
                      <tr key={point.id} data-point={point.id}>
                        <th scope="row" class="mono">
                          {point.id}
                        </th>
                        <td data-label="Kind">{point.type}</td>
                        <td data-label="Status">
                          <Outcome status={point.status} />
                          {point.damage && <span class="bad"> {point.damage}</span>}
                          <Suspect point={point} />
                        </td>
                        <td data-label="Taken">
                          {time(point.startedAt).split(' ')[0]}
                          <br />
                          {time(point.startedAt).split(' ')[1]}
                        </td>
                        <td data-label="Size">
                          {bytes(point.bytes)} copied,
                          <br />
                          {bytes(point.onDiskBytes)} on disk
                        </td>
                        <td data-label="Verified">{point.verifiedAt ? age(point.verifiedAt) : 'never'}</td>
                        <td data-label="Protected">
                          {point.protected ? 'yes' : 'no'}
                          {point.heldBy && (
                            <span class="small-text muted held-by">kept for suspect {point.heldBy}</span>
                          )}
                        </td>
                        <td data-label="Encrypted">
                          {point.encrypted === undefined ? '-' : point.encrypted ? 'yes' : 'no'}
                        </td>
                        <td data-label="Actions" class="actions">
                          {can('files') && point.status === 'complete' && (
                            <Link class="button small" href={`/points/${encodeURIComponent(point.id)}/files`}>
                              Files<span class="sr-only"> of point {point.id}</span>
                            </Link>
                          )}
                          {can('restore') && point.status === 'complete' && (
                            <Link class="button small" href={`/points/${encodeURIComponent(point.id)}/restore`}>
                              Restore<span class="sr-only"> point {point.id}</span>
                            </Link>
                          )}
                          {can('verify') && (
                            <button type="button" class="small secondary" onClick={() => void verify(point)}>
                              Verify<span class="sr-only"> point {point.id}</span>
                            </button>
                          )}
                          {can(point.protected ? 'unprotect' : 'protect') && (
                            <button type="button" class="small secondary" onClick={() => void protect(point)}>
                              {point.protected ? 'Unprotect' : 'Protect'}
                              <span class="sr-only"> point {point.id}</span>
                            </button>
                          )}
                          {can('clear') && point.suspect !== null && point.suspectClearedBy === null && (
                            <button type="button" class="small danger" onClick={() => void clear(point)}>
                              Clear<span class="sr-only"> suspect point {point.id}</span>
                            </button>
                          )}
                          {can('forget') && !point.protected && (
                            <button type="button" class="small danger" onClick={() => void forget(point)}>
                              Forget<span class="sr-only"> point {point.id}</span>
                            </button>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </TableBox>
              </section>
            ))}
          </>
        )}
      </Loading>
      {dialog}
    </>
  );
}

// A suspect point (docs/anomaly.md): its badge and reasons; cleared, who cleared it.
function Suspect({ point }: { readonly point: Point }) {
  if (point.suspect === null) return null;
  const cleared = point.suspectClearedBy !== null;
  return (
    <>
      <span class={cleared ? 'badge skip' : 'badge suspect'}>{cleared ? 'suspect, cleared' : 'suspect'}</span>
      <span class="suspect-reason">
        {point.suspect}
        {cleared && ` (cleared by ${point.suspectClearedBy} ${time(point.suspectClearedAt)})`}
      </span>
    </>
  );
}
