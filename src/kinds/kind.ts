// A plan kind as the engine runs it (docs/how-it-works.md#plan-kinds): its steps in order, the
// run its steps act on, and what its end reports. The engine runs any kind and names one only in
// its end line (engine/run-end-text.ts); each kind is one folder beside this file, listed in index.ts.

import type { RunContext } from '../engine/run-context.js';
import type { DiskFacts } from '../engine/step-facts.js';
import type { Step } from '../engine/step.js';
import type { Plan } from '../plan/types.js';
import type { Store } from '../store/index.js';

/** What run-end reports of a kind's run (docs/json-events.md). */
export interface EndFacts {
  /** The backup the run made (backups) or read (restores). */
  readonly backupId?: string;
  readonly taken?: 'full' | 'incremental';
  readonly disks?: readonly DiskFacts[];
  /** null: no disk's count is known. */
  readonly bytes?: number | null;
}

export interface KindModule<R extends RunContext = RunContext> {
  /** The steps, in order; the first usually resolves the run's state for the others. */
  readonly steps: readonly Step<R>[];
  /** Steps after a successful run and its cleanup (retention): a failure there is a warning. */
  readonly afterSteps: readonly Step<R>[];
  /** What the engine's cleanup gives back, as --dry-run says it; none: no cleanup step is listed. */
  readonly cleanup?: string;
  /** The run the steps act on, from the engine's context (a dry run takes and starts nothing). */
  open(base: RunContext, mode: 'run' | 'dry-run'): Promise<R>;
  /** After the steps, whatever their outcome: gives back what `open` took. */
  close?(run: R): Promise<void>;
  /** What run-end reports. */
  endFacts(run: R): EndFacts;
  /** How many disks the run copies, for the hub's disk slots (an estimate; 0: none). */
  disksToTransfer(plan: Plan, store: Store): Promise<number>;
}

// run-start's step list and --dry-run's order: the steps, cleanup when the kind has one, the after-steps.
export function stepNames<R extends RunContext>(kind: KindModule<R>): readonly string[] {
  return [...kind.steps.map((step) => step.name), ...(kind.cleanup === undefined ? [] : ['cleanup']), ...kind.afterSteps.map((step) => step.name)];
}
