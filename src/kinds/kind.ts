// A plan kind (docs/how-it-works.md#plan-kinds): what plan loading, status, metrics and history
// know of it (KindDefinition, light, loaded with every plan), and how the engine runs it
// (KindModule: its steps in order, the run its steps act on, and what its end reports, loaded when
// a run needs it). Nothing outside src/kinds names a kind; each is one folder beside this file,
// listed in index.ts.

import type { RunContext } from '../engine/run-context.js';
import type { DiskFacts } from '../engine/step-facts.js';
import type { Step } from '../engine/step.js';
import type { PlanCommon } from '../plan/build-parts.js';
import type { PlanCheck } from '../plan/checks/check-context.js';
import type { KindSchema } from '../plan/kind-schemas.js';
import type { BackupPlan, CopyPlan, Plan, ReplicatePlan } from '../plan/types.js';
import type { SendenseError } from '../errors.js';
import type { Store } from '../store/index.js';

/** What run-end reports of a kind's run (docs/json-events.md). */
export interface EndFacts {
  /** The backup the run made (backups) or read (restores). */
  readonly backupId?: string;
  readonly taken?: 'full' | 'incremental';
  readonly disks?: readonly DiskFacts[];
  /** null: no disk's count is known. */
  readonly bytes?: number | null;
  /** Why the point the run made is suspect (docs/anomaly.md); absent when it is not. */
  readonly suspect?: string;
}

export interface KindModule<R extends RunContext = RunContext> {
  /** The steps, in order; the first usually resolves the run's state for the others. */
  readonly steps: readonly Step<R>[];
  /** Steps after a successful run and its cleanup (retention): a failure there is a warning. */
  readonly afterSteps: readonly Step<R>[];
  /** What the engine's cleanup gives back, as --dry-run says it; none: no cleanup step is listed. */
  readonly cleanup?: string;
  /** The run the steps act on, from the engine's context (a dry run takes and starts nothing). */
  open(base: RunContext<R['plan']>, mode: 'run' | 'dry-run'): Promise<R>;
  /** After the steps, whatever their outcome: gives back what `open` took. */
  close?(run: R): Promise<void>;
  /** What run-end reports. */
  endFacts(run: R): EndFacts;
  /**
   * Why a run that failed so is taken again at once, from its first step, with a fresh undo stack
   * (once; a backup whose chain the source refused at the snapshot); undefined: not taken again.
   */
  again?(error: SendenseError): string | undefined;
  /** How many disks the run copies, for the hub's disk slots (an estimate; 0: none). */
  disksToTransfer(plan: R['plan'], store: Store): Promise<number>;
}

/** Any kind's run module, whatever its run (the registry gives each plan its own). */
export type AnyKindModule = KindModule<RunContext>;

/** Where a kind's runs keep their points: status, metrics and history read them there. */
export type PointsOn = 'repository' | 'replica';

/** What every command knows of a kind without running it: its plans and the facts read of its runs. */
export interface KindDefinition<P extends Plan = Plan> {
  /** The values of a plan's `kind` it takes (backup and incremental are one kind). */
  readonly names: readonly string[];
  /** Its part of the plan schema, when schemas/plan.schema.json does not have it. */
  readonly schema?: KindSchema;
  /** The checks the schema cannot do, run on its plans' data (which may have schema errors). */
  readonly checks: readonly PlanCheck[];
  /** The typed plan from data that passed every check: its own blocks, defaults filled in. */
  build(data: unknown, common: PlanCommon): P;
  /** Its run modules by name, loaded when a run needs one (a restore has one per target family). */
  readonly runs: Readonly<Record<string, () => Promise<AnyKindModule>>>;
  /** Which of runs a plan runs; default the only one. */
  runOf?(plan: P): string;
  /** Whether its plans read a VM's source (vm.source): validate checks plans for one source under two names. */
  readonly readsSource: boolean;
  readonly pointsOn: PointsOn;
  /** The VM whose points metrics count; undefined: every VM of the repository. Default: the plan's VM. */
  pointsVm?(plan: P): string | undefined;
  /** What the run's end line calls the point it made or read (run-end's backupId); default 'backup'. */
  readonly pointWord?: string;
  /** What history shows as taken for its runs, which record none; default none. */
  readonly historyTaken?: string;
  /** Its runs hold the plan's VM's lock: a run first waits for its turn at the VM as the plan's busy says (docs/how-it-works.md#busy-vms). */
  readonly locksVm?: boolean;
  /** The least API role that may run this plan (docs/api.md#tokens-and-roles); default operator. */
  runRole?(plan: P): 'restore' | 'operator';
  /** What only some kinds' plans offer, by name (planCapability in ./index.ts); none: nothing of the kind. */
  readonly capabilities?: KindCapabilities<P>;
}

/**
 * What only some kinds' plans offer, asked for by name: a command made for one kind's plans asks
 * the plan's kind for what it needs, and refuses a plan whose kind offers none
 * (docs/how-it-works.md#plan-kinds). Each gives the plan as the command reads it.
 */
export interface KindCapabilities<P extends Plan = Plan> {
  /** A VM's points taken in chains into a repository, with its retention rules (prune, retire). */
  chains?(plan: P): BackupPlan;
  /** A VM kept in sync on a replica node (failover, failback, replicas --verify). */
  replica?(plan: P): ReplicatePlan;
  /** A repository's points copied to a target, which may offer more of its own (fetch). */
  copy?(plan: P): CopyPlan;
}

/** What a plan's kind gives for a capability. */
export type KindCapability<K extends keyof KindCapabilities> = ReturnType<NonNullable<KindCapabilities[K]>>;

// run-start's step list and --dry-run's order: the steps, cleanup when the kind has one, the after-steps.
export function stepNames<R extends RunContext>(kind: KindModule<R>): readonly string[] {
  return [
    ...kind.steps.map((step) => step.name),
    ...(kind.cleanup === undefined ? [] : ['cleanup']),
    ...kind.afterSteps.map((step) => step.name),
  ];
}
