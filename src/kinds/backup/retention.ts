// retention: after a successful run, keep the newest `keepChains` chains of this VM in this
// repository and delete the older ones whole (files, then records; newest backup first so an
// incremental goes before its parent). A chain counts only once its full backup is complete, and
// a chain with a backup still running (something builds on it) is never touched.
// With keep-* rules instead: retention by points, unkept points merged away (src/retention/).

import { rm } from 'node:fs/promises';
import type { BackupRun } from './backup-run.js';
import type { Step } from '../../engine/step.js';
import { formatBytes } from '../../format/bytes.js';
import type { Backup } from '../../store/index.js';
import { manifestPath } from '../../repository/manifest.js';
import { chainsToDelete } from './retention-choice.js';
import { planPruneAfter, pruneByPoints } from '../../retention/prune-by-points.js';
import { describeDecision } from '../../retention/prune-choice.js';
import { requireRealPointDirs } from '../../repository/private-dirs.js';
import type { KeepRules } from '../../retention/keep-rules.js';
import { NEW_BACKUP_ID } from './resolve-chain.js';

export const retention: Step<BackupRun> = {
  name: 'retention',
  title: (run) =>
    run.plan.retention?.keepChains === undefined
      ? `keep the points of ${run.plan.vm.name} in ${run.plan.repository.path} the keep-* rules keep, merge the others away`
      : `keep the newest ${run.plan.retention.keepChains} chain(s) of ${run.plan.vm.name} in ${run.plan.repository.path}`,
  skip: (run) => (run.plan.retention === undefined ? 'no retention block in the plan' : undefined),
  async run(run) {
    const { plan, store, reporter } = run;
    const keep = plan.retention!.keepChains;
    if (keep === undefined) {
      const say = (message: string) => reporter.emit({ type: 'info', step: 'retention', message });
      return pruneByPoints(store, run.runId, plan, say, run.signal);
    }
    const backups = (await store.listBackups({ vm: plan.vm.name })).filter(
      (backup) => backup.repository === plan.repository.path,
    );
    const choice = chainsToDelete(backups, keep, run.state.chainId, plan.name);
    for (const chain of choice.protected) {
      reporter.emit({ type: 'info', step: 'retention', message: `chain ${chain.chainId} kept: ${chain.reason}` });
    }
    let files = 0;
    let bytes = 0;
    for (const chain of choice.delete) {
      // Newest first: an incremental's file and record go before its parent's.
      for (const backup of [...chain.backups].reverse()) {
        await requireRealPointDirs(backup);
        for (const disk of backup.disks) {
          await rm(disk.file, { force: true });
          await rm(manifestPath(disk.file), { force: true });
        }
        await store.deleteBackup(backup.id);
        files += backup.disks.length;
        bytes += backup.bytes ?? 0;
      }
      reporter.emit({
        type: 'info',
        step: 'retention',
        message: `deleted chain ${chain.chainId}: ${chain.backups.length} backup(s) ${chain.backups.map(describe).join(', ')}`,
      });
    }
    const kept = choice.kept.map((chain) => chain.chainId).join(', ') || 'none';
    if (choice.delete.length === 0) return `nothing to delete; chains kept: ${kept}`;
    return `deleted ${choice.delete.length} chain(s), ${files} file(s), ${formatBytes(bytes)}; chains kept: ${kept}`;
  },
  async would(run) {
    const rules = run.plan.retention;
    if (rules === undefined) return 'no retention block: nothing';
    if (rules.keepChains !== undefined)
      return `keep the newest ${rules.keepChains} chain(s) of ${run.plan.vm.name} in ${run.plan.repository.path}`;
    // The keep-* rules over the recorded points and the one this run would add (docs/how-it-works.md#retention).
    const { state } = run;
    const coming = {
      id: NEW_BACKUP_ID,
      type: state.type,
      parentId: state.parentId ?? null,
      status: 'complete' as const,
      startedAt: new Date().toISOString(),
      disks: state.disks.map((disk) => ({ diskKey: disk.key, virtualSize: disk.virtualSize })),
    };
    const decisions = await planPruneAfter(run.store, run.plan, coming);
    return [
      `keep-* rules (${describeRules(rules)}), once this backup is complete:`,
      ...decisions.map(describeDecision),
    ].join('\n');
  },
};

// "keepLast 7, keepDaily 14": the plan's keep-* rules as written.
function describeRules(rules: KeepRules): string {
  return Object.entries(rules)
    .filter(([name, count]) => name.startsWith('keep') && count !== undefined)
    .map(([name, count]) => `${name} ${String(count)}`)
    .join(', ');
}

function describe(backup: Backup): string {
  return backup.status === 'complete' ? backup.id : `${backup.id} (${backup.status})`;
}
