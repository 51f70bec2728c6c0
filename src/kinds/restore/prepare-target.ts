// prepare-target: check every target before touching any (an existing file without overwrite, a
// file another process has open, an NBD target smaller than the disk: refused, nothing changed),
// then create each file target *beside* its final path. The restore writes there and place-target
// renames it into place only once the restore succeeded, so a failed restore never deletes or
// damages a file it did not create.

import path from 'node:path';
import type { RestoreDiskJob, RestoreRun } from './restore-run.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { formatBytes } from '../../format/bytes.js';
import { fileInUse } from '../../node/file-in-use.js';
import { createImage, imageInfo } from '../../qemu/index.js';

export const prepareTarget: Step<RestoreRun> = {
  name: 'prepare-target',
  facts: ({ state }) => ({ disks: state.disks.map((disk) => ({ key: disk.key, target: disk.targetPath ?? disk.target })) }),
  title: (run) => {
    const target = run.plan.restore.target;
    return target.type === 'file' ? `create ${target.format} target files on ${run.node.description}` : 'check the NBD targets';
  },
  async run(run) {
    const target = run.plan.restore.target;
    const exec = (argv: readonly string[]) => run.node.exec(argv);
    if (target.type === 'nbd') {
      for (const disk of run.state.disks) {
        const url = fillTarget(target.url, disk);
        const info = await imageInfo(url, { runner: exec, format: 'raw' }).catch((error: unknown) => {
          throw refuse(`cannot open NBD target ${url} for disk ${disk.key}: ${(error as Error).message}`, disk);
        });
        if (info.virtualSize < disk.virtualSize) {
          throw refuse(`NBD target ${url} is ${formatBytes(info.virtualSize)}, smaller than disk ${disk.key} (${formatBytes(disk.virtualSize)})`, disk);
        }
        disk.target = url;
      }
      return run.state.disks.map((disk) => `${disk.key}: ${disk.target}`).join(', ');
    }

    const paths = run.state.disks.map((disk) => fillTarget(target.path, disk));
    if (new Set(paths).size !== paths.length) {
      throw refuse(`restore.target.path ${target.path} gives the same file for several disks: put {key} in it`);
    }
    for (const [index, disk] of run.state.disks.entries()) await refuseExistingTarget(run, paths[index], disk, target.overwrite);

    for (const [index, disk] of run.state.disks.entries()) {
      const file = paths[index];
      const made = await exec(['mkdir', '-p', path.dirname(file)]);
      if (made.exitCode !== 0) throw refuse(`cannot create ${path.dirname(file)}: ${made.stderr.trim()}`, disk);
      const partial = partialPath(file, run.runId);
      if ((await exec(['test', '-e', partial])).exitCode === 0) throw refuse(`${partial} already exists: remove it or choose another target`, disk);
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
      await createImage(partial, target.format, disk.virtualSize, { runner: exec });
      // Private before any guest byte is written (a disk holds whatever its guest held).
      const mode = target.mode.toString(8).padStart(4, '0');
      const chmod = await exec(['chmod', mode, partial]);
      if (chmod.exitCode !== 0) throw refuse(`cannot set mode ${mode} on ${partial}: ${chmod.stderr.trim()}`, disk);
      disk.targetPath = partial;
      disk.finalPath = file;
      disk.target = `file:${target.format}:${partial}`;
    }
    return paths.join(', ');
  },
  would(run) {
    const target = run.plan.restore.target;
    const node = run.node.description;
    if (target.type !== 'file') return `NBD targets ${run.state.disks.map((disk) => fillTarget(target.url, disk)).join(', ') || target.url}`;
    const files = run.state.disks.map((disk) => fillTarget(target.path, disk)).join(', ') || target.path;
    return `${files} (${target.format}${target.overwrite ? ', replaced on success' : ', must not exist'}, mode ${target.mode.toString(8).padStart(4, '0')}) on ${node}, written beside it first`;
  },
};

// An existing target: refused without overwrite, when it is not a regular file, or while another
// process has it open (a running VM's disk must never be replaced under it).
export async function refuseExistingTarget(run: RestoreRun, file: string, disk: RestoreDiskJob, overwrite: boolean): Promise<void> {
  const existing = await run.node.exec(['stat', '-L', '-c', '%F', file]);
  if (existing.exitCode !== 0) return;
  const kind = existing.stdout.trim();
  if (!overwrite) {
    throw refuse(`target ${file} for disk ${disk.key} already exists on ${run.node.description} (set restore.target.overwrite: true to replace it)`, disk);
  }
  if (kind !== 'regular file' && kind !== 'regular empty file') {
    throw refuse(`target ${file} for disk ${disk.key} is a ${kind}, not a file`, disk);
  }
  const user = await fileInUse(run.node, file);
  if (user !== undefined) {
    throw refuse(`target ${file} for disk ${disk.key} is in use (${user}): it is not replaced while another program has it open`, disk);
  }
}

// Beside the target (same filesystem, so the final rename is atomic), hidden, named after the run.
export function partialPath(file: string, runId: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${runId}.partial`);
}

export function fillTarget(template: string, disk: Pick<RestoreDiskJob, 'key'>): string {
  return template.replaceAll('{key}', String(disk.key));
}

function refuse(message: string, disk?: RestoreDiskJob): SendenseError {
  return new SendenseError(message, { step: 'prepare-target', disk: disk?.key });
}
