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
import { Loading, Refusal, useLoad } from '../parts/load.js';
import { Outcome } from '../parts/outcome.js';
import { navigate } from '../router.js';
import { PlanDetail } from './plan-detail.js';
import { PlansTable } from './plans-table.js';

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
            <PlansTable plans={plans} status={status} open={open} setOpen={setOpen} start={start} />
            {open && <PlanDetail name={open} />}
            <h2>Recent tasks</h2>
            <RecentTasks tasks={tasks} />
          </>
        )}
      </Loading>
      {dialog}
    </>
  );
}

function RecentTasks({ tasks }: { readonly tasks: readonly Task[] }) {
  return tasks.length === 0 ? (
    <p class="muted">No task has been started through the API yet</p>
  ) : (
    <ul class="plain">
      {tasks.map((task) => (
        <li key={task.id}>
          <Link href={`/tasks/${encodeURIComponent(task.id)}`}>{task.title}</Link> <Outcome status={task.status} />{' '}
          {time(task.startedAt)}
          {task.token ? ` by ${task.token}` : ''}
        </li>
      ))}
    </ul>
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
