// move-storage: each disk copied to its storage file while the domain runs (libvirt block copy,
// progress and ETA as it goes), then all switched over and the overlays removed; a domain that is
// shut off is copied with qemu-img. A failed move leaves the domain on the served point, served
// until it is shut off (./finish-recovery.ts).

import type { Step } from '../../engine/step.js';
import { finishRecovery } from './finish-recovery.js';
import type { RecoverRun } from './recover-run.js';

export const moveStorage: Step<RecoverRun> = {
  name: 'move-storage',
  finishesOnSignal: true,
  title: (run) =>
    `copy ${run.state.disks.length} disk(s) of ${run.plan.recover.to.domain} to ${run.plan.recover.to.storage}, then switch it over`,
  skip: (run) =>
    run.plan.recover.moveStorage
      ? undefined
      : 'moveStorage is false: the domain runs from the served point until it is shut off',
  facts: (run) => ({
    domain: run.plan.recover.to.domain,
    disks: run.state.disks.map((disk) => ({ key: disk.key, storage: disk.storage })),
  }),
  async run(run) {
    const { domain } = run.plan.recover.to;
    const onSignal = () =>
      run.reporter.emit({
        type: 'warning',
        step: 'move-storage',
        message: `the move goes on: stopping now would take domain ${domain}'s disks away (the run ends once it is on its storage)`,
      });
    run.signal.addEventListener('abort', onSignal, { once: true });
    try {
      const finished = await finishRecovery(run, 'move-storage', true);
      if (finished.failure) throw finished.failure;
      return `${finished.summary}; ${domain} no longer reads the served point`;
    } finally {
      run.signal.removeEventListener('abort', onSignal);
    }
  },
  would: (run) =>
    run.plan.recover.moveStorage
      ? `virsh blockcopy each disk to ${run.plan.recover.to.storage}, pivot when all are ready, remove the overlays`
      : 'nothing (moveStorage is false)',
};
