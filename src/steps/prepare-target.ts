// prepare-target: check every target before touching any (an existing file without overwrite, an
// NBD target smaller than the disk: refused, nothing changed), then create the target files.

import path from 'node:path';
import type { RestoreDiskJob, RestoreRun } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { SendenseError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { createImage, imageInfo } from '../qemu/index.js';

export const prepareTarget: Step<RestoreRun> = {
  name: 'prepare-target',
  title: (run) => {
    const target = run.plan.restore.target;
    return target.type === 'file' ? `create ${target.format} target files on ${run.node.description}` : 'check the NBD targets';
  },
  async run(run) {
    const target = run.plan.restore.target;
    const exec = (argv: readonly string[]) => run.node.exec(argv);
    if (target.type === 'nbd') {
      for (const disk of run.state.disks) {
        const url = fill(target.url, disk);
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

    const paths = run.state.disks.map((disk) => fill(target.path, disk));
    if (new Set(paths).size !== paths.length) {
      throw refuse(`restore.target.path ${target.path} gives the same file for several disks: put {key} in it`);
    }
    for (const [index, disk] of run.state.disks.entries()) {
      const file = paths[index];
      const existing = await exec(['stat', '-L', '-c', '%F', file]);
      if (existing.exitCode !== 0) continue;
      const kind = existing.stdout.trim();
      if (!target.overwrite) {
        throw refuse(`target ${file} for disk ${disk.key} already exists on ${run.node.description} (set restore.target.overwrite: true to replace it)`, disk);
      }
      if (kind !== 'regular file' && kind !== 'regular empty file') {
        throw refuse(`target ${file} for disk ${disk.key} is a ${kind}, not a file`, disk);
      }
    }
    for (const [index, disk] of run.state.disks.entries()) {
      const file = paths[index];
      const made = await exec(['mkdir', '-p', path.dirname(file)]);
      if (made.exitCode !== 0) throw refuse(`cannot create ${path.dirname(file)}: ${made.stderr.trim()}`, disk);
      // A half-restored disk must not pass for a good one: it goes if the restore fails.
      run.undo.push({
        what: `delete the incomplete target ${file}`,
        when: 'failure',
        step: 'prepare-target',
        run: async () => {
          await exec(['rm', '-f', file]);
        },
      });
      await createImage(file, target.format, disk.virtualSize, { runner: exec, overwrite: true });
      disk.targetPath = file;
      disk.target = `file:${target.format}:${file}`;
    }
    return paths.join(', ');
  },
};

function fill(template: string, disk: RestoreDiskJob): string {
  return template.replaceAll('{key}', String(disk.key));
}

function refuse(message: string, disk?: RestoreDiskJob): SendenseError {
  return new SendenseError(message, { step: 'prepare-target', disk: disk?.key });
}
