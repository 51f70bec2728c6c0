// --dry-run: the steps of a plan, each saying what it would do, resolved by the same resolvers as
// a run (resolve-chain, allocate-ports, resolve-point) but taking and recording nothing. A remote
// node is not contacted; the state database is only read.

import { createLocalNode } from '../node/local.js';
import type { NodeHost } from '../node/node.js';
import { uncontactedNode } from '../node/uncontacted-node.js';
import type { Plan } from '../plan/types.js';
import type { HubConfig } from '../hub/hub-config.js';
import { runBandwidth } from '../hub/hub-bandwidth.js';
import type { Store } from '../store/index.js';
import { loadKind } from '../kinds/index.js';
import type { RunContext } from './run-context.js';
import type { DryRun, Step } from './step.js';
import { checkPlanRepository } from './plan-repository.js';
import { UndoStack } from './undo-stack.js';

export interface PlannedStep {
  readonly step: string;
  /** What the step would do, resolved; several lines for several disks. */
  readonly does: string;
  /** The run would stop at this step. */
  readonly fails?: true;
}

export interface DryRunOptions extends DryRun {
  /** Read only: a dry run records nothing (an empty one when no state database exists yet). */
  readonly store: Store;
  /** The hub config: its rate and windows show where a step's data path is limited. */
  readonly hub?: HubConfig;
}

export async function dryRunPlan(plan: Plan, options: DryRunOptions): Promise<PlannedStep[]> {
  const node: NodeHost = plan.node === undefined ? createLocalNode() : uncontactedNode(plan.node);
  const base: RunContext = {
    plan,
    runId: 'dry-run',
    store: options.store,
    node,
    reporter: { emit: () => undefined, close: async () => undefined },
    undo: new UndoStack(),
    bandwidth: runBandwidth(plan, options.hub),
    signal: new AbortController().signal,
    abort: () => undefined,
  };
  const kind = await loadKind(plan);
  await checkPlanRepository(plan);
  const run = await kind.open(base, 'dry-run');
  const cleanup = kind.cleanup === undefined ? [] : [{ step: 'cleanup', does: kind.cleanup }];
  return [
    ...(await describe(run, kind.steps, options)),
    ...cleanup,
    ...(await describe(run, kind.afterSteps, options)),
  ];
}

// In order: a resolving step fills the state the next ones describe.
async function describe<R>(run: R, steps: readonly Step<R>[], dry: DryRun): Promise<PlannedStep[]> {
  const planned: PlannedStep[] = [];
  for (const step of steps) {
    const said = await step.would(run, dry);
    planned.push(typeof said === 'string' ? { step: step.name, does: said } : { step: step.name, ...said });
  }
  return planned;
}
