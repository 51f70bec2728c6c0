// resolve-point of a drill of a replica's point (docs/drills.md#a-replicas-point): the replicate
// plan's newest complete point (or the one drill.point names), on the node this drill runs on, with
// the definition its sync stored; not one the failed-over replica domain writes into. Each disk's
// file is the point's own layer on the node, whose backing chain holds the older points.

import { SendenseError } from '../../errors.js';
import { writtenPoint } from '../../failover/failover-test.js';
import { completePoints } from '../../replica/replica-points.js';
import type { ReplicaPoint } from '../../store/index.js';
import type { DrillDisk, DrillRun } from './drill-run.js';

export interface ReplicaDrillPoint {
  readonly point: ReplicaPoint;
  readonly disks: readonly Omit<DrillDisk, 'overlay'>[];
  readonly storedXml: string;
}

export async function resolveReplicaPoint(run: DrillRun, replica: string): Promise<ReplicaDrillPoint> {
  const { plan } = run;
  const points = await completePoints(run.store, replica);
  if (points.length === 0)
    fail(
      `drill.replica: no replicate plan ${replica} has a complete replica point in this state database (no such plan, or none of its syncs has completed yet): there is nothing to drill`,
    );
  const wanted = plan.drill.point;
  const point =
    wanted.type === 'latest' || wanted.type === 'new'
      ? points[points.length - 1]!
      : points.find((candidate) => wanted.type === 'id' && candidate.id === wanted.id);
  if (point === undefined)
    fail(
      `drill.point ${describe(wanted)} is not a complete point of replicate plan ${replica}; its points, newest first: ${[
        ...points,
      ]
        .reverse()
        .map((candidate) => candidate.id)
        .join(', ')}`,
    );
  if (point.vm !== plan.vm.name)
    fail(`replicate plan ${replica} replicates VM ${point.vm}, not ${plan.vm.name}: set vm.name to ${point.vm}`);
  if (point.replicaNode !== run.node.id)
    fail(
      `the replica of plan ${replica} is on ${point.replicaNode}, and this drill runs on ${run.node.id}: a replica's point is drilled on its node (give the drill plan that node)`,
    );
  const written = await writtenPoint(run.store, replica, point);
  if (written !== undefined) fail(`${written}, so it cannot be drilled; drill an older point (drill.point)`);
  if (point.definition === null)
    fail(
      `point ${point.id} of replicate plan ${replica} has no domain XML stored with it (its source was not libvirt): a drill starts the point as it was defined, so it cannot drill this point`,
    );
  return {
    point,
    storedXml: point.definition,
    disks: point.disks.map((disk) => ({
      key: disk.diskKey,
      file: disk.layer,
      exportName: '',
      source: disk.source,
      virtualSize: disk.virtualSize,
    })),
  };
}

function describe(point: DrillRun['plan']['drill']['point']): string {
  return point.type === 'id' ? point.id : point.type;
}

function fail(message: string): never {
  throw new SendenseError(message, { step: 'resolve-point' });
}
