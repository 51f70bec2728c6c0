// transfer (restore): the node transfer reads each disk from the hub's read-only qemu-nbd (which
// reads through the backing chain) and writes the allocated data into the target. When the target
// is a file on this host, qemu-img convert reads the chain directly instead: same bytes, one
// process instead of three (two qemu-nbd and the transfer) moving every byte.

import { leasedDisks, type RestoreRun } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { SendenseError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { convertIntoImage } from '../qemu/convert-image.js';
import { transferForRun } from '../transfer/run-transfer.js';
import { tuneDisks } from '../hub/disk-budget.js';
import { inTurns } from '../hub/in-turns.js';

export const restoreTransfer: Step<RestoreRun> = {
  name: 'transfer',
  title: (run) => `copy ${run.state.disks.length} disk(s) of backup ${run.state.backupId} to ${run.node.description}`,
  async run(run) {
    const target = run.plan.restore.target;
    if (run.node.isLocal && target.type === 'file') return copyOnThisHost(run, target.format);
    const args = ['--job-id', run.runId, '--nbd-targets', run.state.disks.map((disk) => `${disk.key}:${disk.target}`).join(',')];
    for (const disk of leasedDisks(run.state.disks)) {
      args.push('--source', `${disk.key}=${sourceUrl(disk.nodePort ?? disk.port, disk.exportName)}`);
    }
    // An NBD target holds old data: holes of the backup must be written as zeroes there.
    if (target.type === 'nbd') args.push('--zero-holes');
    return formatBytes((await transferForRun(run, args)).total);
  },
  would(run) {
    const keys = run.state.disks.map((disk) => `disk ${disk.key}`);
    return `node transfer on ${run.node.description}: allocated data of ${keys.length ? keys.join(', ') : 'every disk'}`;
  },
};

// As many disks at once as the run's hub slots allow (all without a hub config), like the node
// transfer; the step timeout and a stop end the copies.
async function copyOnThisHost(run: RestoreRun, format: 'qcow2' | 'raw'): Promise<string> {
  const timeout = run.plan.timeouts.transfer;
  const timer = timeout === undefined ? undefined : AbortSignal.timeout(timeout);
  const signal = timer === undefined ? run.signal : AbortSignal.any([run.signal, timer]);
  try {
    const slots = run.diskSlots;
    const atOnce = slots ? tuneDisks(slots.hub, slots.granted, run.state.disks.length).parallelDisks : run.state.disks.length;
    await inTurns(run.state.disks, atOnce, async (disk) => {
      run.reporter.emit({ type: 'progress', disk: disk.key, bytesDone: 0, bytesToDo: disk.virtualSize });
      // prepare-target has just created every target file with qemu-img create: it reads as zeroes.
      await convertIntoImage(disk.file, disk.targetPath!, format, (argv, options) => run.node.exec(argv, options), { targetIsZero: true, signal });
      run.reporter.emit({ type: 'progress', disk: disk.key, bytesDone: disk.virtualSize, bytesToDo: disk.virtualSize });
    });
  } catch (error) {
    if (timer?.aborted && !run.signal.aborted) {
      throw new SendenseError(`the restore copy did not finish within ${timeout! / 1000} s (timeouts.transfer)`, { step: 'transfer' });
    }
    throw error;
  }
  const total = run.state.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
  return `${run.state.disks.length} disk(s), ${formatBytes(total)} virtual, copied with qemu-img convert on this host`;
}

export function sourceUrl(port: number, exportName: string): string {
  return `nbd://127.0.0.1:${port}/${exportName}`;
}
