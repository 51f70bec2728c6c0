// kill -9 at a moment of a run, for the crash sweeps: a moment is an event of the run's --json
// output (accept), or a crash point where the run kills itself (env: killAtEnv, src/crash-points.ts).

import { startSendenseRun, type RunEventLine } from './sendense-cli.js';

export interface KillMoment {
  readonly name: string;
  readonly accept?: (event: RunEventLine) => boolean;
  readonly env?: Readonly<Record<string, string>>;
}

// "at the start of STEP" for each step.
export function stepStarts(steps: readonly string[]): KillMoment[] {
  return steps.map((step) => ({
    name: `at the start of ${step}`,
    accept: (event: RunEventLine) => event.type === 'step-start' && event.step === step,
  }));
}

/**
 * Runs `sendense-run ARGS`, kills it with SIGKILL at `moment`, and resolves once it ended. `track`
 * gets its PID as soon as it starts, so the test's cleanup finds it whatever happens next.
 */
export async function runKilledAt(args: readonly string[], moment: KillMoment, track: (pid: number) => void) {
  const cli = startSendenseRun(args, { ...moment.env });
  track(cli.pid);
  if (moment.accept) {
    await cli.waitForEvent(moment.accept).catch(() => undefined);
    try {
      process.kill(cli.pid, 'SIGKILL');
    } catch {
      // it ended by itself: the caller's checks still hold
    }
  }
  return { pid: cli.pid, ...(await cli.exited) };
}
