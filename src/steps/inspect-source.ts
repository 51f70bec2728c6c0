// What resolve-chain (and --dry-run) learn of a source disk before deciding anything: its size,
// format and bitmaps, read on the node with qemu-img; what cannot be backed up is one clear error.

import type { DiskSource } from '../engine/run-context.js';
import { SendenseError } from '../errors.js';
import type { Source } from '../plan/types.js';
import { imageInfo, type CommandRunner } from '../qemu/index.js';
import { nbdOffersDirtyBitmap } from '../qemu/nbd-dirty-bitmap.js';
import { PROVISIONAL_VIRTUAL_SIZE } from '../vmware/client.js';
import type { SourceDiskFacts } from './chain-decision.js';

// Reads the size, format and bitmaps of one source disk on the node; a missing disk is one clear error.
export async function inspectSourceDisk(exec: CommandRunner, source: Source, key: number): Promise<SourceDiskFacts> {
  if (source.type === 'qemu') {
    const disk = source.disks.find((d) => d.key === key)!;
    const info = await imageInfo(disk.path, { runner: exec, format: disk.format }).catch((error: unknown) => {
      throw new SendenseError((error as Error).message, { step: 'resolve-chain', disk: key, cause: error });
    });
    const format = info.format === 'raw' ? 'raw' : info.format === 'qcow2' ? 'qcow2' : undefined;
    if (format === undefined) {
      throw new SendenseError(`${disk.path} is a ${info.format} image; qemu sources must be qcow2 or raw`, {
        step: 'resolve-chain',
        disk: key,
      });
    }
    refuseEmptyDisk(info.virtualSize, disk.path, key);
    // A *.qcow2 path that probes as raw is a damaged or wrong file, not a disk to copy byte for byte.
    if (disk.format === undefined && format === 'raw' && /\.qcow2$/i.test(disk.path)) {
      throw new SendenseError(`${disk.path} is not a qcow2 image (qemu-img sees raw data); if it really is a raw disk, say format: raw`, {
        step: 'resolve-chain',
        disk: key,
      });
    }
    const diskSource: DiskSource = { type: 'qemu', path: disk.path, format };
    return { key, source: diskSource, virtualSize: info.virtualSize, bitmaps: info.bitmaps, path: disk.path, canStoreBitmaps: info.canStoreBitmaps };
  }
  if (source.type === 'nbd') {
    const disk = source.disks.find((d) => d.key === key)!;
    const info = await imageInfo(disk.url, { runner: exec, format: 'raw' }).catch((error: unknown) => {
      throw new SendenseError(`cannot open ${disk.url}: ${(error as Error).message}`, {
        step: 'resolve-chain',
        disk: key,
        cause: error,
      });
    });
    refuseEmptyDisk(info.virtualSize, disk.url, key);
    const bitmapOffered = disk.bitmap === undefined ? undefined : await nbdOffersDirtyBitmap(disk.url, disk.bitmap, exec);
    return { key, source: { type: 'nbd', url: disk.url, bitmap: disk.bitmap }, virtualSize: info.virtualSize, bitmapOffered };
  }
  // VMware: the client reads the disks; the size comes from the parent or, for a full, from the client.
  return { key, source: { type: 'vmware' }, virtualSize: PROVISIONAL_VIRTUAL_SIZE };
}

// A zero-size source (an empty raw file, /dev/null) has nothing to back up and no qcow2 can hold it.
function refuseEmptyDisk(virtualSize: number, where: string, key: number): void {
  if (virtualSize > 0) return;
  throw new SendenseError(`${where} is empty (virtual size 0 bytes): nothing to back up; is it the right disk?`, { step: 'resolve-chain', disk: key });
}

