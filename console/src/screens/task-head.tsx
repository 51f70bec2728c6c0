// A task's head line: its outcome, who started it and when, when it ended; Cancel while it runs.

import type { Task } from '../api-types.js';
import { time } from '../format.js';
import { Outcome } from '../parts/outcome.js';

export function TaskHead(props: { readonly task: Task; readonly onCancel: (() => void) | undefined }) {
  const { task } = props;
  return (
    <p class="task-head">
      <Outcome status={task.status} /> started {time(task.startedAt)}
      {task.token ? ` by ${task.token}` : ''}
      {task.endedAt ? `, ended ${time(task.endedAt)}` : ''}
      {props.onCancel && (
        <button type="button" class="danger small" onClick={props.onCancel}>
          Cancel
        </button>
      )}
    </p>
  );
}
