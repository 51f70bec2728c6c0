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
  const terminal = new ListrTerminal(cli);
  return {
    emit: (event: RunEvent) => terminal.emit(event),
    notice: (text: string) => terminal.notice(text),
    close: () => terminal.close(),
  };
}

// The steps' views, the fold they mirror, and listr2 drawing them.
class ListrTerminal {
  readonly #cli: Pick<Output, 'stdout' | 'stderr'>;
  readonly #views = new Map<string, StepView>();
  readonly #progress = new ProgressFacts();
  readonly #outside: string[] = [];
  #fold: RunFold = EMPTY_RUN;
  #listr: Promise<unknown> | undefined;
  #ended: Promise<void> = Promise.resolve();
  // A signal's notice while a step runs: said on the step it interrupts, above the cleanup (never after it).
  #interruption: string | undefined;

  constructor(cli: Pick<Output, 'stdout' | 'stderr'>) {
    this.#cli = cli;
  }

  emit(event: RunEvent): void {
    this.#fold = foldRunEvent(this.#fold, event, Date.now());
    switch (event.type) {
      case 'run-start':
        for (const step of this.#fold.steps)
          this.#views.set(step.name, {
            name: step.name,
            title: step.title,
            state: 'waiting',
            notices: [],
            settle: () => {},
          });
        break;
      case 'step-start':
        if (this.#listr === undefined) this.#start();
        this.#progress.reset();
        this.#sync();
        break;
      case 'step-done':
      case 'step-skip':
        this.#sync();
        break;
      case 'step-fail': {
        const why = this.#interruption === undefined ? '' : ` (${this.#interruption.replace(/^sendense-run: /, '')})`;
        if (event.interrupted) this.#interruption = undefined;
        this.#sync(event.interrupted ? { [event.step]: `${event.step}: interrupted${why}` } : {});
        break;
      }
      case 'progress': {
        this.#progress.update(event);
        const view = this.#fold.current ? this.#views.get(this.#fold.current) : undefined;
        if (view) this.#show(view);
        break;
      }
      case 'queued':
      case 'slots':
        this.#say(this.#fold.log.at(-1)!.text);
        break;
      case 'info':
      case 'warning': {
        const line = this.#fold.log.at(-1)!;
        const view = line.step === undefined ? undefined : this.#views.get(line.step);
        if (view) this.#show(view);
        if (event.type === 'warning' || view === undefined) this.#say(line.text);
        break;
      }
      case 'run-end':
        this.#end(event);
        break;
    }
  }

  // Under the running step at once (listr2 holds back other writes until it finishes), and again
  // in the title of the step it interrupts, or with the lines printed after the steps.
  notice(text: string): void {
    const view = this.#fold.current ? this.#views.get(this.#fold.current) : undefined;
    if (this.#listr !== undefined && view?.state === 'running') {
      view.notices.push(text);
      this.#show(view);
    }
    if (this.#listr === undefined) this.#cli.stderr.write(`${text}\n`);
    else if (view?.state === 'running' && view.name !== 'cleanup' && this.#interruption === undefined)
      this.#interruption = text;
    else this.#outside.push(text);
  }

  async close(): Promise<void> {
    await this.#ended;
    await new Promise((resolve) => setImmediate(resolve));
  }

  #end(event: Extract<RunEvent, { type: 'run-end' }>): void {
    // A step that finished in spite of the signal: the notice goes first after the steps.
    if (this.#interruption !== undefined) this.#outside.unshift(this.#interruption);
    this.#sync();
    const error = event.error ? `: ${event.error}` : '';
    const summary = `${runEndLine(this.#fold.kind, event)}${error}`;
    this.#ended = (this.#listr ?? Promise.resolve()).then(() => {
      for (const text of this.#outside) this.#cli.stdout.write(`${text}\n`);
      (event.status === 'succeeded' ? this.#cli.stdout : this.#cli.stderr).write(`${summary}\n`);
    });
  }

  #show(view: StepView): void {
    if (!view.task) return;
    view.task.title = view.title;
    const said = [...(foldedStep(this.#fold, view.name)?.notes ?? []), ...view.notices];
    const lines =
      view.state === 'running'
        ? [...said.slice(-3), ...(view.name === this.#fold.current ? this.#progress.lines() : [])]
        : [];
    view.task.output = lines.join('\n');
  }

  #task(view: StepView, settled: Promise<void>) {
    return async (_ctx: unknown, wrapper: Task) => {
      view.task = wrapper;
      this.#show(view);
      await settled;
      this.#show(view);
      view.task = undefined;
      if (view.state === 'skipped') wrapper.skip(view.title);
      if (view.state === 'failed') throw new Error(view.title);
    };
  }

  #start(): void {
    const tasks = [...this.#views.values()].map((view) => {
      const settled = new Promise<void>((resolve) => (view.settle = resolve));
      return { title: view.title, task: this.#task(view, settled) };
    });
    this.#listr = new Listr<unknown, 'default', 'simple'>(tasks, {
      concurrent: false,
      exitOnError: false,
      registerSignalListeners: false,
      rendererOptions: { showErrorMessage: false, collapseSkips: true },
    })
      .run()
      .catch(() => undefined);
  }

  // Hook output and late notes: straight out before listr2 draws, else after it finished.
  #say(text: string): void {
    if (this.#listr === undefined) this.#cli.stdout.write(`${text}\n`);
    else this.#outside.push(text);
  }

  // Each step's view brought to what the fold says; a step that has ended lets listr2 go on.
  #sync(titles: Readonly<Record<string, string>> = {}): void {
    for (const step of this.#fold.steps) {
      const view = this.#views.get(step.name);
      const title = titles[step.name] ?? step.title;
      if (view === undefined || (view.state === step.state && view.title === title)) continue;
      view.state = step.state;
      view.title = title;
      this.#show(view);
      if (step.state !== 'running' && step.state !== 'waiting') view.settle();
    }
  }
}
