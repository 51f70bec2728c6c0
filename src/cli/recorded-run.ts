// The run a command records its work as (prune, verify, catalog import; docs/commands.md): created
// first, ended succeeded, failed or interrupted after the work, and a state database lost meanwhile
// said in one line that sends the user to doctor (docs/how-it-works.md, "Retention").

import { interruptedError } from '../engine/run-plan.js';
import { isSendenseError, SendenseError } from '../errors.js';
import type { NewRun, Store } from '../store/index.js';
import { isLostConnection } from '../store/lost-connection.js';
import type { CliContext } from './context.js';

export interface RecordedRunOptions {
  readonly record: NewRun;
  /** SIGINT/SIGTERM/SIGHUP abort the work's signal (after `sendense-run: SIGNAL received: <note>`); its run ends interrupted, exit 130. */
  readonly stopOnSignal?: { readonly note: string };
  /** What doctor does besides recording the run, once a lost database is back ("finishes the merge under way"). */
  readonly doctorAlso?: string;
}

export interface RecordedRun {
  readonly id: string;
  /** Aborted by a signal (stopOnSignal) or when this hub is fenced off the shared state: stop between two steps. */
  readonly signal: AbortSignal;
  /** Gives `release` back right after the run's end is recorded (a VM lock): both doctor's if the database is gone. */
  releaseAtEnd(release: () => Promise<unknown>): void;
}

// What the work says of itself when it did not throw: nothing (succeeded, exit 0) or why the run failed (exit 1).
export type WorkResult = void | { readonly failed: string };

export async function withRecordedRun(
  cli: CliContext,
  store: Store,
  options: RecordedRunOptions,
  work: (run: RecordedRun) => Promise<WorkResult>,
): Promise<number> {
  const run = await store.createRun(options.record);
  const controller = new AbortController();
  const stopSignals = options.stopOnSignal === undefined ? [] : (['SIGINT', 'SIGTERM', 'SIGHUP'] as const);
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted)
      cli.stderr.write(`sendense-run: ${signal} received: ${options.stopOnSignal?.note}\n`);
    controller.abort(interruptedError(signal));
  };
  for (const signal of stopSignals) process.on(signal, onSignal);
  // A hub cut off from the shared state stops between two steps, before other hubs take its locks.
  const fence = store.fenced?.();
  const releases: (() => Promise<unknown>)[] = [];
  const recorded: RecordedRun = {
    id: run.id,
    signal: fence === undefined ? controller.signal : AbortSignal.any([controller.signal, fence]),
    releaseAtEnd: (release) => releases.push(release),
  };
  let status: 'succeeded' | 'failed' | 'interrupted' | 'refused' = 'succeeded';
  let failure: unknown;
  let message: string | undefined;
  try {
    const result = await work(recorded);
    if (result) [status, message] = ['failed', result.failed];
  } catch (error) {
    failure = error;
    status =
      controller.signal.aborted && error === controller.signal.reason
        ? 'interrupted'
        : isSendenseError(error) && error.refusedStart
          ? 'refused'
          : 'failed';
    message = error instanceof Error ? error.message : String(error);
  } finally {
    for (const signal of stopSignals) process.off(signal, onSignal);
  }
  // The end recorded and what the run held given back; out of reach, they are doctor's once it is back.
  let unrecorded: unknown;
  try {
    await store.finishRun(run.id, status, message);
    for (const release of releases) await release();
  } catch (error) {
    unrecorded = error;
  }
  const fenced = fence?.aborted === true && failure === fence.reason;
  if (unrecorded !== undefined || fenced || isLostConnection(failure)) {
    throw lostStateDatabase(cli.dbPath, options, run.id, fenced ? undefined : (unrecorded ?? failure), failure);
  }
  if (failure !== undefined) throw failure;
  return status === 'succeeded' ? 0 : 1;
}

// One line for a state database that went away under the work: what it changed stays consistent
// on disk and recorded as far as it got; the run's end is doctor's to record.
function lostStateDatabase(
  database: string,
  options: RecordedRunOptions,
  runId: string,
  cause: unknown,
  failure: unknown,
): SendenseError {
  if (isSendenseError(failure) && failure.message.startsWith('lost the state database')) return failure;
  const why = cause instanceof Error ? cause.message : String(cause);
  const also = options.doctorAlso === undefined ? '' : ` and ${options.doctorAlso}`;
  return new SendenseError(
    `lost the state database ${database} during ${options.record.kind} run ${runId} (${why}): stopped; run sendense-run doctor once it is reachable (it records the run${also})`,
    { cause: failure ?? cause },
  );
}

// Resolves (with nothing) once the run's signal is aborted: a long-running command's Ctrl+C.
export function untilAborted(signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(undefined);
    else signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });
}
