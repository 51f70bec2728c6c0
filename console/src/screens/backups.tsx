// Backups (docs/console.md#screens): VMs, then a VM's chains and points with their facts and the
// actions the role allows (./chain-points.tsx, ./point-actions.tsx): restore (a form: ./restore.tsx),
// verify, protect/unprotect, clear a suspect point and forget (both asked first: clear releases the
// points it kept, forget merges or removes the point), browse files, the VM's restore plans, and its
// last drill (./last-drill.tsx); serve a point (instant recovery export, a task); the VM's restore and
// recover plans, failover test and failback of its replicate plans (./vm-plans.tsx).

import { call } from '../api.js';
import type { Chain, PlanJson, Vm } from '../api-types.js';
import { age, time } from '../format.js';
import { Link } from '../parts/link.js';
import { Loading, Refusal, TableBox, useLoad } from '../parts/load.js';
import { ChainPoints } from './chain-points.js';
import { LastDrill } from './last-drill.js';
import { usePointActions } from './point-actions.js';
import { VmPlans } from './vm-plans.js';

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
      vmPlans: plans.plans.filter((plan) => plan.vm === props.vm && plan.valid),
    };
  }, [props.vm]);
  const actions = usePointActions(loaded.reload);
  return (
    <>
      <h1 tabIndex={-1}>VM {props.vm}</h1>
      <p>
        <Link href="/backups">All VMs</Link>
      </p>
      <Refusal text={actions.error} />
      {actions.notice && (
        <p class="notice" role="status">
          {actions.notice}
        </p>
      )}
      <LastDrill vm={props.vm} />
      <Loading loaded={loaded}>
        {({ chains, vmPlans }) => (
          <>
            <VmPlans plans={vmPlans} actions={actions} />
            {chains.length === 0 && <p class="muted">No point of this VM</p>}
            {chains.map((chain) => (
              <ChainPoints key={chain.id} chain={chain} actions={actions} />
            ))}
          </>
        )}
      </Loading>
      {actions.dialog}
    </>
  );
}
