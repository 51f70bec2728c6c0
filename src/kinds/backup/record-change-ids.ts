// record-change-ids: the backup becomes complete (and a possible parent) only here, after every
// disk's data, change_id and manifest are recorded; from now on nothing of it is undone.

import type { BackupRun } from './backup-run.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { bitmapRemove } from '../../qemu/index.js';
import { writeBackupManifests } from './backup-manifests.js';

export const recordChangeIds: Step<BackupRun> = {
  name: 'record-change-ids',
  facts: ({ state }) => ({ disks: state.disks.map((disk) => ({ key: disk.key, changeId: disk.changeId ?? null })) }),
  title: (run) => `mark backup ${run.state.backupId} complete`,
  async run(run) {
    const { state, store } = run;
    for (const disk of state.disks) {
      if (disk.bytes === undefined) {
        throw new SendenseError(`the transfer reported no result for disk ${disk.key}`, { step: 'record-change-ids', disk: disk.key });
      }
    }
    await writeBackupManifests(run);
    const total = state.disks.reduce((sum, disk) => sum + (disk.bytes ?? 0), 0);
    for (const disk of state.disks) {
      await store.completeBackupDisk(state.backupId, disk.key, {
        changeId: disk.changeId ?? null,
        bytes: disk.bytes ?? 0,
        virtualSize: disk.virtualSize,
        manifest: true,
      });
    }
    await store.completeBackup(state.backupId, total);
    run.undo.commit();
    const exec = (argv: readonly string[]) => run.node.exec(argv);
    for (const bitmap of state.supersededBitmaps) {
      run.undo.push({
        what: `remove superseded bitmap ${bitmap.name} from ${bitmap.path}`,
        when: 'success',
        step: 'record-change-ids',
        run: () => bitmapRemove(bitmap.path, bitmap.name, exec),
      });
    }
    return `${state.disks.map((disk) => `${disk.key}: ${disk.changeId ?? 'no change_id'}`).join(', ')}`;
  },
  would: () => "mark the backup complete with each disk's change_id and bytes",
};
