// `sendense-run prune PLAN.yaml [--dry-run]`: apply the plan's keep-* retention now (SPEC
// section 10). --dry-run lists every point, kept (and by which rules) or merged into which point,
// and changes nothing. Holds the VM's lock like a run, so no backup of the VM runs meanwhile.
// SIGINT/SIGTERM/SIGHUP stop it after the merge under way (exit 130); a kill -9 is doctor's.

import { interruptedError } from '../engine/run-plan.js';
import { isSendenseError, SendenseError, usageError } from '../errors.js';
import { loadPlanForRun } from '../plan/load.js';
import type { BackupPlan } from '../plan/types.js';
import { describeDecision } from '../retention/prune-choice.js';
import { planPrune, pruneByPoints } from '../retention/prune-by-points.js';
import { refuseUnfinishedMerge } from '../retention/unfinished-merge.js';
import { openStore } from '../store/index.js';
import { isLostConnection } from '../store/lost-connection.js';
import { rejectUnknownOptions, takeFlag } from './args.js';
import type { CliContext, Command } from './context.js';

export const pruneCommand: Command = async (cli, args) => {
  const dry = takeFlag(args, '--dry-run');
  rejectUnknownOptions(dry.rest, 'prune');
  if (dry.rest.length !== 1) throw usageError('prune takes exactly one plan file (sendense-run prune PLAN.yaml [--dry-run])');
  const plan = await loadPlanForRun(dry.rest[0]!, process.env);
  if (plan.kind === 'restore' || plan.kind === 'verify' || plan.retention === undefined || plan.retention.keepChains !== undefined) {
    throw new SendenseError(`${plan.origin.file}: prune applies keep-* retention rules (retention.keepLast/keepDaily/keepWeekly/keepMonthly/keepYearly); this plan has none`, { exitCode: 2 });
  }
  const store = await openStore(cli.dbPath);
  try {
    return dry.present ? await showPrune(cli, store, plan) : await prune(cli, store, plan);
  } finally {
    await store.close();
  }
};

async function showPrune(cli: CliContext, store: Awaited<ReturnType<typeof openStore>>, plan: BackupPlan): Promise<number> {
  for (const decision of await planPrune(store, plan)) {
    const { backup, ...action } = decision;
    if (cli.json) cli.stdout.write(`${JSON.stringify({ type: 'point', id: backup.id, backupType: backup.type, takenAt: backup.startedAt, ...action })}\n`);
    else cli.stdout.write(`${describeDecision(decision)}\n`);
  }
  return 0;
}

async function prune(cli: CliContext, store: Awaited<ReturnType<typeof openStore>>, plan: BackupPlan): Promise<number> {
  const run = await store.createRun({ plan: plan.name, kind: 'prune', trigger: 'manual', planFile: plan.origin.file });
  const say = (line: string) => {
    if (cli.json) cli.stdout.write(`${JSON.stringify({ type: 'info', step: 'prune', message: line })}\n`);
    else if (!cli.quiet) cli.stdout.write(`${line}\n`);
  };
  let locked = false;
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) cli.stderr.write(`sendense-run: ${signal} received: stopping after the merge under way\n`);
    controller.abort(interruptedError(signal));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, onSignal);
  // A hub cut off from the shared state stops between two merges, before other hubs take its lock.
  const fence = store.fenced?.();
  const stop = fence === undefined ? controller.signal : AbortSignal.any([controller.signal, fence]);
  let status: 'succeeded' | 'failed' | 'interrupted' = 'succeeded';
  let failure: unknown;
  try {
    await store.lockVm(plan.vm.name, run.id, plan.name);
    locked = true;
    await refuseUnfinishedMerge(store, plan.vm.name, 'prune');
    const summary = await pruneByPoints(store, run.id, plan, say, stop);
    if (cli.json) cli.stdout.write(`${JSON.stringify({ type: 'summary', message: summary })}\n`);
    else cli.stdout.write(`${summary}\n`);
  } catch (error) {
    failure = error;
    status = controller.signal.aborted && error === controller.signal.reason ? 'interrupted' : 'failed';
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
  // The end recorded and the lock given back; out of reach, they are doctor's once it is back.
  let unrecorded: unknown;
  try {
    await store.finishRun(run.id, status, failure === undefined ? undefined : failure instanceof Error ? failure.message : String(failure));
    if (locked) await store.unlockVm(plan.vm.name, run.id);
  } catch (error) {
    unrecorded = error;
  }
  const fenced = fence?.aborted === true && failure === fence.reason;
  if (unrecorded !== undefined || fenced || isLostConnection(failure)) throw lostStateDatabase(cli.dbPath, run.id, fenced ? undefined : (unrecorded ?? failure), failure);
  if (failure !== undefined) throw failure;
  return 0;
}

// One line for a state database that went away under a prune: the files stay consistent (a merge
// under way is recorded, doctor finishes or rolls it back), the run's end is doctor's to record.
function lostStateDatabase(database: string, runId: string, cause: unknown, failure: unknown): SendenseError {
  if (isSendenseError(failure) && failure.message.startsWith('lost the state database')) return failure;
  const why = cause instanceof Error ? cause.message : String(cause);
  return new SendenseError(
    `lost the state database ${database} during prune run ${runId} (${why}): stopped; run sendense-run doctor once it is reachable (it records the run and finishes or rolls back the merge under way)`,
    { cause: failure ?? cause },
  );
}
