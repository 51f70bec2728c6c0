// An NBD export the node reaches (restore.target type nbd): checked to be large enough, then written
// in place. It holds old data, so every hole of the backup is written as zeroes.

import { SendenseError } from '../../errors.js';
import { formatBytes } from '../../format/bytes.js';
import { imageInfo } from '../../qemu/index.js';
import { fillTarget, type RestoreDiskTarget, type TargetDisk } from './restore-disk-target.js';

export function nbdTarget(url: string): RestoreDiskTarget {
  return {
    preparing: () => 'check the NBD targets',
    async prepare(run) {
      const exec = (argv: readonly string[]) => run.node.exec(argv);
      for (const disk of run.state.disks) {
        const filled = fillTarget(url, disk);
        const info = await imageInfo(filled, { runner: exec, format: 'raw' }).catch((error: unknown) => {
          throw new SendenseError(
            `cannot open NBD target ${filled} for disk ${disk.key}: ${(error as Error).message}`,
            { step: 'prepare-target', disk: disk.key },
          );
        });
        if (info.virtualSize < disk.virtualSize) {
          throw new SendenseError(
            `NBD target ${filled} is ${formatBytes(info.virtualSize)}, smaller than disk ${disk.key} (${formatBytes(disk.virtualSize)})`,
            {
              step: 'prepare-target',
              disk: disk.key,
            },
          );
        }
        disk.target = Object.freeze({ kind: 'nbd', url: filled });
      }
      return run.state.disks.map((disk) => `${disk.key}: ${urlOf(disk)}`).join(', ');
    },
    wouldPrepare: (run) => `NBD targets ${run.state.disks.map((disk) => fillTarget(url, disk)).join(', ') || url}`,
    refuseInRepositories: async () => undefined,
    zeroHoles: true,
    convertInto: (disk) => ({ image: urlOf(disk), format: 'raw', isZero: false, takesDirectIo: false }),
    restored: (disk) => ({ image: urlOf(disk), format: 'raw', shown: urlOf(disk) }),
    inPlace: 'NBD targets are written in place',
    place: async () => 'written in place',
    wouldPlace: 'nothing (NBD targets are written in place)',
  };
}

// The NBD URL prepare filled in for a disk.
function urlOf(disk: TargetDisk): string {
  const target = disk.target;
  if (target?.kind !== 'nbd') throw new Error(`disk ${disk.key} has no NBD target yet`);
  return target.url;
}
