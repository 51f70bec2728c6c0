// A kind of the tests' own (docs/how-it-works.md#plan-kinds): a `note` plan writes one line into
// its repository's notes/ folder. Everything it needs is here: its schema part, its check, its
// builder and its one step; the registry takes it with registerKind.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunContext } from '../../../src/engine/run-context.js';
import type { Step } from '../../../src/engine/step.js';
import type { KindDefinition, KindModule } from '../../../src/kinds/kind.js';
import { buildRepository } from '../../../src/plan/build-parts.js';
import type { RawRepository } from '../../../src/plan/plan-shape.generated.js';
import { stringAt } from '../../../src/plan/raw-plan.js';
import type { Plan, PlanBase } from '../../../src/plan/types.js';

/** A note plan: a plan like any other, with its own block. */
export interface NotePlan extends PlanBase {
  readonly kind: 'note';
  readonly vm: { readonly name: string };
  readonly note: { readonly text: string };
}

// The engine hands every run a Plan; the shipped kinds' plans are its union, which a test's kind
// is not in, so its run reads its own plan through this one cast.
const noteOf = (run: RunContext): NotePlan => run.plan as unknown as NotePlan;

// Where a note plan's line goes.
export function noteFile(repository: string, plan: string): string {
  return path.join(repository, 'notes', `${plan}.txt`);
}

const writeNote: Step<RunContext> = {
  name: 'write-note',
  title: (run) => `write the note of ${run.plan.name}`,
  async run(run) {
    const plan = noteOf(run);
    const file = noteFile(plan.repository.path, plan.name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${plan.note.text}\n`);
    return `wrote ${file}`;
  },
  would: (run) => `would write ${noteFile(noteOf(run).repository.path, run.plan.name)}`,
};

const noteModule: KindModule<RunContext> = {
  steps: [writeNote],
  afterSteps: [],
  async open(base) {
    return base;
  },
  endFacts: () => ({}),
  disksToTransfer: async () => 0,
};

export const noteKind: KindDefinition = {
  names: ['note'],
  schema: {
    about: 'note: (a test kind) write one line into the repository’s notes/ folder.',
    properties: {
      note: {
        type: 'object',
        additionalProperties: false,
        required: ['text'],
        properties: { text: { type: 'string', minLength: 1, description: 'The line to write.' } },
      },
    },
    then: {
      required: ['repository', 'note'],
      properties: {
        vm: false,
        node: false,
        incremental: false,
        retention: false,
        restore: false,
        verify: false,
        recover: false,
        replica: false,
        copy: false,
      },
    },
  },
  // What the schema cannot say: one line.
  checks: [
    ({ data, issues }) => {
      if (stringAt(data, 'note', 'text')?.includes('\n')) issues.error(['note', 'text'], 'note.text: one line only');
    },
  ],
  build(data, common) {
    const raw = data as { repository: RawRepository; note: { text: string } };
    const plan: NotePlan = {
      ...common,
      repository: buildRepository(raw.repository),
      kind: 'note',
      vm: { name: 'all' },
      note: { text: raw.note.text },
    };
    return plan as unknown as Plan;
  },
  runs: { note: async () => noteModule },
  readsSource: false,
  pointsOn: 'repository',
  pointsVm: () => undefined,
  pointWord: 'note',
};
