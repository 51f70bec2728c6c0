// A file on the node (restore.target type file): every target checked before any is touched (an
// existing file without overwrite, a file another process has open: refused, nothing changed),
// each created *beside* its final path, written there, and renamed into place only once the
// restore is verified, so a failed restore never deletes or damages a file it did not create.

import path from 'node:path';
import { wouldFail } from '../../engine/step.js';
import { SendenseError, isSendenseError } from '../../errors.js';
import { fileInUse } from '../../node/file-in-use.js';
import type { RestoreTarget } from '../../plan/types.js';
import { createImage } from '../../qemu/index.js';
import { acceptsDirectIo } from '../../qemu/direct-io.js';
import { fillTarget, type RestoreDiskTarget, type TargetDisk, type TargetRun } from './restore-disk-target.js';

type FileTargetSpec = Extract<RestoreTarget, { type: 'file' }>;

export function fileTarget(spec: FileTargetSpec): RestoreDiskTarget {
  const mode = spec.mode.toString(8).padStart(4, '0');
  return {
    preparing: (run) => `create ${spec.format} target files on ${run.node.description}`,
    async prepare(run) {
      const exec = (argv: readonly string[]) => run.node.exec(argv);
      const paths = run.state.disks.map((disk) => fillTarget(spec.path, disk));
      await checkTargets(run, paths, spec);
      for (const [index, disk] of run.state.disks.entries()) {
        const file = paths[index]!;
        const made = await exec(['mkdir', '-p', path.dirname(file)]);
        if (made.exitCode !== 0) throw refuse(`cannot create ${path.dirname(file)}: ${made.stderr.trim()}`, disk);
        const partial = partialPath(file, run.runId);
        if ((await exec(['test', '-e', partial])).exitCode === 0)
          throw refuse(`${partial} already exists: remove it or choose another target`, disk);
        // Recorded before it exists (doctor removes it if this process dies); removed on failure.
        await run.store.recordRunFile({ runId: run.runId, node: run.node.id, path: partial, kind: 'restore-target' });
        run.undo.push({
          what: `delete the unfinished target ${partial}`,
          when: 'failure',
          step: 'prepare-target',
          run: async () => {
            const removed = await exec(['rm', '-f', '--', partial]);
            if (removed.exitCode !== 0) throw new Error(removed.stderr.trim());
            await run.store.forgetRunFile(run.node.id, partial);
          },
        });
        await createImage(partial, spec.format, disk.virtualSize, { runner: exec });
        // Private before any guest byte is written (a disk holds whatever its guest held).
        const chmod = await exec(['chmod', mode, partial]);
        if (chmod.exitCode !== 0) throw refuse(`cannot set mode ${mode} on ${partial}: ${chmod.stderr.trim()}`, disk);
        disk.targetPath = partial;
        disk.finalPath = file;
        disk.target = Object.freeze({ kind: 'file', format: spec.format, path: partial });
      }
      return paths.join(', ');
    },
    // The run's checks, on this host (a remote node is not contacted: its targets are checked at run time).
    async wouldPrepare(run) {
      const paths = run.state.disks.map((disk) => fillTarget(spec.path, disk));
      let existing: readonly string[] = [];
      if (run.node.isLocal) {
        try {
          existing = await checkTargets(run, paths, spec);
        } catch (error) {
          if (!isSendenseError(error)) throw error;
          return wouldFail(error.message);
        }
      }
      const keys = run.state.disks.filter((_, index) => existing.includes(paths[index]!)).map((disk) => disk.key);
      const how = !spec.overwrite
        ? 'must not exist'
        : keys.length > 0
          ? `replaced on success, existing now for disk ${keys.join(', ')}`
          : 'replaced on success';
      return `${paths.join(', ') || spec.path} (${spec.format}, ${how}, mode ${mode}) on ${run.node.description}, written beside it first`;
    },
    async refuseInRepositories(run, refuseInside) {
      for (const disk of run.state.disks) {
        const file = fillTarget(spec.path, disk);
        await refuseInside(file, `target ${file} for disk ${disk.key}`);
      }
    },
    zeroHoles: false,
    // Just created with qemu-img create: it reads as zeroes, holes need no write.
    convertInto: (disk) => ({
      image: disk.targetPath!,
      format: spec.format,
      isZero: true,
      takesDirectIo: acceptsDirectIo(disk.targetPath!),
    }),
    restored: (disk) => ({ image: disk.targetPath!, format: spec.format, shown: disk.finalPath ?? disk.targetPath! }),
    // The rename is atomic: an existing target (overwrite: true) is replaced only now, and never
    // while another process has opened it since prepare looked.
    async place(run) {
      for (const disk of run.state.disks) await refuseExistingTarget(run, disk.finalPath!, disk, spec.overwrite);
      for (const disk of run.state.disks) {
        const moved = await run.node.exec(['mv', '-f', '-T', '--', disk.targetPath!, disk.finalPath!]);
        if (moved.exitCode !== 0) {
          throw new SendenseError(`cannot rename ${disk.targetPath} to ${disk.finalPath}: ${moved.stderr.trim()}`, {
            step: 'place-target',
            disk: disk.key,
          });
        }
        await run.store.forgetRunFile(run.node.id, disk.targetPath!);
      }
      return run.state.disks.map((disk) => disk.finalPath).join(', ');
    },
    wouldPlace: 'rename each restored file into place',
  };
}

// Every target before any is touched: one file per disk, none refused; returns those that exist (replaced on success).
async function checkTargets(
  run: TargetRun,
  paths: readonly string[],
  spec: FileTargetSpec,
): Promise<readonly string[]> {
  if (new Set(paths).size !== paths.length) {
    throw refuse(`restore.target.path ${spec.path} gives the same file for several disks: put {key} in it`);
  }
  const existing: string[] = [];
  for (const [index, disk] of run.state.disks.entries()) {
    if (await refuseExistingTarget(run, paths[index]!, disk, spec.overwrite)) existing.push(paths[index]!);
  }
  return existing;
}

// An existing target: refused without overwrite, when it is not a regular file, or while another
// process has it open (a running VM's disk must never be replaced under it).
// True when it exists (and may be replaced).
async function refuseExistingTarget(
  run: TargetRun,
  file: string,
  disk: TargetDisk,
  overwrite: boolean,
): Promise<boolean> {
  const existing = await run.node.exec(['stat', '-L', '-c', '%F', file]);
  if (existing.exitCode !== 0) return false;
  const kind = existing.stdout.trim();
  if (!overwrite) {
    throw refuse(
      `target ${file} for disk ${disk.key} already exists on ${run.node.description} (set restore.target.overwrite: true to replace it)`,
      disk,
    );
  }
  if (kind !== 'regular file' && kind !== 'regular empty file') {
    throw refuse(`target ${file} for disk ${disk.key} is a ${kind}, not a file`, disk);
  }
  const user = await fileInUse(run.node, file);
  if (user !== undefined) {
    throw refuse(
      `target ${file} for disk ${disk.key} is in use (${user}): it is not replaced while another program has it open`,
      disk,
    );
  }
  return true;
}

// Beside the target (same filesystem, so the final rename is atomic), hidden, named after the run.
export function partialPath(file: string, runId: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${runId}.partial`);
}

function refuse(message: string, disk?: TargetDisk): SendenseError {
  return new SendenseError(message, { step: 'prepare-target', disk: disk?.key });
}
