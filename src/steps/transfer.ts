// transfer: the node transfer pushes each disk's data (all allocated data for a full, the dirty
// extents of the previous bitmap for an incremental) into the hub's qemu-nbd, all disks at once.
// For a VMware source the program is sendense-backup-client, which reports each disk's change id.

import type { BackupRun } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { SendenseError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { plural } from '../format/plural.js';
import { shrinkImage } from '../qemu/index.js';
import { nbdTargetsString } from '../repository/layout.js';
import { transferForRun, type TransferDiskResult } from '../transfer/run-transfer.js';
import { vmwareClientCommand, vmwareClientEnv, vmwarePassword } from '../vmware/client.js';

export const transfer: Step<BackupRun> = {
  name: 'transfer',
  title: (run) =>
    `copy ${run.state.type === 'full' ? 'allocated data' : 'changed blocks'} of ${plural(run.state.disks.length, 'disk')} from ${run.node.description}`,
  async run(run) {
    const { state } = run;
    const source = run.plan.vm.source;
    if (source.type === 'vmware') {
      const previous = state.type === 'incremental' ? new Map(state.disks.map((disk) => [disk.key, disk.fromChangeId!])) : undefined;
      const { total, results } = await transferForRun(run, [], {
        command: vmwareClientCommand(source, backupTargets(run), run.runId),
        env: vmwareClientEnv(vmwarePassword(source), previous),
      });
      await takeVmwareResults(run, results);
      return `${plural(state.disks.length, 'disk')}, ${formatBytes(total)}`;
    }
    const args = ['--job-id', run.runId, '--nbd-targets', backupTargets(run)];
    for (const disk of state.disks) {
      const diskSource = disk.source;
      if (diskSource.type === 'qemu') {
        args.push('--source', `${disk.key}=qemu:${diskSource.path}`, '--format', `${disk.key}=${diskSource.format}`);
        if (state.type === 'incremental' && disk.fromChangeId) args.push('--bitmap', `${disk.key}=${disk.fromChangeId}`);
      } else if (diskSource.type === 'nbd') {
        args.push('--source', `${disk.key}=${diskSource.url}`);
        if (state.type === 'incremental' && diskSource.bitmap) args.push('--bitmap', `${disk.key}=${diskSource.bitmap}`);
      }
    }
    const { total } = await transferForRun(run, args);
    return `${plural(state.disks.length, 'disk')}, ${formatBytes(total)}`;
  },
};

// The client's change id becomes each disk's change_id; a full's provisional image is cut to the
// size the client reported (after its qemu-nbd is stopped: the file is locked while served).
async function takeVmwareResults(run: BackupRun, results: readonly TransferDiskResult[]): Promise<void> {
  for (const disk of run.state.disks) {
    const result = results.find((r) => r.disk === disk.key);
    if (!result?.changeId) {
      throw new SendenseError('sendense-backup-client reported no change id for this disk', { step: 'transfer', disk: disk.key });
    }
    disk.changeId = result.changeId;
    if (run.state.type !== 'full') continue;
    if (!result.virtualSize) {
      throw new SendenseError('sendense-backup-client reported no size (virtualSize) for this disk', { step: 'transfer', disk: disk.key });
    }
    await disk.stopServer?.();
    await shrinkImage(disk.file, result.virtualSize);
    disk.virtualSize = result.virtualSize;
  }
}

export function backupTargets(run: BackupRun): string {
  return nbdTargetsString(
    run.state.disks.map((disk) => ({ key: disk.key, url: `nbd://127.0.0.1:${disk.nodePort ?? disk.port}/${disk.exportName}` })),
  );
}
