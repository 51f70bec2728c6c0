// A VM's plans that act on it at once (docs/console.md#screens), each with the buttons the role
// allows: restore plans and recover plans (instant recovery: run now, asked first), replicate plans
// (a failover test; a failback, asked first). None the role may use: nothing shown.

import type { PlanJson } from '../api-types.js';
import { mayRun, useCan, useSession } from '../session.js';
import type { PointActions } from './point-actions.js';

export function VmPlans({ plans, actions }: { readonly plans: readonly PlanJson[]; readonly actions: PointActions }) {
  const session = useSession();
  const can = useCan();
  const runnable = plans.filter(
    (plan) => (plan.kind === 'restore' || plan.kind === 'recover') && mayRun(session, plan),
  );
  const replicated = plans.filter((plan) => plan.kind === 'replicate' && (can('failoverTest') || can('failback')));
  if (runnable.length === 0 && replicated.length === 0) return null;
  return (
    <section class="card" aria-labelledby="v-plans">
      <h2 id="v-plans">Restore, recover and failover</h2>
      <ul class="plain">
        {runnable.map((plan) => (
          <li key={plan.name}>
            {plan.name} <span class="muted small-text">{plan.kind}</span>{' '}
            <button type="button" class="small" onClick={() => void actions.runPlan(plan)}>
              {plan.kind === 'recover' ? 'Recover' : 'Restore'}
              <span class="sr-only"> with plan {plan.name}</span>
            </button>
          </li>
        ))}
        {replicated.map((plan) => (
          <li key={plan.name}>
            {plan.name} <span class="muted small-text">replicate</span>{' '}
            {can('failoverTest') && (
              <button type="button" class="small secondary" onClick={() => void actions.failoverTest(plan)}>
                Failover test<span class="sr-only"> of plan {plan.name}</span>
              </button>
            )}{' '}
            {can('failback') && (
              <button type="button" class="small danger" onClick={() => void actions.failback(plan)}>
                Failback<span class="sr-only"> of plan {plan.name}</span>
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
