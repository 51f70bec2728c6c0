// The sections of a task's view, as the terminal shows a run: a progress bar per disk with speed
// and ETA, the step list, what a dry run would do, and the notes and warnings.

import { bytes, duration, rate } from '../format.js';
import { withoutDetails, type StepState, type TaskView } from '../task-events.js';

const MARKS: Readonly<Record<StepState, string>> = { waiting: '○', running: '▶', done: '✔', skipped: '↓', failed: '✖' };

// Shown when a step or message has details to hide: socket paths, checkpoint and bitmap names.
export function DetailsToggle(props: {
  readonly view: TaskView;
  readonly shown: boolean;
  readonly toggle: () => void;
}) {
  const { view } = props;
  if (
    ![...view.steps.map((step) => step.text), ...view.log.map((line) => line.text)].some(
      (text) => withoutDetails(text).hadDetails,
    )
  )
    return null;
  return (
    <p>
      <button type="button" class="small secondary" aria-pressed={props.shown} onClick={props.toggle}>
        Details
      </button>{' '}
      <span class="muted small-text">socket paths, checkpoint and bitmap names</span>
    </p>
  );
}

export function DiskProgress(props: { readonly disks: TaskView['disks'] }) {
  return (
    <section aria-labelledby="t-disks" class="card">
      <h2 id="t-disks">Disks</h2>
      {props.disks.map((disk) => {
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
  );
}

export function StepList(props: { readonly steps: TaskView['steps']; readonly details: boolean }) {
  return (
    <section aria-labelledby="t-steps" class="card">
      <h2 id="t-steps">Steps</h2>
      <ol class="steps" aria-live="polite">
        {props.steps.map((step) => (
          <li key={step.name} class={`step ${step.state}`}>
            <span class="mark" aria-hidden="true">
              {MARKS[step.state]}
            </span>
            <span class="sr-only">{step.state}: </span>
            {props.details ? step.text : withoutDetails(step.text).short}
          </li>
        ))}
      </ol>
    </section>
  );
}

export function DryRunSteps(props: { readonly dryRun: NonNullable<TaskView['dryRun']> }) {
  const { dryRun } = props;
  return (
    <section aria-labelledby="t-dry" class="card">
      <h2 id="t-dry">What a run would do{dryRun.wouldFail ? ' (it would fail)' : ''}</h2>
      <ol class="steps">
        {dryRun.steps.map((step) => (
          <li key={step.step} class={`step ${step.fails ? 'failed' : 'waiting'}`}>
            <strong>{step.step}</strong>
            <pre>{step.does}</pre>
          </li>
        ))}
      </ol>
    </section>
  );
}

export function TaskMessages(props: { readonly log: TaskView['log']; readonly details: boolean }) {
  return (
    <section aria-labelledby="t-log" class="card">
      <h2 id="t-log">Messages</h2>
      <ul class="log">
        {props.log.map((line, i) => (
          <li key={i} class={line.level}>
            {props.details ? line.text : withoutDetails(line.text).short}
          </li>
        ))}
      </ul>
    </section>
  );
}
