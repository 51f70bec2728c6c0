// Retention by points for one plan (its own points of its VM in its repository): choose, then merge and remove.
// Used by the retention step after a run and by `sendense-run prune`, which both hold the VM's lock.

import type { BackupPlan } from '../plan/types.js';
import type { Backup, Store } from '../store/index.js';
import { applyPrune } from './apply-prune.js';
import { choosePrune, type PointDecision, type PrunablePoint } from './prune-choice.js';
import { formatBytes } from '../format/bytes.js';

export async function planPrune(store: Store, plan: BackupPlan): Promise<readonly PointDecision[]> {
  return choosePrune(await recordedPoints(store, plan), plan.retention ?? {}, plan.timezone, plan.name);
}

// What the retention step will decide once `coming` (the backup a run is about to take) is complete: --dry-run.
export async function planPruneAfter(
  store: Store,
  plan: BackupPlan,
  coming: PrunablePoint,
): Promise<readonly PointDecision<PrunablePoint>[]> {
  return choosePrune(
    [...(await recordedPoints(store, plan)), { ...coming, plan: plan.name }],
    plan.retention ?? {},
    plan.timezone,
    plan.name,
  );
}

// This plan's VM's backups in its repository, oldest first.
async function recordedPoints(store: Store, plan: BackupPlan): Promise<readonly Backup[]> {
  return (await store.listBackups({ vm: plan.vm.name })).filter((backup) => backup.repository === plan.repository.path);
}

// Returns the one-line summary.
export async function pruneByPoints(
  store: Store,
  runId: string,
  plan: BackupPlan,
  say: (line: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  const decisions = await planPrune(store, plan);
  const summary = await applyPrune(store, runId, decisions, say, signal);
  if (summary.merged + summary.removed === 0) return `nothing to remove; ${summary.kept} point(s) kept`;
  return `${summary.merged} point(s) merged (${formatBytes(summary.copiedBytes)} copied), ${summary.removed} removed, ${summary.kept} kept, in ${summary.seconds.toFixed(2)} s`;
}
