// snapshot-source: the point in time of this backup: a new dirty bitmap on every disk of the VM
// (all disks before any is read), removed again if the backup fails.

import type { BackupRun } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { bitmapAdd, bitmapRemove } from '../qemu/index.js';

export const snapshotSource: Step<BackupRun> = {
  name: 'snapshot-source',
  title: () => 'add this backup\'s dirty bitmap to every disk',
  skip: (run) => (run.state.disks.some((disk) => disk.changeId && disk.source.type === 'qemu') ? undefined : whyNoBitmap(run)),
  async run(run) {
    const exec = (argv: readonly string[]) => run.node.exec(argv);
    const added: string[] = [];
    for (const disk of run.state.disks) {
      if (disk.source.type !== 'qemu' || !disk.changeId) continue;
      const { path } = disk.source;
      const name = disk.changeId;
      await bitmapAdd(path, name, exec);
      run.undo.push({ what: `remove bitmap ${name} from ${path}`, when: 'failure', step: 'snapshot-source', run: () => bitmapRemove(path, name, exec) });
      added.push(`${disk.key}: ${name}`);
    }
    return added.join(', ');
  },
};

function whyNoBitmap(run: BackupRun): string {
  if (run.plan.vm.source.type === 'vmware') return 'the VMware client snapshots the VM itself';
  // nbd: the bitmap belongs to the export; it was tracking before this backup read anything.
  if (run.state.disks.some((disk) => disk.changeId && disk.source.type === 'nbd')) return "the export's own dirty bitmap tracks changes: nothing to add";
  return 'the source has no change tracking';
}
