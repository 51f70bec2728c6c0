// A step of SPEC section 4: what it needs is in the run context, what it takes it registers on
// the undo stack, what it did it returns as a one-line summary.

import type { StepName } from './step-names.js';

export interface Step<R> {
  readonly name: StepName;
  /** One line saying what the step is about to do, resolved (shown before it runs and by --dry-run). */
  title(run: R): string;
  /** Why the step has nothing to do in this run, if so. */
  skip?(run: R): string | undefined;
  /** Does the work; returns a one-line summary of what it did. */
  run(run: R): Promise<string | void>;
}
