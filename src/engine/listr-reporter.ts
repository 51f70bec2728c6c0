// The terminal view: one listr2 task per step, driven by the engine's events (the engine, not
// listr2, owns control flow and signals — listr2's own handlers would exit 127 on Ctrl+C).
//
// Each step's title, state and output live here; a listr2 task only mirrors them while its
// function runs (listr2 starts a task a few ticks after the engine says the step started, and a
// finished renderer has no stream to write to). Hook output and anything said after the last
// step is printed as plain lines once listr2 has finished drawing.

import { Listr, type ListrDefaultRenderer, type ListrSimpleRenderer, type ListrTaskWrapper } from 'listr2';
import type { Output } from './output.js';
import { ProgressFacts } from './progress-facts.js';
import { runEndLine } from './run-end-text.js';
import { EMPTY_RUN, foldedStep, foldRunEvent, type RunFold, type StepState } from './run-fold.js';
import type { RunEvent, RunReporter } from './run-events.js';

type Task = ListrTaskWrapper<unknown, ListrDefaultRenderer, ListrSimpleRenderer>;

// A step as listr2 shows it: its state and line come from the fold (./run-fold.ts), the rest is
// listr2's own (its task while it runs, and the promise that lets it finish).
interface StepView {
  readonly name: string;
  title: string;
  state: StepState;
  /** Said to the person at the terminal under this step (Ctrl+C received): not a run event. */
  notices: string[];
  task?: Task;
  settle: () => void;
}

export function createListrReporter(cli: Pick<Output, 'stdout' | 'stderr'>): RunReporter {
  const views = new Map<string, StepView>();
  const progress = new ProgressFacts();
  const outside: string[] = [];
  let fold: RunFold = EMPTY_RUN;
  let listr: Promise<unknown> | undefined;
  let ended: Promise<void> = Promise.resolve();
  // A signal's notice while a step runs: said on the step it interrupts, above the cleanup (never after it).
  let interruption: string | undefined;

  const show = (view: StepView) => {
    if (!view.task) return;
    view.task.title = view.title;
    const said = [...(foldedStep(fold, view.name)?.notes ?? []), ...view.notices];
    const lines =
      view.state === 'running' ? [...said.slice(-3), ...(view.name === fold.current ? progress.lines() : [])] : [];
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

  // Each step's view brought to what the fold says; a step that has ended lets listr2 go on.
  const sync = (titles: Readonly<Record<string, string>> = {}) => {
    for (const step of fold.steps) {
      const view = views.get(step.name);
      const title = titles[step.name] ?? step.title;
      if (view === undefined || (view.state === step.state && view.title === title)) continue;
      view.state = step.state;
      view.title = title;
      show(view);
      if (step.state !== 'running' && step.state !== 'waiting') view.settle();
    }
  };

  return {
    emit(event: RunEvent) {
      fold = foldRunEvent(fold, event, Date.now());
      switch (event.type) {
        case 'run-start':
          for (const step of fold.steps)
            views.set(step.name, {
              name: step.name,
              title: step.title,
              state: 'waiting',
              notices: [],
              settle: () => {},
            });
          break;
        case 'step-start':
          if (listr === undefined) start();
          progress.reset();
          sync();
          break;
        case 'step-done':
        case 'step-skip':
          sync();
          break;
        case 'step-fail': {
          const why = interruption === undefined ? '' : ` (${interruption.replace(/^sendense-run: /, '')})`;
          if (event.interrupted) interruption = undefined;
          sync(event.interrupted ? { [event.step]: `${event.step}: interrupted${why}` } : {});
          break;
        }
        case 'progress': {
          progress.update(event);
          const view = fold.current ? views.get(fold.current) : undefined;
          if (view) show(view);
          break;
        }
        case 'queued':
        case 'slots':
          say(fold.log.at(-1)!.text);
          break;
        case 'info':
        case 'warning': {
          const line = fold.log.at(-1)!;
          const view = line.step === undefined ? undefined : views.get(line.step);
          if (view) show(view);
          if (event.type === 'warning' || view === undefined) say(line.text);
          break;
        }
        case 'run-end': {
          // A step that finished in spite of the signal: the notice goes first after the steps.
          if (interruption !== undefined) outside.unshift(interruption);
          sync();
          const error = event.error ? `: ${event.error}` : '';
          const summary = `${runEndLine(fold.kind, event)}${error}`;
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
      const view = fold.current ? views.get(fold.current) : undefined;
      if (listr !== undefined && view?.state === 'running') {
        view.notices.push(text);
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
