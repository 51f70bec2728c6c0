// A task and its view, live: the task from GET /api/v1/tasks/ID, the plan's steps at once, then its
// events from GET /api/v1/tasks/ID/events (server-sent events) folded into the view.

import { useEffect, useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { PlanJson, Task } from '../api-types.js';
import { urlOf } from '../api-paths.js';
import { EMPTY, foldEvent, withPlanSteps, type TaskView } from '../task-events.js';

export interface LiveTask {
  readonly task: Task | undefined;
  readonly setTask: (task: Task) => void;
  readonly view: TaskView;
  readonly error: string | undefined;
  readonly setError: (error: string) => void;
}

export function useTask(id: string, plan: string): LiveTask {
  const [task, setTask] = useState<Task | undefined>(undefined);
  const [view, setView] = useState<TaskView>(EMPTY);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    setView(EMPTY);
    setTask(undefined);
    let closed = false;
    call<Task>('task', { params: { id } }).then(
      (found) => !closed && setTask((current) => current ?? found),
      (failure: unknown) => !closed && setError(failure instanceof ApiRefusal ? failure.message : String(failure)),
    );
    // A run's steps at once: the plan's list, until the run's own first event says the same.
    if (plan)
      call<PlanJson>('plan', { params: { name: plan } }).then(
        (found) => !closed && found.steps && setView((current) => withPlanSteps(current, found.steps!)),
        () => undefined,
      );
    const source = new EventSource(urlOf('taskEvents', { id }));
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
      if (source.readyState === EventSource.CLOSED && !closed) setError(`the events of task ${id} cannot be read`);
    };
    return () => {
      closed = true;
      source.close();
    };
  }, [id, plan]);

  return { task, setTask, view, error, setError };
}
