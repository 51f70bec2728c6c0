// What `run --json` prints of its own (docs/json-events.md): a run's events are the table of that
// file (src/engine/run-event-docs.ts); with --dry-run, one object (./dry-run.ts prints it).

import type { PlannedStep } from '../engine/dry-run-plan.js';
import { shapedLines, type JsonOutput } from '../output/json-output.js';

/** `PLAN.yaml --dry-run --json`'s one object (./dry-run.ts prints it). */
export interface DryRunLine {
  readonly plan: string;
  readonly kind: string;
  readonly file: string;
  readonly wouldFail: boolean;
  readonly steps: readonly PlannedStep[];
}

// A run's events are the table of docs/json-events.md above this section (src/engine/run-event-docs.ts).
export const DRY_RUN_JSON: JsonOutput = {
  heading: '`PLAN.yaml --dry-run --json`',
  intro:
    'A run prints the events above. With `--dry-run`, one object; the dry run exits 1 when `wouldFail`, as the run would.',
  lines: shapedLines<{ 'the dry run': DryRunLine }>({
    'the dry run': {
      when: 'the steps are resolved',
      fields: {
        plan: '',
        kind: '',
        file: '',
        wouldFail: 'a step has `fails`',
        steps:
          '`[{ step, does, fails? }]`, in the order a run takes them (`does`: what the step would do, lines joined by `\\n`; `fails: true` on a step the run would stop at, its `does` beginning with `would FAIL:`)',
      },
    },
  }),
};
