// snapshot-source: the point in time of this backup: a new dirty bitmap on every disk of the VM
// (all disks before any is read), removed again if the backup fails.

import type { BackupRun } from './backup-run.js';
import type { Step } from '../../engine/step.js';
import { backupSource } from '../../source/index.js';

export const snapshotSource: Step<BackupRun> = {
  name: 'snapshot-source',
  facts: ({ state }) => ({ disks: state.disks.map((disk) => ({ key: disk.key, changeId: disk.changeId ?? null })) }),
  title: () => "add this backup's dirty bitmap to every disk",
  skip: (run) => backupSource(run.plan.vm.source).whyNoSnapshot(run.state.disks),
  async run(run) {
    const source = backupSource(run.plan.vm.source);
    const exec = (argv: readonly string[]) => run.node.exec(argv);
    const added: string[] = [];
    for (const disk of run.state.disks) {
      const taken = await source.snapshot(disk, exec);
      if (taken === undefined) continue;
      run.undo.push({ what: taken.undoWhat, when: 'failure', step: 'snapshot-source', run: taken.undo });
      added.push(taken.what);
    }
    return added.join(', ');
  },
  would: (run) => backupSource(run.plan.vm.source).describeSnapshot(run.state.disks),
};
