// A task, live (docs/console.md#screens): its events from GET /api/v1/tasks/ID/events (server-sent
// events; a reload replays them from the start), shown as the terminal shows a run: the step list,
// a progress bar per disk with speed and ETA, notes and warnings, and the outcome.

import { useEffect, useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { Task } from '../api-types.js';
import { urlOf } from '../api-paths.js';
import { bytes, duration, rate, time } from '../format.js';
import { useConfirm } from '../parts/confirm.js';
import { Link } from '../parts/link.js';
import { Refusal } from '../parts/load.js';
import { useCan } from '../session.js';
import type { PlanJson } from '../api-types.js';
import {
  EMPTY,
  foldEvent,
  withoutDetails,
  withPlanSteps,
  type StepState,
  type TaskView as View,
} from '../task-events.js';
import { Outcome } from './dashboard.js';

const MARKS: Readonly<Record<StepState, string>> = { waiting: '○', running: '▶', done: '✔', skipped: '↓', failed: '✖' };

export function TaskView(props: { readonly id: string; readonly plan: string }) {
  const [task, setTask] = useState<Task | undefined>(undefined);
  const [view, setView] = useState<View>(EMPTY);
  const [error, setError] = useState<string | undefined>(undefined);
  const [details, setDetails] = useState(false);
  const can = useCan();
  const { dialog, ask } = useConfirm();

  useEffect(() => {
    setView(EMPTY);
    setTask(undefined);
    let closed = false;
    call<Task>('task', { params: { id: props.id } }).then(
      (found) => !closed && setTask((current) => current ?? found),
      (failure: unknown) => !closed && setError(failure instanceof ApiRefusal ? failure.message : String(failure)),
    );
    // A run's steps at once: the plan's list, until the run's own first event says the same.
    if (props.plan)
      call<PlanJson>('plan', { params: { name: props.plan } }).then(
        (plan) => !closed && plan.steps && setView((current) => withPlanSteps(current, plan.steps!)),
        () => undefined,
      );
    const source = new EventSource(urlOf('taskEvents', { id: props.id }));
    source.onmessage = (message) => {
      try {
        const event = JSON.parse(message.data as string) as Record<string, unknown>;
        setView((current) => foldEvent(current, event));
      } catch {
        setView((current) => ({ ...current, log: [...current.log, { level: 'info', text: String(message.data) }] }));
      }
    };
    source.addEventListener('end', (message) => {
      source.close();
      try {
        setTask(JSON.parse((message as MessageEvent).data as string) as Task);
      } catch {
        // The end's task is a courtesy: the view already holds every event.
      }
    });
    source.onerror = () => {
      // The browser reconnects by itself (Last-Event-ID); a task that is gone answers 404 once.
      if (source.readyState === EventSource.CLOSED && !closed)
        setError(`the events of task ${props.id} cannot be read`);
    };
    return () => {
      closed = true;
      source.close();
    };
  }, [props.id, props.plan]);

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
      {task && (
        <p class="task-head">
          <Outcome status={task.status} /> started {time(task.startedAt)}
          {task.token ? ` by ${task.token}` : ''}
          {task.endedAt ? `, ended ${time(task.endedAt)}` : ''}
          {running && can('cancel') && (
            <button type="button" class="danger small" onClick={() => void cancel()}>
              Cancel
            </button>
          )}
        </p>
      )}
      {task?.error && (
        <p class="refusal" role="alert">
          {task.error}
        </p>
      )}
      {[...view.steps.map((step) => step.text), ...view.log.map((line) => line.text)].some(
        (text) => withoutDetails(text).hadDetails,
      ) && (
        <p>
          <button
            type="button"
            class="small secondary"
            aria-pressed={details}
            onClick={() => setDetails((shown) => !shown)}
          >
            Details
          </button>{' '}
          <span class="muted small-text">socket paths, checkpoint and bitmap names</span>
        </p>
      )}
      {view.disks.length > 0 && (
        <section aria-labelledby="t-disks" class="card">
          <h2 id="t-disks">Disks</h2>
          {view.disks.map((disk) => {
            const percent = disk.bytesToDo > 0 ? Math.floor((disk.bytesDone / disk.bytesToDo) * 100) : 100;
            return (
              <div class="disk" key={disk.key}>
                <label for={`disk-${disk.key}`}>
                  disk {disk.key}: {bytes(disk.bytesDone)} / {bytes(disk.bytesToDo)} ({percent}%)
                </label>
                <progress id={`disk-${disk.key}`} max={Math.max(disk.bytesToDo, 1)} value={disk.bytesDone} />
                <span class="muted">
                  {rate(disk.bytesPerSecond)}, ETA {disk.etaSeconds === null ? '-' : duration(disk.etaSeconds)}
                </span>
              </div>
            );
          })}
        </section>
      )}
      {view.steps.length > 0 && (
        <section aria-labelledby="t-steps" class="card">
          <h2 id="t-steps">Steps</h2>
          <ol class="steps" aria-live="polite">
            {view.steps.map((step) => (
              <li key={step.name} class={`step ${step.state}`}>
                <span class="mark" aria-hidden="true">
                  {MARKS[step.state]}
                </span>
                <span class="sr-only">{step.state}: </span>
                {details ? step.text : withoutDetails(step.text).short}
              </li>
            ))}
          </ol>
        </section>
      )}
      {view.dryRun && (
        <section aria-labelledby="t-dry" class="card">
          <h2 id="t-dry">What a run would do{view.dryRun.wouldFail ? ' (it would fail)' : ''}</h2>
          <ol class="steps">
            {view.dryRun.steps.map((step) => (
              <li key={step.step} class={`step ${step.fails ? 'failed' : 'waiting'}`}>
                <strong>{step.step}</strong>
                <pre>{step.does}</pre>
              </li>
            ))}
          </ol>
        </section>
      )}
      {view.log.length > 0 && (
        <section aria-labelledby="t-log" class="card">
          <h2 id="t-log">Messages</h2>
          <ul class="log">
            {view.log.map((line, i) => (
              <li key={i} class={line.level}>
                {details ? line.text : withoutDetails(line.text).short}
              </li>
            ))}
          </ul>
        </section>
      )}
      {view.end && (
        <p class={`end ${view.end.status === 'succeeded' ? 'good' : 'bad'}`} role="status">
          Run {view.end.text}
        </p>
      )}
      {dialog}
    </>
  );
}
