// A failback (docs/replication.md#failback): the planned switch from the failed-over standby back
// to the original. The standby asked to shut down and waited for; then phases, each recorded
// before it starts (./failback-record.ts): the original's disks made equal to the standby's, only what
// either side wrote since the failover's point when both bitmaps say so, else every block; then
// the point the standby wrote into gets its digests anew, the standby's failback bitmaps (or its
// overlays) go, the original starts and the failover is forgotten, so the plan's syncs go on from
// the point's checkpoint. A run killed anywhere is taken over by the next failback from its phase.
// The original starts only while the standby is shut off; nothing here ever stops a domain by force.

import { crashPoint } from '../crash-points.js';
import { SendenseError } from '../errors.js';
import { parseDomainXml } from '../libvirt/domain-xml.js';
import { replaceDiskImages } from '../libvirt/recovered-domain-xml.js';
import { virshMessage, virshOn, type NodeExec, type Virsh } from '../libvirt/virsh.js';
import { createLocalNode } from '../node/local.js';
import type { NodeHost } from '../node/node.js';
import { isLibvirtDomainSource } from '../source/source-types.js';
import { imageInfoWith } from '../qemu/image-info.js';
import { rewriteLayerManifest } from '../replica/layer-digests.js';
import { removeLayers } from '../replica/replica-files.js';
import { isReplicaImage } from '../replica/replica-layout.js';
import { execOn, openReplicaNode } from '../replica/replica-node.js';
import type { ReplicaFailover, ReplicaPoint } from '../store/index.js';
import { domainState } from './domain-state.js';
import { copyToOriginal, type CopiedBack } from './failback-copy.js';
import { dropFailbackBitmap } from './failback-bitmap.js';
import { findFailback, forgetFailback, recordFailback, type FailbackPhase } from './failback-record.js';
import type { FailbackRequest, FailedBack, FailbackDisk, FailbackSides } from './failback-types.js';
export type { FailbackRequest, FailedBack, FailbackDisk, FailbackSides } from './failback-types.js';

export async function failBack(request: FailbackRequest): Promise<FailedBack> {
  const { store, plan } = request;
  const source = plan.vm.source;
  if (!isLibvirtDomainSource(source)) throw new SendenseError(`failback needs a libvirt source`, { exitCode: 2 });
  const failover = await store.replicaFailover(plan.name);
  if (failover === undefined)
    throw new SendenseError(
      `plan ${plan.name} is not failed over: there is nothing to fail back (sendense-run replicas shows its replica)`,
    );
  const point = await store.getReplicaPoint(failover.pointId);
  if (point === undefined)
    throw new SendenseError(
      `the failover's point ${failover.pointId} of plan ${plan.name} is not in the state database`,
    );
  const replicaNode = await openReplicaNode(plan);
  let sourceNode: NodeHost | undefined;
  try {
    sourceNode =
      plan.node === undefined ? createLocalNode() : await (await import('../node/ssh.js')).connectSshNode(plan.node);
    return await failBackOn(request, failover, point, replicaNode, sourceNode);
  } finally {
    await sourceNode?.close();
    await replicaNode.close();
  }
}

async function failBackOn(
  request: FailbackRequest,
  failover: ReplicaFailover,
  point: ReplicaPoint,
  replicaNode: NodeHost,
  sourceNode: NodeHost,
): Promise<FailedBack> {
  const { store, plan, runId } = request;
  const sides = sidesOf(request, failover, replicaNode, sourceNode);
  const { standbyVirsh, originalVirsh, standby, original } = sides;
  const record = (phase: FailbackPhase) =>
    recordFailback(store, runId, replicaNode.id, {
      plan: plan.name,
      planFile: plan.origin.file,
      phase,
      standby,
      original,
      nodeSpec: plan.replica.node ?? null,
    });
  const earlier = await findFailback(store, plan.name);
  if (earlier !== undefined)
    request.say(`taking over the failback of run ${earlier.runId}, stopped at phase ${earlier.facts.phase}`);
  const copied = await checkDomains(sides, earlier?.facts.phase);
  const disks = await failbackDisks(point, standbyVirsh, standby, originalVirsh, original, {
    standby: sides.standbyExec,
    original: sides.originalExec,
  });
  const { copy, whyFull, bytesWritten }: CopiedBack = copied
    ? { copy: 'none', bytesWritten: 0 }
    : await copyToOriginal(sides, disks, record);
  await retireStandbyDisks(request, point, disks, replicaNode, standbyVirsh, standby);
  const alreadyRunning = await startOriginal(sides);
  crashPoint('failback.original-started');
  await store.forgetReplicaFailover(plan.name);
  await forgetFailback(store, replicaNode.id, plan.name);
  return {
    domain: original,
    node: sourceNode.description,
    standby,
    standbyNode: replicaNode.description,
    pointId: point.id,
    copy,
    ...(whyFull === undefined ? {} : { whyFull }),
    bytesWritten,
    alreadyRunning,
  };
}

function sidesOf(
  request: FailbackRequest,
  failover: ReplicaFailover,
  replicaNode: NodeHost,
  sourceNode: NodeHost,
): FailbackSides {
  const { plan } = request;
  const source = plan.vm.source as FailbackSides['source'];
  const standbyExec = execOn(replicaNode);
  const originalExec = execOn(sourceNode);
  return {
    request,
    source,
    replicaNode,
    sourceNode,
    standbyExec,
    originalExec,
    standbyVirsh: virshOn(standbyExec, plan.replica.uri),
    originalVirsh: virshOn(originalExec, source.uri),
    standby: failover.domain,
    original: source.domain,
  };
}

// Both domains defined, the original shut off unless a killed failback had copied everything
// already (then it may run); true in that case: nothing is copied again.
async function checkDomains(sides: FailbackSides, earlierPhase: FailbackPhase | undefined): Promise<boolean> {
  const { originalVirsh, standbyVirsh, original, standby, sourceNode, replicaNode } = sides;
  const originalState = await domainState(originalVirsh, original);
  if (originalState === undefined)
    throw new SendenseError(
      `the original domain ${original} is not defined on ${sourceNode.description}: define it there with its disks first (at their paths, of their sizes: a failback then copies every block)`,
    );
  const standbyState = await domainState(standbyVirsh, standby);
  if (standbyState === undefined)
    throw new SendenseError(
      `the failed-over domain ${standby} is gone from ${replicaNode.description}: nothing to copy back`,
    );
  const copied = earlierPhase === 'copied' && standbyState === 'shut off';
  if (originalState !== 'shut off' && !copied)
    throw new SendenseError(
      `the original domain ${original} on ${sourceNode.description} is ${originalState}: a failback would write under it while ${standby} runs production; shut ${original} down first (its changes since the failover are given up for ${standby}'s)`,
      { refusedStart: true },
    );
  return copied;
}

// The original started unless it runs already (true then), once the standby is seen shut off.
async function startOriginal(sides: FailbackSides): Promise<boolean> {
  const { standbyVirsh, originalVirsh, standby, original, sourceNode, replicaNode } = sides;
  // Checked again right before the start: never two domains writing one VM's data.
  const standbyNow = await domainState(standbyVirsh, standby);
  if (standbyNow !== 'shut off' && standbyNow !== undefined)
    throw new SendenseError(
      `${standby} on ${replicaNode.description} is ${standbyNow} again: ${original} is not started; shut ${standby} down and run failback again`,
    );
  const alreadyRunning = (await domainState(originalVirsh, original)) !== 'shut off';
  if (!alreadyRunning) {
    const started = await originalVirsh.attempt(['start', original]);
    if (started.exitCode !== 0)
      throw new SendenseError(
        `cannot start ${original} on ${sourceNode.description}: ${virshMessage(started)}; its disks equal ${standby}'s: start it yourself, then run failback again to resume the syncs`,
      );
  }
  return alreadyRunning;
}

// Each disk of the failover's point: the standby's image now, the original's image (the point's source).
async function failbackDisks(
  point: ReplicaPoint,
  standbyVirsh: Virsh,
  standby: string,
  originalVirsh: Virsh,
  original: string,
  exec: { readonly standby: NodeExec; readonly original: NodeExec },
): Promise<FailbackDisk[]> {
  const standbyDisks = parseDomainXml(
    await standbyVirsh.run(['dumpxml', '--inactive', standby], `read the definition of ${standby}`),
  ).disks;
  const originalDisks = parseDomainXml(
    await originalVirsh.run(['dumpxml', '--inactive', original], `read the definition of ${original}`),
  ).disks;
  const disks: FailbackDisk[] = [];
  for (const disk of point.disks) {
    const image = standbyDisks.find((each) => each.path !== undefined && isReplicaImage(each.path, disk.path))?.path;
    if (image === undefined)
      throw new SendenseError(
        `${standby} has no disk on ${disk.path} (disk ${disk.diskKey}): it is not this replica's domain`,
      );
    const at = originalDisks.find((each) => each.path === disk.source);
    if (at === undefined)
      throw new SendenseError(
        `${original} has no disk ${disk.source} (disk ${disk.diskKey} of point ${point.id}): give it back its disks first`,
      );
    // -U: the original may run already (a failback that was stopped after starting it).
    const format = (await imageInfoWith(exec.original, disk.source, { forceShare: true })).format;
    if (format !== 'qcow2' && format !== 'raw')
      throw new SendenseError(`${disk.source} is a ${format} image: a failback writes qcow2 or raw`);
    disks.push({ key: disk.diskKey, standby: image, original: disk.source, originalFormat: format, point: disk });
  }
  return disks;
}

// The standby's disks back to a replica: on the newest point, its layer's digests written anew (the
// standby wrote into it) and its failback bitmap gone; on overlays, the domain back on replica.path
// and the overlays removed (the original holds their data now). Each done again is a no-op.
async function retireStandbyDisks(
  request: FailbackRequest,
  point: ReplicaPoint,
  disks: readonly FailbackDisk[],
  replicaNode: NodeHost,
  virsh: Virsh,
  standby: string,
): Promise<void> {
  const exec = execOn(replicaNode);
  const overlays = disks.filter((disk) => disk.standby !== disk.point.path);
  for (const disk of disks.filter((each) => each.standby === each.point.path)) {
    await rewriteLayerManifest(replicaNode, disk.point.layer, {
      plan: request.plan.name,
      vm: request.plan.vm.name,
      pointId: point.id,
      diskKey: disk.key,
    });
    await dropFailbackBitmap(exec, disk.standby);
  }
  if (overlays.length === 0) return;
  const current = await virsh.run(['dumpxml', '--inactive', standby], `read the definition of ${standby}`);
  const moves = new Map<string, string>();
  for (const found of parseDomainXml(current).disks) {
    const disk = overlays.find((each) => each.standby === found.path);
    if (disk !== undefined) moves.set(found.target, disk.point.path);
  }
  await virsh.runWithXml(
    ['define', '--file'],
    replaceDiskImages(current, moves),
    `put ${standby} back on replica.path`,
  );
  await removeLayers(
    exec,
    overlays.map((disk) => disk.standby),
  );
}
