// Checks a replica's points on the replica node against their manifests (docs/replication.md#digests):
// each complete point's own layer per disk read there and every range compared with the digests the
// sync's node transfer reported. A layer without a manifest was made before replicas had digests:
// that is said, never judged damage.

import type { LayerFinding } from '../repository/verify-layer.js';
import type { NodeHost } from '../node/node.js';
import type { ReplicaPoint, Store } from '../store/index.js';
import { existingFiles } from './replica-files.js';
import { checkReplicaLayer } from './replica-layer.js';
import { readReplicaManifest, replicaManifestPath } from './replica-manifest.js';
import { execOn } from './replica-node.js';
import { completePoints } from './replica-points.js';

export type LayerState = 'good' | 'damaged' | 'no-digests' | 'skipped';

export interface LayerCheck {
  readonly pointId: string;
  readonly diskKey: number;
  readonly layer: string;
  readonly state: LayerState;
  readonly findings: readonly LayerFinding[];
  readonly bytesRead: number;
  /** Why a layer was not read (skipped). */
  readonly note?: string;
}

// `points` in the order to check them; `skip`: layers not to read, with why (the failed-over domain writes them).
async function verifyReplicaPoints(
  node: NodeHost,
  points: readonly ReplicaPoint[],
  options: { readonly skip?: ReadonlyMap<string, string> } = {},
): Promise<LayerCheck[]> {
  const exec = execOn(node);
  const checks: LayerCheck[] = [];
  const layers = points.flatMap((point) => point.disks.map((disk) => disk.layer));
  const present = await existingFiles(exec, layers);
  for (const point of points) {
    for (const disk of point.disks) {
      const check = await checkOne(
        node,
        point,
        disk.diskKey,
        disk.layer,
        present.has(disk.layer),
        options.skip?.get(disk.layer),
      );
      checks.push(check);
    }
  }
  return checks;
}

// The layers a failover to the newest point runs on (replica.path is its layer): its domain writes them.
export async function failedOverLayers(
  store: Store,
  plan: string,
  points: readonly ReplicaPoint[],
): Promise<Map<string, string>> {
  const skip = new Map<string, string>();
  const failover = await store.replicaFailover(plan);
  const newest = points[points.length - 1];
  if (failover !== undefined && newest !== undefined && failover.pointId === newest.id) {
    for (const disk of newest.disks) skip.set(disk.layer, `failed over: ${failover.domain} writes into it`);
  }
  return skip;
}

// A sync's fold may run during the check (a --test or verify holds no lock) and change a layer under
// it: a difference found while the plan's complete points changed is checked again on the new ones.
export async function verifyCurrentPoints(
  store: Store,
  plan: string,
  node: NodeHost,
  choose: (points: readonly ReplicaPoint[]) => readonly ReplicaPoint[],
  options: { readonly skip?: ReadonlyMap<string, string> } = {},
): Promise<LayerCheck[]> {
  for (let attempt = 1; ; attempt++) {
    const before = await completePoints(store, plan);
    const checks = await verifyReplicaPoints(node, choose(before), options);
    if (attempt === 3 || !checks.some((check) => check.state === 'damaged')) return checks;
    const after = await completePoints(store, plan);
    if (after.map((point) => point.id).join() === before.map((point) => point.id).join()) return checks;
  }
}

async function checkOne(
  node: NodeHost,
  point: ReplicaPoint,
  diskKey: number,
  layer: string,
  present: boolean,
  skip: string | undefined,
): Promise<LayerCheck> {
  const base = { pointId: point.id, diskKey, layer, bytesRead: 0 };
  if (skip !== undefined) return { ...base, state: 'skipped', findings: [], note: skip };
  if (!present)
    return { ...base, state: 'damaged', findings: [{ message: `${layer} is gone from ${node.description}` }] };
  const read = await readReplicaManifest(execOn(node), replicaManifestPath(layer));
  if ('missing' in read) return { ...base, state: 'no-digests', findings: [] };
  if ('problem' in read) return { ...base, state: 'damaged', findings: [{ message: read.problem }] };
  if (read.manifest.pointId !== point.id || read.manifest.diskKey !== diskKey) {
    return {
      ...base,
      state: 'damaged',
      findings: [
        {
          message: `${replicaManifestPath(layer)} is the manifest of point ${read.manifest.pointId} disk ${read.manifest.diskKey}`,
        },
      ],
    };
  }
  let result;
  try {
    result = await checkReplicaLayer(node, layer, read.manifest);
  } catch (error) {
    const message = (error as Error).message;
    // QEMU's image lock: a running VM writes it (qemu-nbd cannot open it read-only beside that writer).
    if (/Failed to get .*lock/.test(message))
      return { ...base, state: 'skipped', findings: [], note: `in use by a running program: ${message}` };
    return { ...base, state: 'damaged', findings: [{ message: `cannot be read: ${message}` }] };
  }
  return {
    ...base,
    state: result.findings.length === 0 ? 'good' : 'damaged',
    findings: result.findings,
    bytesRead: result.bytesRead,
  };
}
