// An nbd source: any NBD export the node can reach; change tracking only through a
// qemu:dirty-bitmap: context of the export named in the plan, which is never ours to reset.

import { SendenseError } from '../errors.js';
import type { NbdSource } from '../plan/types.js';
import { imageInfo, type CommandRunner } from '../qemu/index.js';
import { nbdOffersDirtyBitmap } from '../qemu/nbd-dirty-bitmap.js';
import type { TransferRead } from '../wire/index.js';
import type { BackupSource } from './backup-source.js';
import { diskSourceOf, inspectListed, refuseEmptyDisk } from './source-disk.js';

export function nbdSource(source: NbdSource): BackupSource {
  return {
    checkReady: () => undefined,
    inspect: (exec) =>
      inspectListed(
        source.disks.map((disk) => disk.key),
        async (key) => {
          const runner: CommandRunner = (argv) => exec(argv);
          const disk = source.disks.find((d) => d.key === key)!;
          const info = await imageInfo(disk.url, { runner, format: 'raw' }).catch((error: unknown) => {
            throw new SendenseError(`cannot open ${disk.url}: ${(error as Error).message}`, {
              step: 'resolve-chain',
              disk: key,
              cause: error,
            });
          });
          refuseEmptyDisk(info.virtualSize, disk.url, key);
          const bitmapOffered =
            disk.bitmap === undefined ? undefined : await nbdOffersDirtyBitmap(disk.url, disk.bitmap, runner);
          return {
            key,
            source: { type: 'nbd', url: disk.url, bitmap: disk.bitmap },
            virtualSize: info.virtualSize,
            bitmapOffered,
          };
        },
      ),
    uninspected: () =>
      source.disks.map((disk) => ({
        key: disk.key,
        source: { type: 'nbd', url: disk.url, bitmap: disk.bitmap },
        virtualSize: 0,
      })),
    sizeKnownBeforeTransfer: true,
    whyNotIncremental(fact, parentDisk, previous) {
      const { url, bitmap } = diskSourceOf('nbd', fact.source);
      if (!bitmap)
        return `disk ${fact.key} (${url}) has no dirty bitmap in the plan: nbd sources without one are full only`;
      if (fact.bitmapOffered === false)
        return `${url} does not offer the dirty bitmap '${bitmap}' (no qemu:dirty-bitmap:${bitmap} context)`;
      // The export's bitmap is never reset by us: it must have been tracking since the parent was read.
      if (parentDisk.changeId !== bitmap) {
        const had = parentDisk.changeId
          ? `was read while bitmap '${parentDisk.changeId}' tracked it`
          : `recorded no change_id (it was read without bitmap '${bitmap}')`;
        return `backup ${previous.id} of disk ${fact.key} ${had}, so '${bitmap}' may miss changes since`;
      }
      return undefined;
    },
    newImageSize: (fact) => fact.virtualSize,
    // The export's bitmap that was already tracking when the data was read (the next incremental reads it again, cumulatively).
    newChangeId: (fact) => (fact.bitmapOffered ? diskSourceOf('nbd', fact.source).bitmap : undefined),
    addedBitmap: () => undefined,
    supersededBitmaps: () => [],
    label: (disk) => diskSourceOf('nbd', disk.source).url,
    describeRead(disk, incremental) {
      const { url, bitmap } = diskSourceOf('nbd', disk.source);
      return `disk ${disk.key}: ${url}${incremental && bitmap ? `, dirty bitmap qemu:dirty-bitmap:${bitmap} of the export` : ''}`;
    },
    // The bitmap belongs to the export; it was tracking before this backup read anything.
    snapshotTitle: "add this backup's dirty bitmap to every disk",
    whyNoSnapshot: (disks) =>
      disks.some((disk) => disk.changeId)
        ? "the export's own dirty bitmap tracks changes: nothing to add"
        : 'the source has no change tracking',
    describeSnapshot: () => 'nothing (nbd source)',
    snapshot: async () => ({ summary: '' }),
    releaseSuperseded: async () => undefined,
    transferReads(disks, incremental) {
      const reads = disks.map((disk): TransferRead => {
        const { url, bitmap } = diskSourceOf('nbd', disk.source);
        return {
          key: disk.key,
          source: { kind: 'nbd', url },
          ...(incremental && bitmap ? { bitmap } : {}),
        };
      });
      return { kind: 'node-transfer', reads };
    },
    transfersWith: 'node-transfer',
    takesTurns: true,
    takesRate: true,
    reportsDigests: true,
    adoptResults: () => [],
  };
}
