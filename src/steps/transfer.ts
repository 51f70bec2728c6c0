// transfer: the node transfer pushes each disk's data (all allocated data for a full, the dirty
// extents of the previous bitmap for an incremental) into the hub's qemu-nbd, all disks at once.

import type { BackupRun } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { nbdTargetsString } from '../repository/layout.js';
import { formatBytes } from '../format/bytes.js';
import { transferForRun } from '../transfer/run-transfer.js';

export const transfer: Step<BackupRun> = {
  name: 'transfer',
  title: (run) => `copy ${run.state.type === 'full' ? 'allocated data' : 'changed blocks'} of ${run.state.disks.length} disk(s) from ${run.node.description}`,
  async run(run) {
    const { state } = run;
    const args = ['--job-id', run.runId, '--nbd-targets', backupTargets(run)];
    for (const disk of state.disks) {
      const source = disk.source;
      if (source.type === 'qemu') {
        args.push('--source', `${disk.key}=qemu:${source.path}`, '--format', `${disk.key}=${source.format}`);
        if (state.type === 'incremental' && disk.fromChangeId) args.push('--bitmap', `${disk.key}=${disk.fromChangeId}`);
      } else if (source.type === 'nbd') {
        args.push('--source', `${disk.key}=${source.url}`);
        if (state.type === 'incremental' && source.bitmap) args.push('--bitmap', `${disk.key}=${source.bitmap}`);
      }
    }
    const total = await transferForRun(run, args);
    return `${state.disks.length} disk(s), ${formatBytes(total)}`;
  },
};

export function backupTargets(run: BackupRun): string {
  return nbdTargetsString(
    run.state.disks.map((disk) => ({ key: disk.key, url: `nbd://127.0.0.1:${disk.nodePort ?? disk.port}/${disk.exportName}` })),
  );
}
