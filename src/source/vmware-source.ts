// A vmware source: read by sendense-run itself (vmware-reader-source.ts, docs/vmware.md), or with
// client: sendense-backup-client by that program on the node (VMware CBT), which reports each
// disk's change id and size; the hub then only knows the disk keys before the transfer.

import { SendenseError } from '../errors.js';
import type { VmwareSource } from '../plan/types.js';
import { nbdTargetsString } from '../wire/index.js';
import type { BackupSource } from './backup-source.js';
import type { SourceDiskFacts } from './source-disk.js';
import { vmwareReaderSource } from './vmware-reader-source.js';
import {
  PROVISIONAL_FORMAT_OPTIONS,
  PROVISIONAL_VIRTUAL_SIZE,
  vmwareClientCommand,
  vmwareClientEnv,
  vmwarePassword,
} from './vmware-client.js';

export function vmwareSource(source: VmwareSource): BackupSource {
  return source.client === 'sendense-backup-client' ? backupClientSource(source) : vmwareReaderSource(source);
}

function backupClientSource(source: VmwareSource): BackupSource {
  const disks = (): SourceDiskFacts[] =>
    source.disks.map((disk) => ({ key: disk.key, source: { type: 'vmware' }, virtualSize: PROVISIONAL_VIRTUAL_SIZE }));
  return {
    // A missing password stops the run before anything is taken.
    checkReady: () => void vmwarePassword(source),
    // The client reads the disks; the size comes from the parent or, for a full, from the client.
    inspect: async () => ({ disks: disks(), notes: [] }),
    uninspected: () => disks(),
    sizeKnownBeforeTransfer: false,
    whyNotIncremental: (fact, parentDisk, previous) =>
      parentDisk.changeId ? undefined : `backup ${previous.id} recorded no VMware change id for disk ${fact.key}`,
    newImageSize: (fact, parentDisk) => parentDisk?.virtualSize ?? fact.virtualSize,
    fullImageOptions: PROVISIONAL_FORMAT_OPTIONS,
    // Reported by the client after the transfer.
    newChangeId: () => undefined,
    addedBitmap: () => undefined,
    supersededBitmaps: () => [],
    label: () => 'vmware',
    describeRead(disk, incremental, vm) {
      return `disk ${disk.key}: ${vm} via sendense-backup-client${incremental && disk.fromChangeId ? `, dirty bitmap ${disk.fromChangeId}` : ''}`;
    },
    snapshotTitle: "add this backup's dirty bitmap to every disk",
    whyNoSnapshot: () => 'the VMware client snapshots the VM itself',
    describeSnapshot: () => 'the VMware client snapshots the VM',
    snapshot: async () => ({ summary: '' }),
    releaseSuperseded: async () => undefined,
    transferReads(disks, incremental, jobId, targets) {
      const previous = incremental ? new Map(disks.map((disk) => [disk.key, disk.fromChangeId!])) : undefined;
      const nbdTargets = nbdTargetsString(disks.map((disk) => ({ key: disk.key, url: targets.get(disk.key)! })));
      return {
        kind: 'external-client',
        command: vmwareClientCommand(source, nbdTargets, jobId),
        env: vmwareClientEnv(vmwarePassword(source), previous),
      };
    },
    transfersWith: 'external-client',
    takesTurns: false,
    takesRate: false,
    reportsDigests: false,
    // The client's change id becomes each disk's change_id; a full's provisional image is cut to the size it reported.
    adoptResults(results, keys, full) {
      return keys.map((key) => {
        const result = results.find((r) => r.disk === key);
        if (!result?.changeId)
          throw new SendenseError('sendense-backup-client reported no change id for this disk', {
            step: 'transfer',
            disk: key,
          });
        if (!full) return { key, changeId: result.changeId };
        if (!result.virtualSize)
          throw new SendenseError('sendense-backup-client reported no size (virtualSize) for this disk', {
            step: 'transfer',
            disk: key,
          });
        return { key, changeId: result.changeId, shrinkTo: result.virtualSize };
      });
    },
  };
}
