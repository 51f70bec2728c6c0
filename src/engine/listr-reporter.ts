// The terminal view: one listr2 task per step, driven by the engine's events (the engine, not
// listr2, owns control flow and signals — listr2's own handlers would exit 127 on Ctrl+C).
//
// Each step's title, state and output live here; a listr2 task only mirrors them while its
// function runs (listr2 starts a task a few ticks after the engine says the step started, and a
// finished renderer has no stream to write to). Hook output and anything said after the last
// step is printed as plain lines once listr2 has finished drawing.

import { Listr, type ListrDefaultRenderer, type ListrSimpleRenderer, type ListrTaskWrapper } from 'listr2';
import type { Output } from './output.js';
import { slotEventText } from '../hub/disk-queue.js';
import { ProgressFacts } from './progress-facts.js';
import { runEndLine } from './run-end-text.js';
import type { RunEvent, RunReporter } from './run-events.js';

type Task = ListrTaskWrapper<unknown, ListrDefaultRenderer, ListrSimpleRenderer>;

interface StepView {
  readonly name: string;
  title: string;
  state: 'waiting' | 'running' | 'done' | 'skipped' | 'failed';
  reason?: string;
  lines: string[];
  task?: Task;
  settle: () => void;
}

export function createListrReporter(cli: Pick<Output, 'stdout' | 'stderr'>): RunReporter {
  const views = new Map<string, StepView>();
  const progress = new ProgressFacts();
  const outside: string[] = [];
  let current: string | undefined;
  let listr: Promise<unknown> | undefined;
  let ended: Promise<void> = Promise.resolve();
  // A signal's notice while a step runs: said on the step it interrupts, above the cleanup (never after it).
  let interruption: string | undefined;

  const show = (view: StepView) => {
    if (!view.task) return;
    view.task.title = view.title;
    const lines =
      view.state === 'running' ? [...view.lines.slice(-3), ...(view.name === current ? progress.lines() : [])] : [];
    view.task.output = lines.join('\n');
  };

  const task = (view: StepView, settled: Promise<void>) => async (_ctx: unknown, wrapper: Task) => {
    view.task = wrapper;
    show(view);
    await settled;
    show(view);
    view.task = undefined;
    if (view.state === 'skipped') wrapper.skip(view.title);
    if (view.state === 'failed') throw new Error(view.title);
  };

  const start = () => {
    const tasks = [...views.values()].map((view) => {
      const settled = new Promise<void>((resolve) => (view.settle = resolve));
      return { title: view.title, task: task(view, settled) };
    });
    listr = new Listr<unknown, 'default', 'simple'>(tasks, {
      concurrent: false,
      exitOnError: false,
      registerSignalListeners: false,
      rendererOptions: { showErrorMessage: false, collapseSkips: true },
    })
      .run()
      .catch(() => undefined);
  };

  // Hook output and late notes: straight out before listr2 draws, else after it finished.
  const say = (text: string) => {
    if (listr === undefined) cli.stdout.write(`${text}\n`);
    else outside.push(text);
  };

  const settle = (step: string, state: StepView['state'], title: string) => {
    const view = views.get(step);
    if (!view) return;
    view.state = state;
    view.title = title;
    show(view);
    view.settle();
  };

  let kind: string | undefined;
  return {
    emit(event: RunEvent) {
      switch (event.type) {
        case 'run-start':
          kind = event.kind;
          for (const name of event.steps)
            views.set(name, { name, title: name, state: 'waiting', lines: [], settle: () => {} });
          break;
        case 'step-start': {
          if (listr === undefined) start();
          current = event.step;
          progress.reset();
          const view = views.get(event.step);
          if (!view) break;
          view.state = 'running';
          view.title = `${event.step}: ${event.title}`;
          show(view);
          break;
        }
        case 'step-done':
          settle(event.step, 'done', event.summary ? `${event.step}: ${event.summary}` : event.step);
          break;
        case 'step-skip':
          settle(event.step, 'skipped', `${event.step}: ${event.reason}`);
          break;
        case 'step-fail': {
          const why = interruption === undefined ? '' : ` (${interruption.replace(/^sendense-run: /, '')})`;
          if (event.interrupted) interruption = undefined;
          settle(event.step, 'failed', `${event.step}: ${event.interrupted ? `interrupted${why}` : 'failed'}`);
          // The run goes straight to cleanup: the steps between are not reached (listr2 must not
          // wait on them, or cleanup would only show once it is over).
          for (const view of views.values()) {
            if (view.state === 'waiting' && view.name !== 'cleanup')
              settle(view.name, 'skipped', `${view.name}: not reached`);
          }
          break;
        }
        case 'progress': {
          progress.update(event);
          const view = current ? views.get(current) : undefined;
          if (view) show(view);
          break;
        }
        case 'queued':
        case 'slots':
          say(slotEventText(event));
          break;
        case 'info':
        case 'warning': {
          const text = event.type === 'warning' ? `warning: ${event.message}` : event.message;
          const view = event.step === 'hooks' ? undefined : views.get(event.step ?? current ?? '');
          if (view?.state === 'running') {
            view.lines.push(text);
            show(view);
          }
          if (event.type === 'warning' || view?.state !== 'running') say(text);
          break;
        }
        case 'run-end': {
          // A step that finished in spite of the signal: the notice goes first after the steps.
          if (interruption !== undefined) outside.unshift(interruption);
          for (const view of views.values()) {
            if (view.state === 'waiting' || view.state === 'running')
              settle(view.name, 'skipped', `${view.name}: not reached`);
          }
          const error = event.error ? `: ${event.error}` : '';
          const summary = `${runEndLine(kind, event)}${error}`;
          ended = (listr ?? Promise.resolve()).then(() => {
            for (const text of outside) cli.stdout.write(`${text}\n`);
            (event.status === 'succeeded' ? cli.stdout : cli.stderr).write(`${summary}\n`);
          });
          break;
        }
      }
    },
    // Under the running step at once (listr2 holds back other writes until it finishes), and again
    // in the title of the step it interrupts, or with the lines printed after the steps.
    notice(text: string) {
      const view = current ? views.get(current) : undefined;
      if (listr !== undefined && view?.state === 'running') {
        view.lines.push(text);
        show(view);
      }
      if (listr === undefined) cli.stderr.write(`${text}\n`);
      else if (view?.state === 'running' && view.name !== 'cleanup' && interruption === undefined) interruption = text;
      else outside.push(text);
    },
    close: async () => {
      await ended;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}
