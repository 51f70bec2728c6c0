// The hooks of a run (docs/plan-reference.md): `before` ones gate the run (the first failing one fails it
// before anything is taken); the end ones run by outcome, and their failures are only warnings.

import { SendenseError, asRunError } from '../errors.js';
import type { Hook, Hooks } from '../plan/types.js';
import { runHook, type HookPhase, type HookTarget } from './run-hook.js';

// Undefined when every before hook succeeded; else the run's error.
export async function runBeforeHooks(hooks: readonly Hook[], target: HookTarget): Promise<SendenseError | undefined> {
  for (const hook of hooks) {
    let failure: string | undefined;
    try {
      const outcome = await runHook('before', hook, target);
      if (outcome.exitCode !== 0) failure = `exit code ${outcome.exitCode}${outcome.tail ? `: ${outcome.tail}` : ''}`;
    } catch (error) {
      if (target.signal?.aborted) return asRunError(target.signal.reason, 'hooks');
      failure = (error as Error).message;
    }
    if (failure !== undefined) {
      return new SendenseError(`before hook '${hook.run}' failed (${failure}); nothing was taken`, { step: 'hooks' });
    }
  }
  return undefined;
}

// after (success) or onFailure (failed/interrupted), then always; never throws.
export async function runEndHooks(hooks: Hooks, succeeded: boolean, target: HookTarget): Promise<void> {
  const phases: [HookPhase, readonly Hook[]][] = [
    succeeded ? ['after', hooks.after] : ['onFailure', hooks.onFailure],
    ['always', hooks.always],
  ];
  for (const [phase, list] of phases) {
    for (const hook of list) {
      try {
        const outcome = await runHook(phase, hook, target);
        if (outcome.exitCode === 0) continue;
        target.reporter.emit({
          type: 'warning',
          step: 'hooks',
          message: `${phase} hook '${hook.run}' failed (exit code ${outcome.exitCode}${outcome.tail ? `: ${outcome.tail}` : ''})`,
        });
      } catch (error) {
        target.reporter.emit({
          type: 'warning',
          step: 'hooks',
          message: `${phase} hook '${hook.run}' could not run: ${(error as Error).message}`,
        });
      }
    }
  }
}
