// Plans (docs/console.md#screens): each served plan's schedule, next runs and last outcome; run now
// and dry-run start a task and open its live view. Run is offered where the plan's runRole allows
// (the restore role runs restore plans and no other), and restore plans ask first: they overwrite
// their target.

import { useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { PlanJson, Status, Task } from '../api-types.js';
import { time } from '../format.js';
import { useConfirm, type Question } from '../parts/confirm.js';
import { Link } from '../parts/link.js';
import { Loading, Refusal, TableBox, useLoad } from '../parts/load.js';
import { navigate } from '../router.js';
import { mayRun, useCan, useSession } from '../session.js';
import { Outcome } from './dashboard.js';

export function Plans() {
  const loaded = useLoad(async () => {
    const [plans, status, tasks] = await Promise.all([
      call<{ plans: PlanJson[]; problems: string[] }>('plans'),
      call<Status>('status'),
      call<{ tasks: Task[] }>('tasks', { query: { limit: '10' } }),
    ]);
    return { ...plans, status, tasks: tasks.tasks };
  }, []);
  const [error, setError] = useState<string | undefined>(undefined);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const can = useCan();
  const session = useSession();
  const { dialog, ask } = useConfirm();

  const start = async (plan: PlanJson, dryRun: boolean) => {
    setError(undefined);
    const question = dryRun ? undefined : runQuestion(plan);
    if (question && !(await ask(question))) return;
    try {
      const task = await call<Task>(dryRun ? 'dryRun' : 'run', { params: { name: plan.name } });
      // A run's task view lists the plan's steps before the run's first event (?plan=).
      navigate(`/tasks/${encodeURIComponent(task.id)}${dryRun ? '' : `?plan=${encodeURIComponent(plan.name)}`}`);
    } catch (failure) {
      setError(failure instanceof ApiRefusal ? failure.message : String(failure));
    }
  };

  return (
    <>
      <h1 tabIndex={-1}>Plans</h1>
      <Refusal text={error} />
      <Loading loaded={loaded}>
        {({ plans, problems, status, tasks }) => (
          <>
            {problems.map((problem) => (
              <p key={problem} class="refusal">
                {problem}
              </p>
            ))}
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
                {plans.map((plan) => {
                  const facts = status.plans.find((line) => line.plan === plan.name);
                  const runnable = mayRun(session, plan);
                  return (
                    <tr key={plan.name}>
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
                })}
              </tbody>
            </TableBox>
            {open && <PlanDetail name={open} />}
            <h2>Recent tasks</h2>
            {tasks.length === 0 ? (
              <p class="muted">No task has been started through the API yet</p>
            ) : (
              <ul class="plain">
                {tasks.map((task) => (
                  <li key={task.id}>
                    <Link href={`/tasks/${encodeURIComponent(task.id)}`}>{task.title}</Link>{' '}
                    <Outcome status={task.status} /> {time(task.startedAt)}
                    {task.token ? ` by ${task.token}` : ''}
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </Loading>
      {dialog}
    </>
  );
}

function runQuestion(plan: PlanJson): Question | undefined {
  if (plan.kind === 'restore')
    return {
      title: `Run restore plan ${plan.name}?`,
      text: `It writes the restored disks over the plan's target${plan.vm ? ` for VM ${plan.vm}` : ''}.`,
      confirm: 'Restore',
    };
  if (plan.kind === 'recover')
    return {
      title: `Run recover plan ${plan.name}?`,
      text: 'It defines and starts a VM from a backup point.',
      confirm: 'Recover',
    };
  return undefined;
}

function PlanDetail(props: { readonly name: string }) {
  const loaded = useLoad(() => call<PlanJson>('plan', { params: { name: props.name } }), [props.name]);
  return (
    <section class="card" aria-labelledby="plan-detail">
      <h2 id="plan-detail">Plan {props.name}</h2>
      <Loading loaded={loaded}>
        {(plan) => (
          <>
            <p class="path">{plan.file}</p>
            {plan.findings.length > 0 && (
              <ul>
                {plan.findings.map((finding) => (
                  <li key={finding} class="bad">
                    {finding}
                  </li>
                ))}
              </ul>
            )}
            <h3>Next runs</h3>
            {plan.nextRuns && plan.nextRuns.length > 0 ? (
              <ul class="plain">
                {plan.nextRuns.map((at) => (
                  <li key={at}>{time(at)}</li>
                ))}
              </ul>
            ) : (
              <p class="muted">No schedule</p>
            )}
            <h3>Last runs</h3>
            {plan.lastRuns && plan.lastRuns.length > 0 ? (
              <ul class="plain">
                {plan.lastRuns.map((run) => (
                  <li key={run.id}>
                    <Outcome status={run.status} /> {time(run.startedAt)} {run.error ?? ''}
                  </li>
                ))}
              </ul>
            ) : (
              <p class="muted">Never run</p>
            )}
          </>
        )}
      </Loading>
    </section>
  );
}
