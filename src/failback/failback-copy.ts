// A failback's copy phase (docs/replication.md#failback): the standby shut down and waited for,
// then the original's disks made equal to the standby's, only what either side wrote since the
// failover's point when both bitmaps say so (the original's merged into the standby's), else
// every block. Recorded 'copying' before anything is written, 'copied' once all of it is.

import { crashPoint } from '../crash-points.js';
import { SendenseError } from '../errors.js';
import type { Virsh } from '../libvirt/virsh.js';
import type { NodeHost } from '../node/node.js';
import { imageInfoWith, type ImageInfo } from '../qemu/image-info.js';
import { copyBack } from './copy-back.js';
import { domainState } from './domain-state.js';
import type { FailbackDisk, FailbackRequest, FailbackSides, FailedBack } from './failback-types.js';
import { bitmapUnusable, FAILBACK_BITMAP, mergeOriginalBitmap } from './failback-bitmap.js';
import type { FailbackPhase } from './failback-record.js';

export interface CopiedBack {
  readonly copy: FailedBack['copy'];
  readonly whyFull?: string;
  readonly bytesWritten: number;
}

export async function copyToOriginal(
  sides: FailbackSides,
  disks: readonly FailbackDisk[],
  record: (phase: FailbackPhase) => Promise<unknown>,
): Promise<CopiedBack> {
  const { request, standbyVirsh, standby, replicaNode, sourceNode, standbyExec, originalExec } = sides;
  await stopStandby(request, standbyVirsh, standby, replicaNode.description);
  crashPoint('failback.standby-stopped');
  const infos = await Promise.all(
    disks.map(async (disk) => ({
      standby: await imageInfoWith(standbyExec, disk.standby, { format: 'qcow2' }),
      original: await imageInfoWith(originalExec, disk.original),
    })),
  );
  refuseOtherSizes(disks, infos);
  const whyFull = whyNotIncremental(disks, infos);
  await record('copying');
  if (whyFull === undefined) {
    for (const disk of disks)
      await mergeOriginalBitmap(
        { exec: originalExec, image: disk.original, sameHost: sameHost(sourceNode, replicaNode) },
        { exec: standbyExec, image: disk.standby, sameHost: sameHost(sourceNode, replicaNode) },
        disk.point.changeId!,
        disk.point.virtualSize,
      );
  } else request.say(`${whyFull}: every block of the standby's disks is copied`);
  const bytesWritten = await copyDisks(sides, disks, whyFull === undefined);
  await record('copied');
  crashPoint('failback.copied');
  return {
    copy: whyFull === undefined ? 'incremental' : 'full',
    ...(whyFull === undefined ? {} : { whyFull }),
    bytesWritten,
  };
}

// The standby's disks onto the original's; the bytes written.
async function copyDisks(sides: FailbackSides, disks: readonly FailbackDisk[], incremental: boolean): Promise<number> {
  const { request, source, sourceNode, replicaNode } = sides;
  const { store, plan, runId } = request;
  let done = 0;
  const results = await copyBack({
    store,
    runId,
    sourceNode,
    sourceNodeSpec: plan.node ?? null,
    replicaNode,
    scratch: source.scratch,
    shared: plan.nbd.shared,
    incremental,
    disks,
    reporter: request.reporter,
    signal: request.signal,
    onDiskDone: () => {
      if (++done === 1) crashPoint('failback.disk-copied');
    },
  });
  return results.reduce((sum, result) => sum + (result.bytesWritten ?? result.bytesDone), 0);
}

// Asked to shut down, then waited for; a guest that does not act on it is the person's to stop.
async function stopStandby(request: FailbackRequest, virsh: Virsh, domain: string, node: string): Promise<void> {
  const state = await domainState(virsh, domain);
  if (state === 'shut off' || state === undefined) return;
  request.say(`asking ${domain} on ${node} to shut down (waiting up to ${request.waitSeconds} s)`);
  await virsh.attempt(['shutdown', domain]);
  const deadline = Date.now() + request.waitSeconds * 1000;
  for (;;) {
    const now = await domainState(virsh, domain);
    if (now === 'shut off' || now === undefined) return;
    if (Date.now() >= deadline)
      throw new SendenseError(
        `${domain} on ${node} is still ${now} ${request.waitSeconds} s after it was asked to shut down (its guest did not act on the ACPI shutdown): shut it down yourself (virsh shutdown ${domain}; virsh destroy ${domain} for a guest that cannot, its disks are then as after a power cut), then run failback again; nothing was copied`,
      );
    request.signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function refuseOtherSizes(
  disks: readonly FailbackDisk[],
  infos: readonly { readonly standby: ImageInfo; readonly original: ImageInfo }[],
): void {
  disks.forEach((disk, i) => {
    const { standby, original } = infos[i]!;
    if (standby.virtualSize !== original.virtualSize)
      throw new SendenseError(
        `disk ${disk.key}: ${disk.original} is ${original.virtualSize} bytes, the standby's ${disk.standby} ${standby.virtualSize}: resize ${disk.original} to ${standby.virtualSize} bytes first`,
      );
  });
}

// Only the changes when the standby runs on the point's own layer, recording its writes, and the
// original still has the point's checkpoint bitmap, saved cleanly; else why every block is copied.
function whyNotIncremental(
  disks: readonly FailbackDisk[],
  infos: readonly { readonly standby: ImageInfo; readonly original: ImageInfo }[],
): string | undefined {
  for (const [i, disk] of disks.entries()) {
    if (disk.standby !== disk.point.path) return `the standby started from an older point (on ${disk.standby})`;
    if (!disk.point.changeId) return `point ${disk.point.pointId} recorded no checkpoint for disk ${disk.key}`;
    const why =
      bitmapUnusable(infos[i]!.standby, FAILBACK_BITMAP, disk.standby) ??
      bitmapUnusable(infos[i]!.original, disk.point.changeId, disk.original);
    if (why !== undefined) return why;
  }
  return undefined;
}

function sameHost(a: NodeHost, b: NodeHost): boolean {
  return a.id === b.id;
}
