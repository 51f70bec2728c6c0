// One merge of a point into its child, across every disk of the backup, with the intent in the
// store before any file is touched (docs/how-it-works.md#retention):
//   planned   intent recorded; the merged manifests written beside (<child>.json.merge), then
//             every parent's file opened for writing (qemu's write lock: a reader holding one is
//             found here); no existing file changed yet: a failure now, or doctor after a crash,
//             rolls back (removes those) and forgets the intent.
//   merging   files being changed (merge-files.ts); every step can run again: doctor finishes. A
//             failure before the first write is still rolled back at once.
//   done      the child's record takes the parent's place and the intent goes, in one transaction.
// Kept points never change content: the child's file is replaced only by a rename of a file that
// reads exactly as it does (its own clusters copied over its parent's).

import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { processStartTicks } from '../process/index.js';
import { isSendenseError, SendenseError } from '../errors.js';
import type { Backup, MergeRecord, Store } from '../store/index.js';
import { crashPoint } from '../crash-points.js';
import { domainDefinitionFile } from '../repository/layout.js';
import { manifestTemps } from '../repository/manifest-file.js';
import { requireRealPointDirs } from '../repository/private-dirs.js';
import { chainSecret } from '../qemu/image-opts.js';
import { isLuksQcow2 } from '../qemu/qcow2-header.js';
import { offeredKeyCount, repositorySecret, secretForLayer } from '../repository/repository-keys.js';
import { isEncryptedRepository } from '../repository/repository-settings.js';
import { layerIdentityProblem } from '../repository/layer-identity.js';
import { recordPointFacts } from '../repository/layer-facts.js';
import {
  mergeDiskFiles,
  openDiskCopy,
  pendingManifest,
  prepareMergeManifest,
  type DiskCopy,
  type MergeFilesContext,
} from './merge-files.js';

export interface MergeOutcome {
  readonly copied: number;
  readonly zeroed: number;
}

export async function mergePoint(store: Store, runId: string, parent: Backup, child: Backup): Promise<MergeOutcome> {
  const pairs = diskPairs(parent, child);
  // An encrypted chain's key before the intent is recorded: without one that opens it nothing is touched (exit 2).
  for (const [, childDisk] of pairs) chainSecret(childDisk.file);
  // Never merge another point's file into this chain (docs/encryption.md#what-an-attacker-cannot-plant).
  for (const file of pairs.flatMap(([parentDisk, childDisk]) => [parentDisk.file, childDisk.file])) {
    const problem = layerIdentityProblem(file);
    if (problem !== undefined) throw new SendenseError(`${file} cannot be merged: ${problem}`);
  }
  const context = filesContext(store, runId);
  const merge = await store.recordMerge({ vm: parent.vm, parentId: parent.id, childId: child.id, runId });
  crashPoint('merge.planned');
  const copies: DiskCopy[] = [];
  try {
    for (const [parentDisk, childDisk] of pairs) await prepareMergeManifest(parentDisk, childDisk, context);
    for (const [parentDisk, childDisk] of pairs) copies.push(await openDiskCopy(parentDisk, childDisk, context));
  } catch (error) {
    await closeAll(copies);
    throw await rolledBack(store, merge, parent, child, error);
  }
  crashPoint('merge.prepared');
  try {
    await store.setMergePhase(merge.id, 'merging');
  } catch (error) {
    // Whether it was written is not known: doctor reads the phase and rolls back or finishes.
    await closeAll(copies);
    throw error;
  }
  try {
    return await finishFiles(store, merge, parent, child, context, copies);
  } catch (error) {
    await closeAll(copies);
    // Nothing written and no file renamed: the merge is given back as if it had never started.
    if (copies.some((copy) => copy.written) || pairs.some(([parentDisk]) => !existsSync(parentDisk.file))) throw error;
    const planned = await store.setMergePhase(merge.id, 'planned').then(
      () => true,
      () => false,
    );
    if (!planned) throw error;
    throw await rolledBack(store, merge, parent, child, error);
  }
}

// doctor: a merge whose process is gone. Before any file changed: rolled back; after: finished.
export async function resumeMerge(
  store: Store,
  runId: string,
  merge: MergeRecord,
): Promise<'rolled back' | 'finished'> {
  const [parent, child] = await Promise.all([store.getBackup(merge.parentId), store.getBackup(merge.childId)]);
  if (parent === undefined || child === undefined) {
    await store.forgetMerge(merge.id);
    return 'rolled back';
  }
  // Nothing outside the repository through a symlink in place of one of its folders (docs/threat-model.md).
  for (const point of [parent, child]) await requireRealPointDirs(point);
  if (merge.phase === 'planned') {
    await rollBack(store, merge, child);
    return 'rolled back';
  }
  await finishFiles(store, merge, parent, child, filesContext(store, runId));
  return 'finished';
}

/**
 * Why doctor cannot finish `merge` now: its repository is encrypted (its marker, or a LUKS file of
 * the merge) and no key given opens it. Undefined when the files can be read (or are plain).
 */
export async function mergeKeyProblem(store: Store, merge: MergeRecord): Promise<string | undefined> {
  const [parent, child] = await Promise.all([store.getBackup(merge.parentId), store.getBackup(merge.childId)]);
  if (child === undefined) return undefined;
  const files = [...(parent?.disks ?? []), ...child.disks].map((disk) => disk.file).filter(isLuksQcow2);
  const repository = child.repository;
  const encrypted = await isEncryptedRepository(repository);
  if (files.length === 0 && !encrypted) return undefined;
  try {
    if (encrypted) repositorySecret(repository);
    for (const file of files) secretForLayer(file);
    return undefined;
  } catch (error) {
    if (!isSendenseError(error)) throw error;
    const why = offeredKeyCount() === 0 ? 'none was given' : 'no key given opens it';
    return `the merge of backup ${merge.parentId} into ${merge.childId} in encrypted repository ${repository} needs its key (${why}): run sendense-run doctor --key-file FILE (or --key-env NAME) with a key of that repository`;
  }
}

async function finishFiles(
  store: Store,
  merge: MergeRecord,
  parent: Backup,
  child: Backup,
  context: MergeFilesContext,
  copies: readonly DiskCopy[] = [],
): Promise<MergeOutcome> {
  let copied = 0;
  let zeroed = 0;
  for (const [index, [parentDisk, childDisk]] of diskPairs(parent, child).entries()) {
    const result = await mergeDiskFiles(parentDisk, childDisk, context, copies[index]);
    copied += result.copied;
    zeroed += result.zeroed;
  }
  crashPoint('merge.files-done');
  await store.dropPoint(parent.id, child.id, merge.id);
  // The child's files took the parent's clusters: what listings show of them is read again (dropPoint
  // forgot what was recorded, so a listing reads them should this fail).
  const merged = await store.getBackup(child.id);
  if (merged !== undefined) await recordPointFacts(store, [merged]).catch(() => undefined);
  // The folded point's domain XML goes with it; the child keeps its own.
  await rm(domainDefinitionFile(parent.repository, parent.vm, parent.id), { force: true });
  return { copied, zeroed };
}

async function rollBack(store: Store, merge: MergeRecord, child: Backup): Promise<void> {
  for (const disk of child.disks) {
    await rm(pendingManifest(disk.file), { force: true });
    // A merge killed between writing its pending manifest and renaming it leaves the temp file.
    for (const temp of await manifestTemps(pendingManifest(disk.file), { deadWritersOnly: true }))
      await rm(temp, { force: true });
  }
  await store.forgetMerge(merge.id);
}

// The error of a merge given back before it changed a file: a user-facing one says so. When the
// roll back itself fails (the state database gone), the intent stays `planned` for doctor.
async function rolledBack(
  store: Store,
  merge: MergeRecord,
  parent: Backup,
  child: Backup,
  error: unknown,
): Promise<unknown> {
  try {
    await rollBack(store, merge, child);
  } catch {
    return error;
  }
  if (!isSendenseError(error)) return error;
  return new SendenseError(`backup ${parent.id} not merged into ${child.id} (nothing was changed): ${error.message}`, {
    exitCode: error.exitCode,
    cause: error.cause ?? error,
  });
}

async function closeAll(copies: readonly DiskCopy[]): Promise<void> {
  await Promise.allSettled(copies.map((copy) => copy.close()));
}

function diskPairs(parent: Backup, child: Backup) {
  return child.disks.map((childDisk) => {
    const parentDisk = parent.disks.find((disk) => disk.diskKey === childDisk.diskKey);
    if (parentDisk === undefined)
      throw new SendenseError(
        `backup ${parent.id} has no disk ${childDisk.diskKey}, which ${child.id} has: not merged`,
      );
    return [parentDisk, childDisk] as const;
  });
}

function filesContext(store: Store, runId: string): MergeFilesContext {
  return {
    onSpawn: (pid, argv, startTicks) =>
      store.recordProcess(runId, pid, 'qemu-nbd', argv, startTicks ?? processStartTicks(pid)).then(() => undefined),
    onForget: (pid) => store.forgetProcess(pid),
  };
}
