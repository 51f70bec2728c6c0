// Runs one plan: records the run, takes its turn, connects to the node, runs its kind's steps
// (src/kinds/) with cleanup on every exit path, and records how it ended, as phases over one stack
// of what the run took. Used by `sendense-run PLAN` and the scheduler.

import { hostname } from 'node:os';
import { SendenseError, asRunError } from '../errors.js';
import { createLocalNode } from '../node/local.js';
import type { NodeHost } from '../node/node.js';
import type { Plan } from '../plan/types.js';
import { newRunId } from '../repository/layout.js';
import type { Store } from '../store/index.js';
import { hookEnv } from '../hooks/hook-env.js';
import { formatMetrics, metricsPath, planMetrics, writeMetricsFile } from '../metrics/prometheus-textfile.js';
import { addSecret, isSecretName, maskDeep, maskSecrets } from '../secrets/mask.js';
import { runBeforeHooks, runEndHooks } from '../hooks/run-hooks.js';
import { loadKind } from '../kinds/index.js';
import { stepNames, type EndFacts, type KindModule } from '../kinds/kind.js';
import type { RunContext } from './run-context.js';
import type { RunReporter } from './run-events.js';
import { runSteps, type StepsOutcome } from './run-steps.js';
import { UndoStack } from './undo-stack.js';
import { crashPoint } from '../crash-points.js';
import { checkPlanRepository } from './plan-repository.js';
import type { HubConfig } from '../hub/hub-config.js';
import { checkHubScope } from '../hub/hub-scope.js';
import { giveBackDiskSlots, takeDiskSlots, type DiskSlots } from '../hub/disk-queue.js';
import { takeVmTurn } from './vm-turn.js';
import { kindOf } from '../kinds/index.js';
import { runBandwidth } from '../hub/hub-bandwidth.js';
import { notifyRunEnd } from '../notify/notify-run-end.js';

export interface RunPlanOptions {
  readonly store: Store;
  readonly reporter: RunReporter;
  readonly trigger: 'manual' | 'schedule' | 'api';
  /** trigger api: the token's name (docs/api.md). */
  readonly actor?: string;
  /** Cancels the run (SIGINT/SIGTERM); its reason should be a SendenseError with exitCode 130. */
  readonly signal?: AbortSignal;
  /** Prometheus textfile to write after the run (--metrics-file); default the plan's metricsFile. */
  readonly metricsFile?: string;
  /** The hub's limits (docs/how-it-works.md#scale): a run that transfers disks waits for slots; none = no limits. */
  readonly hub?: HubConfig;
  /** Its place in the hub's queue (a scheduled fire's time); default when it starts. */
  readonly queuedAt?: Date;
  /** A run already recorded as running (a shared schedule's claimed fire); default a new one. */
  readonly runId?: string;
  /** Where notifications read their secrets' environment variables; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  readonly runId: string;
  /**
   * skipped: its VM was busy with another plan's run and the plan says busy: skip; refused: it was
   * busy and the plan says busy: fail, or it stayed busy past busy.wait (not a failure of the plan).
   */
  readonly status: 'succeeded' | 'failed' | 'interrupted' | 'skipped' | 'refused';
  readonly error?: SendenseError;
  readonly backupId?: string;
  readonly seconds: number;
}

// A run in phases (docs/how-it-works.md#a-run-in-phases): begin records it and follows its cancel;
// admit takes its turn (the VM, the hub's disk slots); transfer opens its node, runs the before
// hooks and the kind's steps; record runs the end hooks and records how it ended; announce writes
// the metrics file, notifies and says run-end. What the run takes before its steps is on one
// stack, given back newest first when the transfer ends, however it ends.
export async function runPlan(plan: Plan, options: RunPlanOptions): Promise<RunResult> {
  const run = await begin(plan, options);
  const transferred = await takeAndTransfer(run);
  return announce(run, await record(run, transferred));
}

/** A run under way: what its phases share. */
interface Run {
  readonly plan: Plan;
  readonly options: RunPlanOptions;
  readonly store: Store;
  readonly runId: string;
  readonly started: number;
  readonly reporter: RunReporter;
  readonly kind: KindModule<RunContext>;
  readonly controller: AbortController;
  /** The one stack of what the run took before its steps (its cancel, its VM turn, its disk slots). */
  readonly taken: UndoStack;
}

type Outcome = StepsOutcome | { readonly status: 'skipped'; readonly error?: undefined; readonly skipped: string };

/** How the transfer phase ended, and the node the end hooks run on (when it was opened). */
interface Transferred {
  readonly outcome: Outcome;
  readonly ended: EndFacts;
  readonly node?: NodeHost;
}

/** What the record phase recorded. */
interface Recorded {
  readonly status: RunResult['status'];
  readonly error?: SendenseError;
  readonly ended: EndFacts;
  readonly seconds: number;
}

// begin: the run recorded as running (unless it already is), its cancel and the store's fence
// followed (taken: given back with the rest), its kind loaded, run-start said.
async function begin(plan: Plan, options: RunPlanOptions): Promise<Run> {
  const { store } = options;
  rememberHookSecrets(plan);
  const reporter = maskingReporter(options.reporter);
  const runId = options.runId ?? newRunId();
  const started = Date.now();
  if (options.runId === undefined) {
    await store.createRun({
      id: runId,
      plan: plan.name,
      kind: plan.kind,
      trigger: options.trigger,
      ...(options.actor ? { actor: options.actor } : {}),
      planFile: plan.origin.file,
      pid: process.pid,
      hostname: hostname(),
    });
  }
  const controller = new AbortController();
  const taken = new UndoStack();
  followCancel(controller, options.signal, taken);
  // A hub cut off from the shared state stops its runs before other hubs take them over.
  followCancel(controller, store.fenced?.(), taken);
  try {
    const kind = await loadKind(plan);
    reporter.emit({ type: 'run-start', runId, plan: plan.name, kind: plan.kind, steps: stepNames(kind) });
    return { plan, options, store, runId, started, reporter, kind, controller, taken };
  } catch (error) {
    await taken.unwind();
    throw error;
  }
}

// The run's controller aborts with `signal`, until the run gives back what it took.
function followCancel(controller: AbortController, signal: AbortSignal | undefined, taken: UndoStack): void {
  if (signal === undefined) return;
  const forward = () => controller.abort(signal.reason);
  if (signal.aborted) forward();
  signal.addEventListener('abort', forward, { once: true });
  const stop = async () => signal.removeEventListener('abort', forward);
  taken.push({ what: 'stop following the cancel', when: 'always', step: 'begin', run: stop });
}

// admit, open and transfer; whatever ends them, what the run took is given back (newest first)
// before the end hooks run, and an error becomes the run's outcome.
async function takeAndTransfer(run: Run): Promise<Transferred> {
  let ended: EndFacts = {};
  let node: NodeHost | undefined;
  // Whether the run got as far as opening its node: an error before (the VM's turn, the queue) names no step.
  let opening = false;
  try {
    const diskSlots = await admit(run);
    opening = true;
    node = await openNode(run.plan);
    const outcome = await transfer(run, node, diskSlots, (facts) => (ended = facts));
    return { outcome, ended, node };
  } catch (error) {
    return { outcome: stoppedOutcome(error, opening), ended, ...(node === undefined ? {} : { node }) };
  } finally {
    await run.taken.unwind();
  }
}

// admit: queued before anything is taken, so a waiting run holds no port, process or connection.
// The hub's scope is checked before the run queues (allocate-ports cannot fail on it later), then
// its turn at the VM (docs/how-it-works.md#busy-vms), then the hub's disk slots; each is on the
// run's stack the moment it is taken.
async function admit(run: Run): Promise<DiskSlots | undefined> {
  const { plan, options, store, runId, reporter, controller, taken } = run;
  if (options.hub) checkHubScope(options.hub, plan);
  await checkPlanRepository(plan);
  if (kindOf(plan).locksVm === true && 'vm' in plan) {
    const turn = await takeVmTurn({
      store,
      vm: plan.vm.name,
      plan: plan.name,
      runId,
      busy: plan.busy,
      reporter,
      signal: controller.signal,
      taken,
    });
    if (!turn.taken) throw new SkipRun(turn.reason);
  }
  const disks = options.hub ? await run.kind.disksToTransfer(plan, store) : 0;
  if (!options.hub || disks === 0) return undefined;
  const diskSlots = await takeDiskSlots({
    store,
    hub: options.hub,
    runId,
    plan: plan.name,
    disks,
    queuedAt: options.queuedAt,
    reporter,
    signal: controller.signal,
  });
  // Out of reach (a lost PostgreSQL): the slots are another process's to take back (doctor, the
  // next run, or another hub once this one's heartbeat is old).
  const giveBack = () =>
    giveBackDiskSlots(store, runId).catch((slotError: unknown) =>
      reporter.emit({
        type: 'warning',
        message: `could not give back the disk slots of run ${runId}: ${(slotError as Error).message}`,
      }),
    );
  taken.push({ what: `give back the disk slots of run ${runId}`, when: 'always', step: 'admit', run: giveBack });
  return diskSlots;
}

// transfer: the before hooks (before any step takes anything; one failing fails the run), then
// the kind's steps, taken again once when the kind says so.
async function transfer(
  run: Run,
  node: NodeHost,
  diskSlots: DiskSlots | undefined,
  onEnded: (facts: EndFacts) => void,
): Promise<StepsOutcome> {
  const { plan, options, store, runId, reporter, controller, kind } = run;
  const env = hookEnv({ plan, runId, status: 'running' });
  const refused = await runBeforeHooks(plan.hooks.before, { node, reporter, env, signal: controller.signal });
  if (refused !== undefined) throw refused;
  const base: RunContext = {
    plan,
    runId,
    store,
    node,
    reporter,
    undo: new UndoStack(),
    diskSlots,
    bandwidth: runBandwidth(plan, options.hub),
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
  };
  // Only the first attempt may be taken again; the VM's lock is then kept across (keptWhenTakenAgain).
  const takenAgain = (error: SendenseError) => kind.again?.(error) !== undefined && !controller.signal.aborted;
  const attempt = async (context: RunContext, first: boolean) => {
    const steps = await kind.open(context, 'run');
    try {
      return await runSteps(steps, kind.steps, kind.afterSteps, first ? { takenAgain } : {});
    } finally {
      await kind.close?.(steps);
      onEnded(kind.endFacts(steps));
    }
  };
  const outcome = await attempt(base, true);
  // Taken again once, with what the first attempt gave back (its cleanup ran) but the VM's lock: a
  // backup whose chain the source refused at the snapshot becomes a full into a new chain
  // (docs/vmware.md#a-change-id-vsphere-rejects). Not taken again (a cancel meanwhile), the lock
  // is given back with the run's turn.
  const again = outcome.status === 'failed' && outcome.error ? kind.again?.(outcome.error) : undefined;
  if (again === undefined || controller.signal.aborted) return outcome;
  reporter.emit({ type: 'warning', message: again });
  crashPoint('run.taken-again');
  return attempt({ ...base, undo: new UndoStack() }, false);
}

// An error that stopped admit, open or transfer as the run's outcome.
function stoppedOutcome(error: unknown, opening: boolean): Outcome {
  if (error instanceof SkipRun) return { status: 'skipped', skipped: error.message };
  const failure = asRunError(error, opening ? 'open-tunnel' : undefined);
  return failure.exitCode === 130 ? { status: 'interrupted', error: failure } : { status: 'failed', error: failure };
}

// record: the end hooks on the node, the node closed, the run's end in the state database.
async function record(run: Run, { outcome, ended, node }: Transferred): Promise<Recorded> {
  const { plan, store, runId, reporter } = run;
  const error = outcome.status === 'skipped' ? outcome.skipped : maskSecrets(outcome.error?.describe());
  const { backupId, ...facts } = ended;
  // A refusal to start now (another run holds the VM) is its own outcome, not a failure of the plan.
  const status: RunResult['status'] =
    outcome.status === 'failed' && outcome.error?.refusedStart === true ? 'refused' : outcome.status;
  const env = hookEnv({ plan, runId, status, backupId, error });
  // A skipped or refused run never started (no before hook ran): no end hooks either.
  if (status !== 'skipped' && status !== 'refused')
    await runEndHooks(plan.hooks, status === 'succeeded', { node, reporter, env });
  await node?.close().catch(() => undefined);
  const seconds = (Date.now() - run.started) / 1000;
  try {
    await store.finishRun(runId, status, error, { backupId, taken: facts.taken, bytes: facts.bytes });
  } catch (recordError) {
    // The state database is out of reach (a lost PostgreSQL, the reason a fenced run stopped):
    // said here in one line; doctor on this hub records the run once it is back.
    const lost = new SendenseError(
      `could not record the end of run ${runId} in the state database (${(recordError as Error).message}): run sendense-run doctor once it is reachable`,
      {
        cause: recordError,
      },
    );
    reporter.emit({ type: 'warning', message: lost.message });
    if (outcome.status === 'succeeded') return { status: 'failed', error: lost, ended, seconds };
  }
  return { status, ...(outcome.error === undefined ? {} : { error: outcome.error }), ended, seconds };
}

// announce: the metrics file, the notification (after the run is recorded: one that cannot be
// sent is only a warning and a note), and run-end.
async function announce(run: Run, { status, error, ended, seconds }: Recorded): Promise<RunResult> {
  const { plan, options, store, runId, reporter } = run;
  const { backupId, ...facts } = ended;
  await writeMetrics(plan, options, reporter, facts.bytes ?? 0);
  const end = { runId, status, seconds, backupId, ...facts, error: maskSecrets(error?.describe()) };
  const about = { plan: plan.name, kind: plan.kind, vm: plan.vm.name, hub: options.hub?.name ?? hostname() };
  await notifyRunEnd(plan.notify ?? options.hub?.notify, maskDeep({ ...end, ...about }), {
    store,
    reporter,
    env: options.env ?? process.env,
  });
  reporter.emit({ type: 'run-end', ...end });
  return { runId, status, error, backupId, seconds };
}

// A run that does not happen, by the plan's choice (busy: skip): recorded as skipped, not failed.
class SkipRun extends Error {}

// The run is recorded either way: a metrics file that cannot be written is a warning.
async function writeMetrics(plan: Plan, options: RunPlanOptions, reporter: RunReporter, bytes: number): Promise<void> {
  const template = options.metricsFile ?? plan.metricsFile;
  if (template === undefined) return;
  const file = metricsPath(template, plan.name);
  try {
    const metrics = await planMetrics(options.store, plan, bytes);
    if (metrics) await writeMetricsFile(file, formatMetrics(metrics));
  } catch (error) {
    reporter.emit({ type: 'warning', message: `could not write metrics file ${file}: ${(error as Error).message}` });
  }
}

// A token a hook gets in its environment (${WEBHOOK_TOKEN}) is a secret if its name says so.
function rememberHookSecrets(plan: Plan): void {
  const { before, after, onFailure, always } = plan.hooks;
  for (const hook of [...before, ...after, ...onFailure, ...always]) {
    for (const [name, value] of Object.entries(hook.env)) if (isSecretName(name)) addSecret(value);
  }
}

// Every event is masked before any renderer (terminal, plain, JSON, the scheduler's) sees it.
function maskingReporter(reporter: RunReporter): RunReporter {
  return { emit: (event) => reporter.emit(maskDeep(event)), close: () => reporter.close() };
}

async function openNode(plan: Plan): Promise<NodeHost> {
  if (plan.node === undefined) return createLocalNode();
  const { connectSshNode } = await import('../node/ssh.js');
  return connectSshNode(plan.node);
}

export function interruptedError(signal: string): SendenseError {
  return new SendenseError(`interrupted by ${signal}`, { exitCode: 130 });
}
