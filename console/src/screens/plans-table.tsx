// The plans as a table: each plan's kind, VM, schedule, next run and last outcome, its name opening
// its detail, and Run now and Dry-run where the session's role may.

import type { PlanJson, Status } from '../api-types.js';
import { time } from '../format.js';
import { TableBox } from '../parts/load.js';
import { Outcome } from '../parts/outcome.js';
import { mayRun, useCan, useSession } from '../session.js';

export interface PlansTableProps {
  readonly plans: readonly PlanJson[];
  readonly status: Status;
  readonly open: string | undefined;
  readonly setOpen: (name: string | undefined) => void;
  readonly start: (plan: PlanJson, dryRun: boolean) => Promise<void>;
}

export function PlansTable(props: PlansTableProps) {
  return (
    <TableBox label="Plans" stack>
      <thead>
        <tr>
          <th scope="col">Plan</th>
          <th scope="col">Kind</th>
          <th scope="col">VM</th>
          <th scope="col">Schedule</th>
          <th scope="col">Next run</th>
          <th scope="col">Last outcome</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        {props.plans.map((plan) => (
          <PlanRow key={plan.name} plan={plan} {...props} />
        ))}
      </tbody>
    </TableBox>
  );
}

function PlanRow(props: PlansTableProps & { readonly plan: PlanJson }) {
  const { plan, open, setOpen, start } = props;
  const can = useCan();
  const session = useSession();
  const facts = props.status.plans.find((line) => line.plan === plan.name);
  const runnable = mayRun(session, plan);
  return (
    <tr>
      <th scope="row">
        <button
          type="button"
          class="linkish"
          aria-expanded={open === plan.name}
          onClick={() => setOpen(open === plan.name ? undefined : plan.name)}
        >
          {plan.name}
        </button>
        {!plan.valid && <span class="badge fail">invalid</span>}
      </th>
      <td data-label="Kind">{plan.kind ?? '-'}</td>
      <td data-label="VM">{plan.vm ?? '-'}</td>
      <td data-label="Schedule">
        <code>{plan.schedule ?? 'none'}</code>
        {plan.timezone ? ` ${plan.timezone}` : ''}
      </td>
      <td data-label="Next run">{time(facts?.nextRun)}</td>
      <td data-label="Last outcome">
        {facts?.running ? (
          <Outcome status="running" />
        ) : facts?.lastRun ? (
          <Outcome status={facts.lastRun.status} />
        ) : (
          'never'
        )}
      </td>
      <td data-label="Actions" class="actions">
        {runnable && (
          <button type="button" onClick={() => void start(plan, false)}>
            Run now<span class="sr-only"> {plan.name}</span>
          </button>
        )}
        {plan.valid && can('dryRun') && (
          <button type="button" class="secondary" onClick={() => void start(plan, true)}>
            Dry-run<span class="sr-only"> {plan.name}</span>
          </button>
        )}
      </td>
    </tr>
  );
}
