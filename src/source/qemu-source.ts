// A qemu source: qcow2 or raw image files on the node; change tracking by persistent dirty
// bitmaps named after the chain and the backup that added them (docs/how-it-works.md#change-tracking-by-source).

import { SendenseError } from '../errors.js';
import type { DiskKey, QemuSource } from '../plan/types.js';
import { bitmapProblem } from '../qemu/bitmap-health.js';
import { hasExternalDataFile, isEncryptedQcow2, isQcow2, readBacking } from '../qemu/qcow2-header.js';
import { addMarkedBitmaps, bitmapRemove, imageInfo, type CommandRunner } from '../qemu/index.js';
import { bitmapName, isSendenseBitmap } from '../repository/layout.js';
import type { Backup } from '../store/index.js';
import type { TransferRead } from '../wire/index.js';
import type {
  SourceChangeTracking,
  SourceFacets,
  SourceInspection,
  SourceReads,
  SourceSnapshot,
} from './backup-source.js';
import { diskSourceOf, inspectListed, refuseEmptyDisk, type SourceDiskFacts } from './source-disk.js';

// qemu's image lock held: a VM is running on the image; its disks are read through libvirt's backup API.
const RUNNING_VM =
  'by a running VM most likely: back up a running VM through its domain (source.type: libvirt, docs/how-it-works.md#libvirt-domains)';

export function qemuSource(source: QemuSource): SourceFacets {
  return {
    inspection: qemuInspection(source),
    changeTracking: qemuChangeTracking,
    snapshot: qemuSnapshot,
    reads: qemuReads,
  };
}

// Inspect: each image read with qemu-img info on the node.
function qemuInspection(source: QemuSource): SourceInspection {
  const keys = source.disks.map((disk) => disk.key);
  // One disk: its image read with qemu-img info on the node.
  async function inspectDisk(exec: CommandRunner, key: DiskKey): Promise<SourceDiskFacts> {
    const disk = source.disks.find((d) => d.key === key)!;
    const info = await imageInfo(disk.path, { runner: exec, format: disk.format, whenLocked: RUNNING_VM }).catch(
      (error: unknown) => {
        throw new SendenseError((error as Error).message, { step: 'resolve-chain', disk: key, cause: error });
      },
    );
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
      throw new SendenseError(
        `${disk.path} is not a qcow2 image (qemu-img sees raw data); if it really is a raw disk, say format: raw`,
        {
          step: 'resolve-chain',
          disk: key,
        },
      );
    }
    return {
      key,
      source: { type: 'qemu', path: disk.path, format },
      virtualSize: info.virtualSize,
      bitmaps: info.bitmaps,
      path: disk.path,
      canStoreBitmaps: info.canStoreBitmaps,
    };
  }

  function uninspectedDisk(key: DiskKey): SourceDiskFacts {
    const disk = source.disks.find((d) => d.key === key)!;
    return {
      key,
      source: { type: 'qemu', path: disk.path, format: disk.format ?? 'qcow2' },
      virtualSize: 0,
      path: disk.path,
    };
  }

  return {
    checkReady: () => undefined,
    inspect: (exec) => inspectListed(keys, (key) => inspectDisk((argv) => exec(argv), key)),
    uninspected: () => keys.map(uninspectedDisk),
    sizeKnownBeforeTransfer: true,
    newImageSize: (fact) => fact.virtualSize,
    label: (disk) => diskSourceOf('qemu', disk.source).path,
  };
}

// Change tracking: a persistent dirty bitmap in each qcow2 image, added by each backup.
const qemuChangeTracking: SourceChangeTracking = {
  whyNotIncremental(fact, parentDisk, previous) {
    const { path, format } = diskSourceOf('qemu', fact.source);
    if (format === 'raw') {
      return `disk ${fact.key} (${path}) is a raw image: raw images have no dirty bitmaps, so only full backups are possible`;
    }
    if (fact.canStoreBitmaps === false) {
      return `disk ${fact.key} (${path}) is a qcow2 v2 (compat 0.10) image, which cannot store dirty bitmaps, so only full backups are possible (qemu-img amend -o compat=1.1 upgrades it)`;
    }
    const name = parentDisk.changeId;
    if (!name) return `backup ${previous.id} recorded no change_id for disk ${fact.key}`;
    // Only the bitmap this chain added at that backup says what changed since: another chain's
    // (an edited or mixed-up database) would give an incremental built on a guess.
    if (name !== ownBitmap(previous)) {
      return `backup ${previous.id} records bitmap '${name}' for disk ${fact.key}, not the one its chain added ('${ownBitmap(previous)}')`;
    }
    const problem = bitmapProblem(fact.bitmaps ?? [], name);
    if (problem === 'missing') return `the dirty bitmap '${name}' of backup ${previous.id} is missing from ${path}`;
    if (problem === 'inconsistent')
      return `the dirty bitmap '${name}' on ${path} is marked inconsistent (the image was not closed cleanly)`;
    if (problem === 'disabled')
      return `the dirty bitmap '${name}' on ${path} is disabled (it stopped recording writes)`;
    return undefined;
  },
  // The bitmap this backup adds; raw images and qcow2 v2 have none.
  newChangeId(fact, chainId, backupId) {
    const { format } = diskSourceOf('qemu', fact.source);
    return format === 'qcow2' && fact.canStoreBitmaps !== false ? bitmapName(chainId, backupId) : undefined;
  },
  addedBitmap: (disk) => disk.changeId,
  // Bitmaps of the previous complete backup (any chain) of this repository: once this backup is
  // complete no incremental will start from them, and an unused bitmap costs the source writes.
  // Only the one that backup's own chain added: another chain's bitmap is never ours to remove.
  supersededBitmaps(previous, facts) {
    if (previous === undefined) return [];
    return facts.flatMap((fact) => {
      const name = previous.disks.find((disk) => disk.diskKey === fact.key)?.changeId;
      const own = name === ownBitmap(previous);
      const present =
        fact.path !== undefined &&
        own &&
        name &&
        fact.bitmaps?.some((bitmap) => bitmap.name === name && isSendenseBitmap(name));
      return present ? [{ key: fact.key, path: fact.path!, name: name! }] : [];
    });
  },
  async releaseSuperseded(superseded, context) {
    for (const bitmap of superseded) await bitmapRemove(bitmap.path, bitmap.name, (argv) => context.exec(argv));
  },
};

// Snapshot: the bitmaps added to every disk before any is read.
const qemuSnapshot: SourceSnapshot = {
  snapshotTitle: "add this backup's dirty bitmap to every disk",
  whyNoSnapshot: (disks) => (disks.some((disk) => disk.changeId) ? undefined : 'the source has no change tracking'),
  describeSnapshot(disks) {
    const names = [...new Set(disks.flatMap((disk) => (disk.changeId ? [disk.changeId] : [])))];
    return names.length === 0
      ? 'nothing (raw disks and qcow2 v2 images have no bitmaps)'
      : `add bitmap ${names.join(', ')} to every qcow2 disk`;
  },
  // All disks' bitmaps before any disk is read: one point in time for the VM.
  async snapshot(disks, context) {
    const runner: CommandRunner = (argv) => context.exec(argv);
    const marked = disks.filter((disk) => disk.changeId);
    // The mark's directory recorded as the run's scratch-dir on the node: doctor removes it after a kill.
    await addMarkedBitmaps(
      marked.map((disk) => {
        const { path } = diskSourceOf('qemu', disk.source);
        const name = disk.changeId!;
        return {
          file: path,
          name,
          size: disk.virtualSize,
          added: () =>
            context.takes(`remove bitmap ${name} from ${path}`, 'failure', () => bitmapRemove(path, name, runner)),
        };
      }),
      runner,
      {
        tag: context.runId,
        thisHost: context.exec.concurrent === true,
        record: (dir) => context.record('scratch-dir', dir, {}),
        forget: (dir) => context.forget('scratch-dir', dir),
      },
    );
    return { summary: marked.map((disk) => `${disk.key}: ${disk.changeId}`).join(', ') };
  },
};

// Reads: the node transfer reads each image (the changed areas of a bitmap for an incremental).
const qemuReads: SourceReads = {
  describeRead(disk, incremental) {
    const bitmap = incremental && disk.fromChangeId ? `, dirty bitmap ${disk.fromChangeId}` : '';
    return `disk ${disk.key}: ${diskSourceOf('qemu', disk.source).path}${bitmap}`;
  },
  transferReads(disks, incremental) {
    const reads = disks.map((disk): TransferRead => {
      const { path, format } = diskSourceOf('qemu', disk.source);
      const bitmap = incremental && disk.fromChangeId ? disk.fromChangeId : undefined;
      // The mark addMarkedBitmaps left at the parent's last byte: gone, the disk shrank since (qemu/bitmaps.ts).
      const mark = bitmap && disk.fromSize ? { bitmapMark: disk.fromSize - 1 } : {};
      return {
        key: disk.key,
        source: { kind: 'qemu', path, format },
        ...(bitmap ? { bitmap, ...mark } : {}),
      };
    });
    return { kind: 'node-transfer', reads };
  },
  transfersWith: 'node-transfer',
  takesTurns: true,
  takesRate: true,
  reportsDigests: true,
  // Raw, or a qcow2 without a backing file, encryption or an external data file (read from its
  // header, this host's file); compressed clusters only the transfer finds (runners/transfer/qemu-copy.ts).
  copiesFile(disk) {
    const { path, format } = diskSourceOf('qemu', disk.source);
    if (format === 'raw') return true;
    try {
      return isQcow2(path) && readBacking(path) === undefined && !isEncryptedQcow2(path) && !hasExternalDataFile(path);
    } catch {
      return false;
    }
  },
};

// The bitmap a qemu backup adds to its disks: named after its chain and itself.
export function ownBitmap(backup: Pick<Backup, 'chainId' | 'id'>): string {
  return bitmapName(backup.chainId, backup.id);
}
