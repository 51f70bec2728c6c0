// resolve-point of a file-level restore: the complete backup the plan's point names and the one
// disk whose files are restored (restore.disks[0], default the backup's first disk).

import type { FilesRestoreRun } from './files-restore-run.js';
import type { Step } from '../../engine/step.js';
import { SendenseError, isSendenseError } from '../../errors.js';
import { findPointFile } from '../../files/backup-point.js';
import { refuseInsideRepository } from '../../repository/containing-repository.js';
import { describePoint } from '../../repository/find-point.js';

export const resolveFilesPoint: Step<FilesRestoreRun> = {
  name: 'resolve-point',
  facts: ({ state: { point } }) => ({
    backupId: point.backup.id,
    disks: [{ key: point.disk.diskKey, file: point.disk.file }],
  }),
  title: (run) => `find the restore point of ${run.plan.vm.name} whose files are restored`,
  async run(run) {
    const { plan, store } = run;
    try {
      const point = await findPointFile(
        store,
        plan.vm.name,
        plan.restore.point,
        plan.restore.disks?.[0],
        plan.repository.path,
      );
      run.state = { backupId: point.backup.id, point };
    } catch (error) {
      if (isSendenseError(error)) throw new SendenseError(error.message, { step: 'resolve-point' });
      throw error;
    }
    // Before anything is extracted: never into a repository.
    const to = plan.restore.target.to;
    await refuseInsideRepository(run.node, store, to, `restore.target.to ${to}`, plan.repository.path);
    const { backup, disk } = run.state.point;
    return `backup ${backup.id} (${backup.type}, taken ${backup.startedAt}), disk ${disk.diskKey}`;
  },
  would(run) {
    const { point, disks } = run.plan.restore;
    const pointText = describePoint(point);
    return `point ${pointText} of VM ${run.plan.vm.name}, disk ${disks?.[0] ?? '(the first)'}`;
  },
};
