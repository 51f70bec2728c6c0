// prepare-target: the restore's destination makes every disk's target ready, after checking all
// of them first (src/restore/targets/: file targets are created beside their final path, NBD targets must
// be large enough).

import type { RestoreRun } from './restore-run.js';
import type { Step } from '../../engine/step.js';
import { transferTargetText } from '../../wire/index.js';

export const prepareTarget: Step<RestoreRun> = {
  name: 'prepare-target',
  facts: ({ state }) => ({
    disks: state.disks.map((disk) => ({
      key: disk.key,
      target: disk.targetPath ?? (disk.target === undefined ? undefined : transferTargetText(disk.target)),
    })),
  }),
  title: (run) => run.target.preparing(run),
  run: (run) => run.target.prepare(run),
  would: (run) => run.target.wouldPrepare(run),
};
