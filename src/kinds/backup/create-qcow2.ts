// create-qcow2: the new backup files: a full is a fresh image of the source's size, an incremental
// an overlay on the parent's file (backing path stored relative so the repository can move).

import { chmod, open, rm } from 'node:fs/promises';
import { SendenseError } from '../../errors.js';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { eachInTurns } from '../../hub/in-turns.js';
import type { BackupRun } from './backup-run.js';
import { wouldFail, type Step } from '../../engine/step.js';
import type { DiskKey, ReplicatePlan } from '../../plan/types.js';
import { createOverlay, createQcow2 } from '../../qemu/index.js';
import { repositorySecret } from '../../repository/repository-keys.js';
import { claimRepository } from '../../repository/repository-settings.js';
import { closeDir, makePrivateDirs, removeEmptyDirs } from '../../repository/private-dirs.js';
import { repositoryWriteProblem } from '../../repository/writable.js';
import { backupSource } from '../../source/index.js';

// The cluster size of the files we create (qemu-img's default), the compress filter's unit.
const COMPRESSED_CLUSTER = 64 * 1024;

export const createQcow2Files: Step<BackupRun> = {
  name: 'create-qcow2',
  facts: ({ state }) => ({ disks: state.disks.map((disk) => ({ key: disk.key, file: disk.file })) }),
  title: (run) => `create ${run.state.type === 'full' ? 'new images' : 'overlays'} in ${run.plan.repository.path}`,
  async run(run) {
    const repository = run.plan.repository.path;
    const unwritable = repositoryWriteProblem(repository);
    if (unwritable !== undefined) throw new SendenseError(unwritable, { step: 'create-qcow2' });
    const { fullImageOptions } = backupSource(run.plan.vm.source);
    const createdDirs = await makePrivateDirs(repository);
    run.undo.push({
      what: `remove the empty directories this run created in ${repository}`,
      when: 'failure',
      step: 'create-qcow2',
      run: () => removeEmptyDirs(createdDirs),
    });
    // The first backup fixes the repository's encryption and compression (docs/encryption.md).
    const settings = await claimRepository(run.plan.repository);
    const secret = settings.encryption === 'luks' ? repositorySecret(repository) : undefined;
    const compression = settings.compression === 'zstd' ? ('zstd' as const) : undefined;
    for (const disk of run.state.disks) {
      // Never through a symlink put where a folder of the repository should be (docs/threat-model.md).
      const dirs = await makePrivateDirs(path.dirname(disk.file), repository);
      run.undo.push({
        what: `remove ${path.dirname(disk.file)} if this run left it empty`,
        when: 'failure',
        step: 'create-qcow2',
        run: () => removeEmptyDirs(dirs),
      });
      // Directories of older versions were 0755: the VM's and the disk's are ours to close.
      for (const dir of [path.dirname(disk.file), path.dirname(path.dirname(disk.file))]) await closeDir(dir);
      // Never a file that is there already (another backup's): the name is claimed by an exclusive
      // create (0600 from the start), refused before the undo below is registered, so a failed run
      // cannot delete what it did not create, and two runs can never both claim one name.
      await claimNewFile(disk.file, disk.key);
      // Registered before creating: a half-created file is removed too.
      run.undo.push({
        what: `delete ${disk.file}`,
        when: 'failure',
        step: 'create-qcow2',
        run: () => rm(disk.file, { force: true }),
      });
    }
    // Over the empty files this run just claimed, a disk per core at once: a LUKS header qemu-img
    // makes costs about a second of CPU (docs/encryption.md#how-layers-are-made). After a
    // failure no other is started, and the undo runs once every started one has ended.
    await eachInTurns(run.state.disks, availableParallelism(), async (disk) => {
      // Sized when encrypted, so the encrypted parent is not opened here.
      if (disk.parentFile)
        await createOverlay(disk.file, disk.parentFile, {
          backingFormat: 'qcow2',
          overwrite: true,
          secret,
          compression,
          ...(secret && { sizeBytes: disk.virtualSize }),
        });
      else
        await createQcow2(disk.file, disk.virtualSize, {
          overwrite: true,
          secret,
          compression,
          ...(fullImageOptions && { formatOptions: fullImageOptions }),
        });
      // Private before any guest byte is written into it (qemu-img create follows the umask).
      await chmod(disk.file, 0o600);
    });
    // Our node transfer writes whole clusters once each, which the compress filter needs; the
    // VMware client's writes cannot be shaped, and QEMU refuses the filter on a disk whose size is
    // not whole clusters: those are stored uncompressed (docs/encryption.md#compression).
    for (const disk of run.state.disks)
      disk.compress = compression !== undefined && !run.wholeVm && disk.virtualSize % COMPRESSED_CLUSTER === 0;
    // A full of image files on this host: qemu-img writes each new file itself, unless it is
    // encrypted or compressed, or a rate may apply (docs/how-it-works.md#a-local-full-backup). Decided
    // here once: the transfer plan marks these disks for qemu-img and the node transfer does as marked.
    // A compressing disk makes the whole transfer write aligned blocks, which qemu-img cannot.
    const copiesHere =
      copiesFilesHere(run) && secret === undefined && !run.state.disks.some((disk) => disk.compress === true);
    const source = backupSource(run.plan.vm.source);
    for (const disk of run.state.disks) disk.copiedHere = copiesHere && source.copiesFile?.(disk) === true;
    return run.state.disks
      .map((disk) => `${disk.key}: ${path.relative(run.plan.repository.path, disk.file)}`)
      .join(', ');
  },
  would: (run) => {
    const unwritable = repositoryWriteProblem(run.plan.repository.path);
    if (unwritable !== undefined) return wouldFail(unwritable);
    return run.state.disks.length === 0
      ? `one file per disk in ${run.plan.repository.path}/${run.plan.vm.name}/disk-<key>/ (the disks are known once the node is asked)`
      : run.state.disks
          .map((disk) => (disk.parentFile ? `${disk.file} (overlay on ${disk.parentFile})` : disk.file))
          .join('\n');
  },
};

async function claimNewFile(file: string, disk: DiskKey): Promise<void> {
  try {
    await (await open(file, 'wx', 0o600)).close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new SendenseError(`${file} already exists: refusing to overwrite it (nothing was changed)`, {
      step: 'create-qcow2',
      disk,
    });
  }
}

/** Whether this run's new files can be written by qemu-img on this host (docs/how-it-works.md#a-local-full-backup), as far as the plan tells. */
export function copiesFilesHere(
  run: Pick<BackupRun, 'node' | 'bandwidth'> & {
    readonly plan: BackupRun['plan'] | ReplicatePlan;
    readonly state: { readonly type: 'full' | 'incremental' };
  },
): boolean {
  return (
    run.state.type === 'full' &&
    run.node.isLocal &&
    backupSource(run.plan.vm.source).copiesFile !== undefined &&
    run.bandwidth?.limited !== true
  );
}
