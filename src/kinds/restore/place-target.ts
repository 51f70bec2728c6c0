// place-target: the restored disks, complete and verified, take their final place (a file target's
// atomic rename; an NBD target was written in place).

import type { RestoreRun } from './restore-run.js';
import type { Step } from '../../engine/step.js';

export const placeTarget: Step<RestoreRun> = {
  name: 'place-target',
  title: (run) => `put ${run.state.disks.length} restored disk(s) in place`,
  skip: (run) => run.target.inPlace,
  run: (run) => run.target.place(run),
  would: (run) => run.target.wouldPlace,
};
