// place-target: the restored files, complete and verified, take their final names. The rename is
// atomic: an existing target (overwrite: true) is replaced only now, and never while another
// process has opened it since prepare-target looked.

import type { RestoreRun } from './restore-run.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { refuseExistingTarget } from './prepare-target.js';

export const placeTarget: Step<RestoreRun> = {
  name: 'place-target',
  title: (run) => `rename ${run.state.disks.length} restored file(s) into place`,
  skip: (run) => (run.plan.restore.target.type === 'file' ? undefined : 'NBD targets are written in place'),
  async run(run) {
    const target = run.plan.restore.target;
    const overwrite = target.type === 'file' && target.overwrite;
    for (const disk of run.state.disks) await refuseExistingTarget(run, disk.finalPath!, disk, overwrite);
    for (const disk of run.state.disks) {
      const moved = await run.node.exec(['mv', '-f', '-T', '--', disk.targetPath!, disk.finalPath!]);
      if (moved.exitCode !== 0) {
        throw new SendenseError(`cannot rename ${disk.targetPath} to ${disk.finalPath}: ${moved.stderr.trim()}`, { step: 'place-target', disk: disk.key });
      }
      await run.store.forgetRunFile(run.node.id, disk.targetPath!);
    }
    return run.state.disks.map((disk) => disk.finalPath).join(', ');
  },
  would: (run) => (run.plan.restore.target.type === 'file' ? 'rename each restored file into place' : 'nothing (NBD targets are written in place)'),
};
