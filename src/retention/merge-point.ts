// One merge of a point into its child, across every disk of the backup, with the intent in the
// store before any file is touched (SPEC section 10):
//   planned   intent recorded; the merged manifests written beside (<child>.json.merge); no
//             existing file changed yet: doctor rolls back (removes those) and forgets the intent.
//   merging   files being changed (merge-files.ts); every step can run again: doctor finishes.
//   done      the child's record takes the parent's place and the intent goes, in one transaction.
// Kept points never change content: the child's file is replaced only by a rename of a file that
// reads exactly as it does (its own clusters copied over its parent's).

import { rm } from 'node:fs/promises';
import { processStartTicks } from '../process/index.js';
import { SendenseError } from '../errors.js';
import type { Backup, MergeRecord, Store } from '../store/index.js';
import { crashPoint } from './crash-point.js';
import { mergeDiskFiles, pendingManifest, prepareMergeManifest, type MergeFilesContext } from './merge-files.js';

export interface MergeOutcome {
  readonly copied: number;
  readonly zeroed: number;
}

export async function mergePoint(store: Store, runId: string, parent: Backup, child: Backup): Promise<MergeOutcome> {
  const pairs = diskPairs(parent, child);
  const context = filesContext(store, runId);
  const merge = await store.recordMerge({ vm: parent.vm, parentId: parent.id, childId: child.id, runId });
  crashPoint('planned');
  try {
    for (const [parentDisk, childDisk] of pairs) await prepareMergeManifest(parentDisk, childDisk, context);
  } catch (error) {
    await rollBack(store, merge, child);
    throw error;
  }
  crashPoint('prepared');
  await store.setMergePhase(merge.id, 'merging');
  return finishFiles(store, merge, parent, child, context);
}

// doctor: a merge whose process is gone. Before any file changed: rolled back; after: finished.
export async function resumeMerge(store: Store, runId: string, merge: MergeRecord): Promise<'rolled back' | 'finished'> {
  const [parent, child] = await Promise.all([store.getBackup(merge.parentId), store.getBackup(merge.childId)]);
  if (parent === undefined || child === undefined) {
    await store.forgetMerge(merge.id);
    return 'rolled back';
  }
  if (merge.phase === 'planned') {
    await rollBack(store, merge, child);
    return 'rolled back';
  }
  await finishFiles(store, merge, parent, child, filesContext(store, runId));
  return 'finished';
}

async function finishFiles(store: Store, merge: MergeRecord, parent: Backup, child: Backup, context: MergeFilesContext): Promise<MergeOutcome> {
  let copied = 0;
  let zeroed = 0;
  for (const [parentDisk, childDisk] of diskPairs(parent, child)) {
    const result = await mergeDiskFiles(parentDisk, childDisk, context);
    copied += result.copied;
    zeroed += result.zeroed;
  }
  crashPoint('files-done');
  await store.dropPoint(parent.id, child.id, merge.id);
  return { copied, zeroed };
}

async function rollBack(store: Store, merge: MergeRecord, child: Backup): Promise<void> {
  for (const disk of child.disks) await rm(pendingManifest(disk.file), { force: true });
  await store.forgetMerge(merge.id);
}

function diskPairs(parent: Backup, child: Backup) {
  return child.disks.map((childDisk) => {
    const parentDisk = parent.disks.find((disk) => disk.diskKey === childDisk.diskKey);
    if (parentDisk === undefined) throw new SendenseError(`backup ${parent.id} has no disk ${childDisk.diskKey}, which ${child.id} has: not merged`);
    return [parentDisk, childDisk] as const;
  });
}

function filesContext(store: Store, runId: string): MergeFilesContext {
  return {
    onSpawn: (pid, argv, startTicks) => store.recordProcess(runId, pid, 'qemu-nbd', argv, startTicks ?? processStartTicks(pid)).then(() => undefined),
    onForget: (pid) => store.forgetProcess(pid),
  };
}
