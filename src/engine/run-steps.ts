// The step loop: run each step in order, stop at the first failure or cancel, then always give
// back what was taken (the undo stack), then the after-steps of a successful run.

import { asRunError, type SendenseError } from '../errors.js';
import type { RunContext } from './run-context.js';
import type { Step } from './step.js';

export interface StepsOutcome {
  readonly status: 'succeeded' | 'failed' | 'interrupted';
  readonly error?: SendenseError;
}

export interface StepsOptions {
  /** Whether the run is taken again at once after this failure: its cleanup then keeps what is kept for that. */
  readonly takenAgain?: (failure: SendenseError) => boolean;
}

export async function runSteps<R extends RunContext>(
  run: R,
  steps: readonly Step<R>[],
  afterSuccess: readonly Step<R>[] = [],
  options: StepsOptions = {},
): Promise<StepsOutcome> {
  const { reporter, signal } = run;
  let failure: SendenseError | undefined;
  for (const step of steps) {
    if (signal.aborted) {
      failure = asRunError(signal.reason, step.name);
      break;
    }
    failure = await runOne(run, step, signal);
    if (failure !== undefined) break;
  }
  // The last step finished on a signal (finishesOnSignal): the run still ends interrupted.
  if (failure === undefined && signal.aborted) failure = asRunError(signal.reason, steps.at(-1)?.name ?? 'run');

  // Every step succeeded: what the run made is kept (failure-only undo is dropped).
  if (failure === undefined) run.undo.commit();
  else if (options.takenAgain?.(failure) === true) run.undo.takenAgain();
  await cleanup(run);

  if (failure === undefined) {
    for (const step of afterSuccess) {
      // The backup is already complete: an after-step failing is reported, not a lost backup.
      const afterFailure = await runOne(run, step);
      if (afterFailure !== undefined) {
        reporter.emit({
          type: 'warning',
          message: `${step.name} failed after a successful run: ${afterFailure.message}`,
        });
      }
    }
  }
  if (failure === undefined) return { status: 'succeeded' };
  return { status: failure.exitCode === 130 ? 'interrupted' : 'failed', error: failure };
}

// Runs one step (unless it says it has nothing to do) and returns its failure, if any. With a
// signal, a cancel that arrives while the step finishes still counts as the step's failure
// (unless the step finishes on signals: then its own outcome counts).
async function runOne<R extends RunContext>(
  run: R,
  step: Step<R>,
  signal?: AbortSignal,
): Promise<SendenseError | undefined> {
  const { reporter } = run;
  const reason = step.skip?.(run);
  if (reason !== undefined) {
    reporter.emit({ type: 'step-skip', step: step.name, reason });
    return undefined;
  }
  reporter.emit({ type: 'step-start', step: step.name, title: step.title(run) });
  try {
    const summary = await step.run(run);
    if (signal?.aborted && !step.finishesOnSignal) throw signal.reason;
    reporter.emit({ type: 'step-done', step: step.name, summary: summary ?? undefined, facts: step.facts?.(run) });
    return undefined;
  } catch (error) {
    const failure = asRunError(signal?.aborted && !step.finishesOnSignal ? signal.reason : error, step.name);
    reporter.emit({
      type: 'step-fail',
      step: step.name,
      error: failure.describe(),
      ...(failure.exitCode === 130 ? { interrupted: true as const } : {}),
    });
    return failure;
  }
}

// Gives back everything the run took; a failure to give something back is a warning that names it.
async function cleanup(run: RunContext): Promise<void> {
  const { reporter } = run;
  reporter.emit({ type: 'step-start', step: 'cleanup', title: 'give back what the run took' });
  const outcomes = await run.undo.unwind((entry) =>
    reporter.emit({ type: 'info', step: 'cleanup', message: entry.what }),
  );
  const failed = outcomes.filter((outcome) => outcome.error !== undefined);
  for (const outcome of failed) {
    reporter.emit({
      type: 'warning',
      step: 'cleanup',
      message: `could not ${outcome.what}: ${outcome.error?.message}`,
    });
  }
  reporter.emit({
    type: 'step-done',
    step: 'cleanup',
    summary: `${outcomes.length - failed.length} of ${outcomes.length} resources given back`,
    facts: { givenBack: outcomes.length - failed.length, notGivenBack: failed.length },
  });
}
