// The replica's points as the state database knows them, and the work that moves them along on the
// replica node (docs/replication.md#crash-safety): a sync killed before it installed its point is
// removed, one killed while installing is finished, a fold under way is finished. A sync does this
// first (it holds the VM's lock, so whatever it finds belongs to a dead run); doctor does it too.

import type { NodeHost } from '../node/node.js';
import type { ReplicaPoint, Store } from '../store/index.js';
import { crashPoint } from '../crash-points.js';
import { prepareFoldedManifest } from './fold-manifest.js';
import { foldLayer, installLayer, removeLayers } from './replica-files.js';
import { execOn } from './replica-node.js';

export type Say = (message: string) => void;

// The complete points of a plan, oldest first.
export async function completePoints(store: Store, plan: string): Promise<readonly ReplicaPoint[]> {
  return store.listReplicaPoints({ plan, statuses: ['complete'] });
}

// When the point's source was as the replica has it (its snapshot), else when its sync began.
export function pointTime(point: ReplicaPoint): string {
  return point.takenAt ?? point.startedAt;
}

// Finishes what dead syncs of this plan left on the replica node.
export async function finishUnfinishedPoints(store: Store, plan: string, node: NodeHost, say: Say): Promise<void> {
  const exec = execOn(node);
  const unfinished = await store.listReplicaPoints({ plan, statuses: ['running', 'installing', 'folding'] });
  for (const point of unfinished) {
    if (point.status === 'running') {
      await removeLayers(
        exec,
        point.disks.map((disk) => disk.layer),
      );
      await store.setReplicaPointStatus(point.id, 'failed');
      say(
        `sync ${point.id} of ${plan} (run ${point.runId}) never completed: its layers are removed, the replica is at its previous point`,
      );
    } else if (point.status === 'installing') {
      for (const disk of point.disks) await installLayer(exec, disk.layer, disk.path);
      await store.setReplicaPointStatus(point.id, 'complete');
      say(
        `sync ${point.id} of ${plan} (run ${point.runId}) was written whole but not installed: it is now the newest point`,
      );
    } else {
      await foldPoint(store, point, node);
      say(`point ${point.id} of ${plan} was being folded into the next one: the fold is finished`);
    }
  }
}

// Folds the oldest complete points away until `keep` are left. Folding stops at a point in `held`
// (a failover test reads it): the rest waits for a sync after the test, oldest first as always.
export async function foldOldPoints(
  store: Store,
  plan: string,
  keep: number,
  node: NodeHost,
  say: Say,
  held: ReadonlySet<string> = new Set(),
): Promise<number> {
  let folded = 0;
  for (;;) {
    const points = await completePoints(store, plan);
    if (points.length <= keep) return folded;
    const oldest = points[0]!;
    if (held.has(oldest.id)) return folded;
    await store.setReplicaPointStatus(oldest.id, 'folding');
    crashPoint('replica.fold-started');
    const into = await foldPoint(store, oldest, node);
    say(
      into === undefined
        ? `point ${oldest.id} removed (the last of an older chain)`
        : `point ${oldest.id} folded into ${into.id}`,
    );
    folded += 1;
  }
}

// One point (status folding) written into the next point of its chain, or removed when none builds on it.
async function foldPoint(store: Store, point: ReplicaPoint, node: NodeHost): Promise<ReplicaPoint | undefined> {
  const exec = execOn(node);
  const points = await completePoints(store, point.plan);
  const next = points.find((candidate) => candidate.parentId === point.id);
  if (next === undefined) {
    await removeLayers(
      exec,
      point.disks.map((disk) => disk.layer),
    );
  } else {
    const newest = points[points.length - 1]!;
    for (const disk of next.disks) {
      const older = point.disks.find((candidate) => candidate.diskKey === disk.diskKey);
      if (older === undefined) continue;
      await prepareFoldedManifest(node, older.layer, disk.layer);
      crashPoint('replica.fold-manifest-written');
      await foldLayer(exec, older.layer, disk.layer, next.id === newest.id ? disk.path : undefined);
    }
  }
  await store.setReplicaPointStatus(point.id, 'folded');
  return next;
}
