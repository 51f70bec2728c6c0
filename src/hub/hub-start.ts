// A hub's start, phase by phase (docs/operations.md#many-hubs): a phase still waiting is said
// every START_NOTE_MS (what it waits for, how long so far), and one that has not finished within
// the bound ($SENDENSE_START_TIMEOUT_SECONDS, default 300) ends the start with an error naming it,
// instead of a hub that prints nothing.

import { SendenseError } from '../errors.js';
import type { ScheduleOutput } from '../schedule/schedule-output.js';

const START_NOTE_MS = 15_000;
const START_BOUND_SECONDS = 300;

export interface StartBounds {
  readonly noteMs: number;
  readonly boundMs: number;
}

// The bound from the environment (a positive number of seconds), else the default; notes come at
// least three times before it.
export function startBounds(env: NodeJS.ProcessEnv = process.env): StartBounds {
  const raw = env.SENDENSE_START_TIMEOUT_SECONDS;
  const seconds = raw === undefined || raw === '' ? START_BOUND_SECONDS : Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new SendenseError(
      `SENDENSE_START_TIMEOUT_SECONDS must be a positive number of seconds, not ${JSON.stringify(raw)}`,
      { exitCode: 2 },
    );
  return { noteMs: Math.min(START_NOTE_MS, (seconds * 1000) / 3), boundMs: seconds * 1000 };
}

// Runs one start phase (`what`: "the state database"), saying while it waits long; `abandon` gives
// back what the phase opens should it finish after the start gave up on it.
export async function startPhase<T>(
  output: ScheduleOutput,
  what: string,
  work: Promise<T>,
  abandon: (late: T) => Promise<void>,
  bounds: StartBounds,
): Promise<T> {
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 1000);
  let timer: NodeJS.Timeout | undefined;
  const said = setInterval(
    () =>
      output.note({
        event: 'starting',
        level: 'warning',
        message: `still starting: waiting for ${what} (${seconds()} s so far)`,
      }),
    bounds.noteMs,
  );
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new SendenseError(`hub start: ${what} did not finish within ${seconds()} s`, { exitCode: 1 })),
      bounds.boundMs,
    );
  });
  let gaveUp = false;
  void work.then(
    (late) => (gaveUp ? abandon(late).catch(() => {}) : undefined),
    () => {},
  );
  try {
    return await Promise.race([work, bound]);
  } catch (error) {
    gaveUp = true;
    // The abandoned phase may wait on forever (a lock held elsewhere: kysely waits an hour) and hold
    // the process open: once the error is out, exit. Unref'd: a process with nothing left exits first.
    setTimeout(() => process.exit(process.exitCode ?? 1), 2000).unref();
    throw error;
  } finally {
    clearInterval(said);
    clearTimeout(timer);
  }
}
