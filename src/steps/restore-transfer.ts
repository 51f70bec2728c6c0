// transfer (restore): the node transfer reads each disk from the hub's read-only qemu-nbd (which
// reads through the backing chain) and writes the allocated data into the target.

import type { RestoreRun } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { formatBytes } from '../format/bytes.js';
import { transferForRun } from '../transfer/run-transfer.js';

export const restoreTransfer: Step<RestoreRun> = {
  name: 'transfer',
  title: (run) => `copy ${run.state.disks.length} disk(s) of backup ${run.state.backupId} to ${run.node.description}`,
  async run(run) {
    const args = ['--job-id', run.runId, '--nbd-targets', run.state.disks.map((disk) => `${disk.key}:${disk.target}`).join(',')];
    for (const disk of run.state.disks) {
      args.push('--source', `${disk.key}=${sourceUrl(disk.nodePort ?? disk.port!, disk.exportName)}`);
    }
    // An NBD target holds old data: holes of the backup must be written as zeroes there.
    if (run.plan.restore.target.type === 'nbd') args.push('--zero-holes');
    return formatBytes(await transferForRun(run, args));
  },
};

export function sourceUrl(port: number, exportName: string): string {
  return `nbd://127.0.0.1:${port}/${exportName}`;
}
