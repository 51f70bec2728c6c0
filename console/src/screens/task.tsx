// A task, live (docs/console.md#screens): its events from GET /api/v1/tasks/ID/events (server-sent
// events; a reload replays them from the start), shown as the terminal shows a run: the step list,
// a progress bar per disk with speed and ETA, notes and warnings, and the outcome.

import { useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { Task } from '../api-types.js';
import { useConfirm } from '../parts/confirm.js';
import { Link } from '../parts/link.js';
import { Refusal } from '../parts/load.js';
import { useCan } from '../session.js';
import { TaskHead } from './task-head.js';
import { DetailsToggle, DiskProgress, DryRunSteps, StepList, TaskMessages } from './task-sections.js';
import { useTask } from './task-live.js';

export function TaskView(props: { readonly id: string; readonly plan: string }) {
  const { task, setTask, view, error, setError } = useTask(props.id, props.plan);
  const [details, setDetails] = useState(false);
  const can = useCan();
  const { dialog, ask } = useConfirm();

  const cancel = async () => {
    if (
      !(await ask({
        title: 'Cancel this task?',
        text: 'It stops as on Ctrl+C and gives back everything it took.',
        confirm: 'Cancel the task',
      }))
    )
      return;
    try {
      setTask(await call<Task>('cancel', { params: { id: props.id } }));
    } catch (failure) {
      setError(failure instanceof ApiRefusal ? failure.message : String(failure));
    }
  };

  const running = task?.status === 'running';
  return (
    <>
      <h1 tabIndex={-1}>{task?.title ?? `Task ${props.id}`}</h1>
      <p>
        <Link href="/plans">All plans and recent tasks</Link>
      </p>
      <Refusal text={error} />
      {task && <TaskHead task={task} onCancel={running && can('cancel') ? () => void cancel() : undefined} />}
      {task?.error && (
        <p class="refusal" role="alert">
          {task.error}
        </p>
      )}
      <DetailsToggle view={view} shown={details} toggle={() => setDetails((shown) => !shown)} />
      {view.disks.length > 0 && <DiskProgress disks={view.disks} />}
      {view.steps.length > 0 && <StepList steps={view.steps} details={details} />}
      {view.dryRun && <DryRunSteps dryRun={view.dryRun} />}
      {view.log.length > 0 && <TaskMessages log={view.log} details={details} />}
      {view.end && (
        <p class={`end ${view.end.status === 'succeeded' ? 'good' : 'bad'}`} role="status">
          Run {view.end.text}
        </p>
      )}
      {dialog}
    </>
  );
}
