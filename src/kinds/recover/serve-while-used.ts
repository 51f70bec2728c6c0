// serve-while-used: a domain left on its overlays (moveStorage false) reads the served point, so
// the run serves it until the domain is shut off; its disks are then copied to their storage
// files, so it starts again without the point. A signal does not stop the serving: that would
// take a running domain's disks away (docs/instant-recovery.md).

import type { Step } from '../../engine/step.js';
import { finishRecovery } from './finish-recovery.js';
import type { RecoverRun } from './recover-run.js';

export const serveWhileUsed: Step<RecoverRun> = {
  name: 'serve-while-used',
  finishesOnSignal: true,
  title: (run) => `serve the point while ${run.plan.recover.to.domain} reads from it`,
  skip: (run) => (run.state.released ? 'the domain no longer reads the served point' : undefined),
  async run(run) {
    return (await finishRecovery(run, 'serve-while-used', false)).summary;
  },
  would: (run) =>
    run.plan.recover.moveStorage
      ? 'nothing (the move leaves nothing reading the point)'
      : 'serve until the domain is shut off, then copy its disks to their storage',
};
