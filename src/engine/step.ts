// A step of a run (docs/how-it-works.md#the-data-path): what it needs is in the run context, what
// it takes it registers on the undo stack, what it did it returns as a one-line summary and as
// facts for --json; what it would do (--dry-run) it says from the same resolvers, taking nothing.

import type { Facts } from './step-facts.js';

/** What a dry run knows besides the run context. */
export interface DryRun {
  /** No state database exists yet (the dry run reads an empty one and creates none). */
  readonly newDatabase: boolean;
}

/** What a step says it would do; `fails`: the run would stop there (--dry-run exits 1, docs/commands.md). */
export interface Prediction {
  readonly does: string;
  readonly fails?: true;
}

// A step the run would stop at: "would FAIL: why", and the dry run's exit status 1.
export function wouldFail(why: string, ...more: readonly string[]): Prediction {
  return { does: [`would FAIL: ${why}`, ...more].join('\n'), fails: true };
}

export interface Step<R> {
  /** Its name in events, --dry-run and the docs (docs/how-it-works.md names every one). */
  readonly name: string;
  /** One line saying what the step is about to do, resolved (shown before it runs). */
  title(run: R): string;
  /** Why the step has nothing to do in this run, if so. */
  skip?(run: R): string | undefined;
  /**
   * A step that does not stop for a signal (a recovered domain's move: stopping would take a
   * running VM's disks away): what it did stands, and the run ends interrupted after it.
   */
  readonly finishesOnSignal?: boolean;
  /** Does the work; returns a one-line summary of what it did. */
  run(run: R): Promise<string | void>;
  /** What it did, as data for --json readers (the facts of its step-done event), read from the run after it. */
  facts?(run: R): Facts | undefined;
  /**
   * What the step would do (--dry-run), resolved as the run resolves it but taking nothing and
   * recording nothing; a resolving step fills the run's state as `run` would for the next ones.
   */
  would(run: R, dry: DryRun): Promise<string | Prediction> | string | Prediction;
}
