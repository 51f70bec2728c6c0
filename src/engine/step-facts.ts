// What a step did, as data for --json readers (the `facts` of a step-done event and of
// run-end): read from the run's state after the step, so steps only return their one-line summary.

import { isFilesRestore } from '../plan/types.js';
import type { BackupRun, FilesRestoreRun, RestoreRun, RunContext } from './run-context.js';

export type Facts = Readonly<Record<string, unknown>>;

export interface DiskFacts {
  readonly key: number;
  /** Bytes copied; null when not known (e.g. a restore by qemu-img convert). */
  readonly bytes: number | null;
  readonly changeId?: string | null;
}

export function stepFacts(step: string, run: RunContext): Facts | undefined {
  // A verify plan's one step reports through its events; it has no backup or restore state.
  if (run.plan.kind === 'verify') return undefined;
  if (run.plan.kind !== 'restore') return backupFacts(step, run as BackupRun);
  return isFilesRestore(run.plan) ? filesRestoreFacts(step, run as FilesRestoreRun) : restoreFacts(step, run as RestoreRun);
}

// A file-level restore reads one disk of one point and extracts into one destination.
function filesRestoreFacts(step: string, run: FilesRestoreRun): Facts | undefined {
  const { point } = run.state;
  if (point === undefined) return undefined;
  if (step === 'resolve-point') return { backupId: point.backup.id, disks: [{ key: point.disk.diskKey, file: point.disk.file }] };
  if (step === 'extract-files') return { to: run.plan.restore.target.to, paths: [...run.plan.restore.target.paths] };
  return undefined;
}

function backupFacts(step: string, run: BackupRun): Facts | undefined {
  const { state } = run;
  if (!state.backupId) return undefined;
  switch (step) {
    case 'resolve-chain':
      return { backupId: state.backupId, taken: state.type, chainId: state.chainId, parentId: state.parentId ?? null };
    case 'allocate-ports':
      return { disks: state.disks.map((disk) => ({ key: disk.key, port: disk.port })) };
    case 'create-qcow2':
      return { disks: state.disks.map((disk) => ({ key: disk.key, file: disk.file })) };
    case 'start-qemu-nbd':
      return { disks: state.disks.map((disk) => ({ key: disk.key, url: exportUrl(disk) })) };
    case 'snapshot-source':
    case 'record-change-ids':
      return { disks: state.disks.map((disk) => ({ key: disk.key, changeId: disk.changeId ?? null })) };
    case 'transfer':
      return bytesFacts(state.disks);
    default:
      return undefined;
  }
}

function restoreFacts(step: string, run: RestoreRun): Facts | undefined {
  const { state } = run;
  if (!state.backupId) return undefined;
  switch (step) {
    case 'resolve-point':
      return { backupId: state.backupId, disks: state.disks.map((disk) => ({ key: disk.key, file: disk.file })) };
    case 'allocate-ports':
      return { disks: state.disks.map((disk) => ({ key: disk.key, port: disk.port })) };
    case 'start-qemu-nbd':
      return { disks: state.disks.map((disk) => ({ key: disk.key, url: exportUrl(disk) })) };
    case 'prepare-target':
      return { disks: state.disks.map((disk) => ({ key: disk.key, target: disk.targetPath ?? disk.target })) };
    case 'transfer':
      return bytesFacts(state.disks);
    default:
      return undefined;
  }
}

// The hub's qemu-nbd export of a disk (on 127.0.0.1 of the hub).
function exportUrl(disk: { readonly port?: number; readonly exportName: string }): string | null {
  return disk.port === undefined ? null : `nbd://127.0.0.1:${disk.port}/${disk.exportName}`;
}

// Bytes per disk and in total (a disk whose count is not known counts 0 in the total); with
// changeIds, each disk's change_id too (run-end of a backup).
export function bytesFacts(
  disks: readonly { readonly key: number; readonly bytes?: number; readonly changeId?: string }[],
  changeIds = false,
): { disks: DiskFacts[]; bytes: number } {
  return {
    disks: disks.map((disk) => ({ key: disk.key, bytes: disk.bytes ?? null, ...(changeIds ? { changeId: disk.changeId ?? null } : {}) })),
    bytes: disks.reduce((sum, disk) => sum + (disk.bytes ?? 0), 0),
  };
}
