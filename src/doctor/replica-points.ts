// What a killed sync of a replicate plan left (docs/replication.md#crash-safety), as its run recorded
// it (node resource 'replica-point', on the replica node): a sync written whole is installed, one
// that was not is removed, a fold is finished; the replica is then at a complete point again. A
// failed sync's bitmap on a qemu source of this host goes too (a libvirt checkpoint is its own record).

import { bitmapRemove, listBitmaps } from '../qemu/index.js';
import { bitmapName } from '../repository/layout.js';
import { finishUnfinishedPoints } from '../replica/replica-points.js';
import { LOCAL_NODE_ID, type NodeHost } from '../node/node.js';
import type { NodeResource, ReplicaPoint, Store } from '../store/index.js';
import { sourceCan } from '../source/source-types.js';
import type { DoctorContext } from './sweeper.js';

export const REPLICA_POINT_RESOURCE = 'replica-point';

/** What a sync records of itself on the replica node before it touches it. */
export interface ReplicaPointFacts {
  readonly plan: string;
  readonly sourceType: string;
}

export async function finishReplicaPoints(
  doctor: DoctorContext,
  host: NodeHost,
  resource: NodeResource,
): Promise<void> {
  const { plan, sourceType } = resource.facts as unknown as ReplicaPointFacts;
  await finishUnfinishedPoints(doctor.store, plan, host, (message) =>
    doctor.report(`replica of plan ${plan}`, message),
  );
  // The run's own sync, failed now (by doctor, or by a later sync that found it dead).
  const failed = (await doctor.store.listReplicaPoints({ plan, statuses: ['failed'] })).filter(
    (point) => point.runId === resource.runId,
  );
  if (sourceCan(sourceType, 'tracksChangesInImageFiles'))
    for (const point of failed) await removeFailedBitmaps(doctor, point);
  await doctor.store.forgetNodeResource(resource.node, resource.kind, resource.name);
}

// The records of this plan's syncs on `node` whose runs have ended (an earlier version kept a
// failed sync's): its next sync, which has just finished whatever they left, forgets them. A run
// still marked running is left to doctor, which also removes a killed sync's bitmap.
export async function forgetEndedSyncRecords(store: Store, plan: string, node: string): Promise<void> {
  for (const resource of await store.allNodeResources()) {
    if (
      resource.kind !== REPLICA_POINT_RESOURCE ||
      resource.node !== node ||
      (resource.facts as unknown as ReplicaPointFacts).plan !== plan
    )
      continue;
    if ((await store.getRun(resource.runId))?.status === 'running') continue;
    await store.forgetNodeResource(resource.node, resource.kind, resource.name);
  }
}

// The bitmap a failed sync added to its qemu source images (only on this host: a node's is reported).
async function removeFailedBitmaps(doctor: DoctorContext, point: ReplicaPoint): Promise<void> {
  const name = bitmapName(point.chainId, point.id);
  for (const disk of point.disks) {
    if (point.sourceNode !== LOCAL_NODE_ID) {
      doctor.report(
        `bitmap ${name} on ${disk.source} (${point.sourceNode})`,
        `remove it there: qemu-img bitmap --remove ${disk.source} ${name}`,
      );
      continue;
    }
    const exec = (argv: readonly string[]) => doctor.local.exec(argv);
    const present = await listBitmaps(disk.source, exec).catch(() => []);
    if (present.some((bitmap) => bitmap.name === name))
      await doctor.act(`bitmap ${name} of failed sync ${point.id} on ${disk.source}`, 'remove it', () =>
        bitmapRemove(disk.source, name, exec),
      );
  }
}
