// Runs one plan: records the run, connects to the node, runs its kind's steps (src/kinds/) with
// cleanup on every exit path, and records how it ended. Used by `sendense-run PLAN` and the scheduler.

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
import { stepNames, type EndFacts } from '../kinds/kind.js';
import type { RunContext } from './run-context.js';
import type { RunReporter } from './run-events.js';
import { runSteps, type StepsOutcome } from './run-steps.js';
import { UndoStack } from './undo-stack.js';
import { crashPoint } from '../crash-points.js';
import { checkPlanRepository } from './plan-repository.js';
import type { HubConfig } from '../hub/hub-config.js';
import { checkHubScope } from '../hub/hub-scope.js';
import { giveBackDiskSlots, takeDiskSlots, type DiskSlots } from '../hub/disk-queue.js';
import { takeVmTurn } from '../hub/vm-turn.js';
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

export async function runPlan(plan: Plan, options: RunPlanOptions): Promise<RunResult> {
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
  const forward = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) forward();
  options.signal?.addEventListener('abort', forward, { once: true });
  // A hub cut off from the shared state stops its runs before other hubs take them over.
  const fence = store.fenced?.();
  const fenced = () => controller.abort(fence?.reason);
  if (fence?.aborted) fenced();
  fence?.addEventListener('abort', fenced, { once: true });

  const kind = await loadKind(plan);
  reporter.emit({ type: 'run-start', runId, plan: plan.name, kind: plan.kind, steps: stepNames(kind) });

  let outcome: StepsOutcome | { readonly status: 'skipped'; readonly error?: undefined; readonly skipped: string };
  let ended: EndFacts = {};
  let node: NodeHost | undefined;
  let diskSlots: DiskSlots | undefined;
  const lockedVm = kindOf(plan).locksVm === true && 'vm' in plan ? plan.vm.name : undefined;
  let vmTaken = false;
  // Whether the run got as far as opening its node: an error before (the VM's turn, the queue) names no step.
  let opening = false;
  try {
    // Queued before anything is taken: a waiting run holds no port, process or connection.
    // The hub's scope is checked before the run queues, so allocate-ports cannot fail on it later.
    if (options.hub) checkHubScope(options.hub, plan);
    await checkPlanRepository(plan);
    // Its turn at the VM first (docs/how-it-works.md#busy-vms): a run waiting for it holds nothing.
    if (lockedVm !== undefined) {
      const turn = await takeVmTurn({
        store,
        vm: lockedVm,
        plan: plan.name,
        runId,
        busy: plan.busy,
        reporter,
        signal: controller.signal,
      });
      if (!turn.taken) throw new SkipRun(turn.reason);
      vmTaken = true;
    }
    const disks = options.hub ? await kind.disksToTransfer(plan, store) : 0;
    if (options.hub && disks > 0) {
      diskSlots = await takeDiskSlots({
        store,
        hub: options.hub,
        runId,
        plan: plan.name,
        disks,
        queuedAt: options.queuedAt,
        reporter,
        signal: controller.signal,
      });
    }
    opening = true;
    node = await openNode(plan);
    // before hooks run before any step takes anything; one failing fails the run.
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
      const run = await kind.open(context, 'run');
      try {
        return await runSteps(run, kind.steps, kind.afterSteps, first ? { takenAgain } : {});
      } finally {
        await kind.close?.(run);
        ended = kind.endFacts(run);
      }
    };
    outcome = await attempt(base, true);
    // Taken again once, with what the first attempt gave back (its cleanup ran) but the VM's lock: a
    // backup whose chain the source refused at the snapshot becomes a full into a new chain
    // (docs/vmware.md#a-change-id-vsphere-rejects). Not taken again (a cancel meanwhile), the lock
    // is given back below as the run's turn.
    const again = outcome.status === 'failed' && outcome.error ? kind.again?.(outcome.error) : undefined;
    if (again !== undefined && !controller.signal.aborted) {
      reporter.emit({ type: 'warning', message: again });
      crashPoint('run.taken-again');
      outcome = await attempt({ ...base, undo: new UndoStack() }, false);
    }
  } catch (error) {
    if (error instanceof SkipRun) outcome = { status: 'skipped', skipped: error.message };
    else {
      outcome = { status: 'failed', error: asRunError(error, opening ? 'open-tunnel' : undefined) };
      if (outcome.error?.exitCode === 130) outcome = { status: 'interrupted', error: outcome.error };
    }
  } finally {
    options.signal?.removeEventListener('abort', forward);
    fence?.removeEventListener('abort', fenced);
    // The VM lock taken for the run's turn, when no step's cleanup gave it back (a failure before the steps).
    if (vmTaken) await store.unlockVm(lockedVm!, runId).catch(() => undefined);
    // Out of reach (a lost PostgreSQL): the slots are another process's to take back (doctor, the
    // next run, or another hub once this one's heartbeat is old).
    if (diskSlots) {
      await giveBackDiskSlots(store, runId).catch((slotError: unknown) =>
        reporter.emit({
          type: 'warning',
          message: `could not give back the disk slots of run ${runId}: ${(slotError as Error).message}`,
        }),
      );
    }
  }
  const error = outcome.status === 'skipped' ? outcome.skipped : maskSecrets(outcome.error?.describe());
  const { backupId, ...facts } = ended;
  // A refusal to start now (another run holds the VM) is its own outcome, not a failure of the plan.
  let status: RunResult['status'] =
    outcome.status === 'failed' && outcome.error?.refusedStart === true ? 'refused' : outcome.status;
  const env = hookEnv({ plan, runId, status, backupId, error });
  // A skipped or refused run never started (no before hook ran): no end hooks either.
  if (status !== 'skipped' && status !== 'refused')
    await runEndHooks(plan.hooks, status === 'succeeded', { node, reporter, env });
  await node?.close().catch(() => undefined);
  const seconds = (Date.now() - started) / 1000;
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
    if (outcome.status === 'succeeded') {
      outcome = { status: 'failed', error: lost };
      status = 'failed';
    }
  }
  await writeMetrics(plan, options, reporter, facts.bytes ?? 0);
  const endError = maskSecrets(outcome.error?.describe());
  const end = { runId, status, seconds, backupId, ...facts, error: endError };
  // After the run is recorded: a notification that cannot be sent is only a warning and a note.
  const about = { plan: plan.name, kind: plan.kind, vm: plan.vm.name, hub: options.hub?.name ?? hostname() };
  await notifyRunEnd(plan.notify ?? options.hub?.notify, maskDeep({ ...end, ...about }), {
    store,
    reporter,
    env: options.env ?? process.env,
  });
  reporter.emit({ type: 'run-end', ...end });
  return { runId, status, error: outcome.error, backupId, seconds };
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
