// record-change-ids: the backup becomes complete (and a possible parent) only here, after every
// disk's data, change_id and manifest are recorded; from now on nothing of it is undone.

import type { BackupRun } from './backup-run.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { recordPointFacts } from '../../repository/layer-facts.js';
import { syncPath } from '../../repository/sync-path.js';
import { backupSource } from '../../source/index.js';
import { snapshotContext } from './snapshot-source.js';
import { writeBackupManifests, writeDomainDefinition } from './backup-manifests.js';

export const recordChangeIds: Step<BackupRun> = {
  name: 'record-change-ids',
  facts: ({ state }) => ({ disks: state.disks.map((disk) => ({ key: disk.key, changeId: disk.changeId ?? null })) }),
  title: (run) => `mark backup ${run.state.backupId} complete`,
  async run(run) {
    const { state, store } = run;
    for (const disk of state.disks) {
      if (disk.bytes === undefined) {
        throw new SendenseError(`the transfer reported no result for disk ${disk.key}`, {
          step: 'record-change-ids',
          disk: disk.key,
        });
      }
    }
    // The hub's qemu-nbd wrote each file through the page cache (start-qemu-nbd): stopped, it has
    // handed qcow2's metadata to the kernel, and the file reaches the disk before anything
    // depends on it (docs/how-it-works.md#the-data-path).
    for (const disk of state.disks) {
      await disk.server?.stop();
      await syncPath(disk.file);
    }
    // Before "complete": a kill between it and the removal below leaves doctor the record.
    await backupSource(run.plan.vm.source).recordSuperseded?.(
      state.supersededBitmaps,
      snapshotContext(run, 'record-change-ids'),
    );
    await writeBackupManifests(run);
    await writeDomainDefinition(run);
    const total = state.disks.reduce((sum, disk) => sum + (disk.bytes ?? 0), 0);
    for (const disk of state.disks) {
      await store.completeBackupDisk(state.backupId, disk.key, {
        changeId: disk.changeId ?? null,
        bytes: disk.bytes ?? 0,
        virtualSize: disk.virtualSize,
        manifest: true,
        ...(disk.sample !== undefined && { sample: disk.sample }),
      });
    }
    const complete = await store.completeBackup(state.backupId, total);
    run.undo.commit();
    // What listings show of its files (docs/how-it-works.md#what-a-listing-reads); should this fail,
    // the first listing reads them and records them instead.
    await recordPointFacts(store, [complete]).catch(() => undefined);
    if (state.supersededBitmaps.length > 0) {
      const names = [...new Set(state.supersededBitmaps.map((bitmap) => bitmap.name))].join(', ');
      const context = snapshotContext(run, 'record-change-ids');
      context.takes(`remove superseded change tracking ${names}`, 'success', () =>
        backupSource(run.plan.vm.source).releaseSuperseded(state.supersededBitmaps, context),
      );
    }
    return `${state.disks.map((disk) => `${disk.key}: ${disk.changeId ?? 'no change_id'}`).join(', ')}`;
  },
  would: () => "mark the backup complete with each disk's change_id and bytes",
};
