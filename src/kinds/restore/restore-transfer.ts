// transfer (restore): the node transfer reads each disk from the hub's read-only qemu-nbd (which
// reads through the backing chain) and writes the allocated data into the target. When the
// restore runs on this host (a file target, or an NBD target the hub reaches), qemu-img convert
// reads the chain directly instead: the same bytes with one process and one socket fewer moving
// every byte (bench/restore.js: through the node transfer an NBD restore was 0.72x of qemu-img
// convert into the same NBD target, from 3.5-4.4 s of CPU against 0.9-1.6 s). When a rate may
// apply (docs/bandwidth.md), the node transfer runs on this host too: qemu-img convert can be
// neither limited nor told a new rate while it runs.

import { bytesFacts } from '../../engine/step-facts.js';
import { leasedDisks } from '../../engine/run-context.js';
import type { RestoreDiskJob, RestoreRun } from './restore-run.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { formatBytes } from '../../format/bytes.js';
import type { ExecOptions } from '../../node/node.js';
import { allocatedBytes } from '../../qemu/allocated-bytes.js';
import { convertIntoImage } from '../../qemu/convert-image.js';
import { diskTurns, rateNote, transferForRun } from '../../transfer/run-transfer.js';
import { inTurns } from '../../hub/in-turns.js';
import { servedUrl } from '../../steps/serving-run.js';
import type { TransferAsk } from '../../transfer/transfer-plan.js';

export const restoreTransfer: Step<RestoreRun> = {
  name: 'transfer',
  facts: ({ state }) => bytesFacts(state.disks),
  title: (run) =>
    `copy ${run.state.disks.length} disk(s) of backup ${run.state.backupId} to ${run.node.description}${rateNote(run.bandwidth)}`,
  async run(run) {
    if (convertsOnThisHost(run)) return copyOnThisHost(run);
    // A restore records nothing from the copy: no digests (verify: true reads the target on the
    // node afterwards against the manifests' digests, docs/how-it-works.md#a-verified-restore).
    const askFor = (disks: readonly RestoreDiskJob[]): TransferAsk => {
      const leased = leasedDisks(disks);
      return {
        jobId: run.runId,
        reads: {
          kind: 'node-transfer',
          reads: leased.map((disk) => ({ key: disk.key, source: { kind: 'nbd', url: servedUrl(disk, run.node) } })),
        },
        // As prepare-target made it ready.
        targets: new Map(leased.map((disk) => [disk.key, { target: disk.target! }])),
        digests: false,
        // An NBD target holds old data: holes of the backup must be written as zeroes there.
        zeroHoles: run.target.zeroHoles,
      };
    };
    return formatBytes((await transferForRun(run, askFor)).total);
  },
  would(run) {
    const keys = run.state.disks.map((disk) => `disk ${disk.key}`);
    const converts = convertsOnThisHost(run);
    const how = converts ? 'qemu-img convert on this host' : `node transfer on ${run.node.description}`;
    return `${how}: ${converts ? 'every byte' : 'allocated data'} of ${keys.length ? keys.join(', ') : 'every disk'}${rateNote(run.bandwidth)}`;
  },
};

// On this host qemu-img convert reads the chain itself, unless a rate may apply.
function convertsOnThisHost(run: RestoreRun): boolean {
  return run.node.isLocal && run.bandwidth?.limited !== true;
}

// As many disks at once as the run's hub slots allow (all without a hub config), like the node
// transfer; the step timeout and a stop end the copies. Holes are written as zeroes unless the
// target reads as zeroes already (a file target just created).
async function copyOnThisHost(run: RestoreRun): Promise<string> {
  const timeout = run.plan.timeouts.transfer;
  const timer = timeout === undefined ? undefined : AbortSignal.timeout(timeout);
  const signal = timer === undefined ? run.signal : AbortSignal.any([run.signal, timer]);
  try {
    const atOnce = diskTurns(run)?.parallelDisks ?? run.state.disks.length;
    await inTurns(run.state.disks, atOnce, async (disk) => {
      run.reporter.emit({ type: 'progress', disk: disk.key, bytesDone: 0, bytesToDo: disk.virtualSize });
      const exec = (argv: readonly string[], options?: ExecOptions) => run.node.exec(argv, options);
      const into = run.target.convertInto(disk);
      // qemu-img convert counts nothing: the chain's data it copies, as the node transfer would count
      // it, mapped beside the copy (from a bucket view, while the copy reads the same metadata).
      // A failed copy stops the map and waits for it: no child of the step outlives it.
      const mapping = new AbortController();
      const counted = allocatedBytes(disk.file, exec, AbortSignal.any([signal, mapping.signal]));
      // Handled now (a stop may end it while the copy runs); awaited below.
      counted.catch(() => {});
      try {
        await convertIntoImage(disk.file, into.image, into.format, exec, {
          targetIsZero: into.isZero,
          targetTakesDirectIo: into.takesDirectIo,
          signal,
        });
      } catch (error) {
        mapping.abort();
        await counted.catch(() => {});
        throw error;
      }
      disk.bytes = await counted;
      run.reporter.emit({ type: 'progress', disk: disk.key, bytesDone: disk.virtualSize, bytesToDo: disk.virtualSize });
    });
  } catch (error) {
    if (timer?.aborted && !run.signal.aborted) {
      throw new SendenseError(`the restore copy did not finish within ${timeout! / 1000} s (timeouts.transfer)`, {
        step: 'transfer',
      });
    }
    throw error;
  }
  const total = run.state.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
  const data = run.state.disks.reduce((sum, disk) => sum + (disk.bytes ?? 0), 0);
  return `${run.state.disks.length} disk(s), ${formatBytes(total)} virtual (${formatBytes(data)} of data), copied with qemu-img convert on this host`;
}
