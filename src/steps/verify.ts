// verify: each restored disk is compared, on the node, with the backup chain as the hub's
// qemu-nbd serves it (through the tunnel), so the check covers the whole path, not just the copy.

import type { RestoreRun } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { SendenseError } from '../errors.js';
import { compareImages } from '../qemu/index.js';
import { sourceUrl } from './restore-transfer.js';

export const verify: Step<RestoreRun> = {
  name: 'verify',
  title: (run) => `compare ${run.state.disks.length} restored disk(s) with backup ${run.state.backupId}`,
  skip: (run) => (run.plan.restore.verify ? undefined : 'verify: false in the plan'),
  async run(run) {
    const exec = (argv: readonly string[]) => run.node.exec(argv);
    const target = run.plan.restore.target;
    for (const disk of run.state.disks) {
      const source = sourceUrl(disk.nodePort ?? disk.port!, disk.exportName);
      const restored = target.type === 'file' ? disk.targetPath! : disk.target!;
      const shown = disk.finalPath ?? restored;
      const result = await compareImages(source, restored, { runner: exec, formatA: 'raw', formatB: target.type === 'file' ? target.format : 'raw' });
      if (result.status !== 'equal') {
        throw new SendenseError(`restored disk ${disk.key} (${shown}) ${result.status === 'different' ? 'differs from' : 'could not be compared with'} backup ${run.state.backupId}: ${result.detail}`, {
          step: 'verify',
          disk: disk.key,
        });
      }
    }
    return `${run.state.disks.length} disk(s) identical to backup ${run.state.backupId}`;
  },
};
