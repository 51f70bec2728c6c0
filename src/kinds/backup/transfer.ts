// transfer: the node transfer pushes each disk's data (all allocated data for a full, the dirty
// extents of the previous bitmap for an incremental) into the hub's qemu-nbd, the disks at once or
// in turns within the run's hub slots.
// The source says which program reads it and what its results teach (a VMware disk's change id).

import { bytesFacts } from '../../engine/step-facts.js';
import type { SourceRun } from './backup-run.js';
import type { Step } from '../../engine/step.js';
import { formatBytes } from '../../format/bytes.js';
import { plural } from '../../format/plural.js';
import { shrinkImage } from '../../qemu/index.js';
import { nbdTargetsString } from '../../wire/index.js';
import { backupSource } from '../../source/index.js';
import { rateNote, transferForRun } from '../../transfer/run-transfer.js';
import { servedTarget } from '../../transfer/transfer-plan.js';
import { servedUrl } from '../../steps/serving-run.js';
import { copiesFilesHere } from './create-qcow2.js';
import { writeBehind } from './write-behind.js';

export const transfer: Step<SourceRun> = {
  name: 'transfer',
  facts: ({ state }) => bytesFacts(state.disks),
  title: (run) =>
    `copy ${run.state.type === 'full' ? 'allocated data' : 'changed blocks'} of ${plural(run.state.disks.length, 'disk')} from ${run.node.description}${rateNote(run.bandwidth, backupSource(run.plan.vm.source).takesRate)}`,
  async run(run) {
    const { state } = run;
    const source = backupSource(run.plan.vm.source);
    const incremental = state.type === 'incremental';
    const compressing = state.disks.some((disk) => disk.compress === true);
    const behind = writeBehind(state.disks.map((disk) => disk.file));
    // A compressing file takes whole clusters, each written once (docs/encryption.md#compression).
    const { total, results } = await transferForRun(run, (disks) => ({
      jobId: run.runId,
      reads: source.transferReads(
        disks,
        incremental,
        run.runId,
        new Map(disks.map((disk) => [disk.key, servedUrl(disk, run.node)])),
      ),
      targets: new Map(disks.map((disk) => [disk.key, servedTarget(disk, run.node)])),
      ...(compressing && { align: BACKUP_CLUSTER_BYTES }),
    })).finally(() => behind.stop());
    const keys = state.disks.map((disk) => disk.key);
    for (const adopted of source.adoptResults(results, keys, state.type === 'full', run.runId)) {
      const disk = state.disks.find((d) => d.key === adopted.key)!;
      if (adopted.changeId !== undefined) disk.changeId = adopted.changeId;
      if (adopted.shrinkTo === undefined) continue;
      // The file is locked while served: its qemu-nbd stops first.
      await disk.server?.stop();
      await shrinkImage(disk.file, adopted.shrinkTo);
      disk.virtualSize = adopted.shrinkTo;
    }
    // "(copied by qemu-img convert)", naming how many when not all were (docs/how-it-works.md#a-local-full-backup).
    const copied = results.filter((result) => result.copiedWith !== undefined);
    const how =
      copied.length === 0
        ? ''
        : ` (${copied.length === results.length ? '' : `${plural(copied.length, 'disk')} `}copied by ${copied[0]!.copiedWith})`;
    return `${plural(state.disks.length, 'disk')}, ${formatBytes(total)}${how}`;
  },
  would(run) {
    const incremental = run.state.type === 'incremental';
    const source = backupSource(run.plan.vm.source);
    const reads = run.state.disks.map((disk) => source.describeRead(disk, incremental, run.plan.vm.name));
    const targets = nbdTargetsString(
      run.state.disks.map((disk) => ({ key: disk.key, url: servedUrl(disk, run.node) })),
    );
    const note = rateNote(run.bandwidth, source.takesRate);
    const here =
      run.plan.kind === 'backup' && copiesFilesHere(run)
        ? [
            'on this host: qemu-img convert copies each plain image file (raw, or qcow2 without a backing file or encryption) into its new file, unless the repository is encrypted or compressed (docs/how-it-works.md#a-local-full-backup)',
          ]
        : [];
    if (run.state.disks.length === 0)
      return `node transfer on ${run.node.description}: ${incremental ? 'changed blocks' : 'allocated data'} of each disk the source lists once the node is asked${note}`;
    return [
      `node transfer on ${run.node.description}: ${incremental ? 'changed blocks' : 'allocated data'}${note}`,
      ...reads,
      `--nbd-targets ${targets}`,
      ...here,
    ].join('\n');
  },
};

// The cluster size of the backup files (qemu-img's default for a qcow2 file).
const BACKUP_CLUSTER_BYTES = 64 * 1024;
