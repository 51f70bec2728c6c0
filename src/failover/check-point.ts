// Before a failover (real or --test) starts a point (docs/replication.md#digests): its layer and the
// layers under it in its chain are read on the replica node and compared with their digests. A
// difference refuses the failover (exit 1) unless --force, which starts it anyway after a warning.
// Layers made before replicas had digests are named, not refused.

import { SendenseError } from '../errors.js';
import type { NodeHost } from '../node/node.js';
import { completePoints } from '../replica/replica-points.js';
import { failedOverLayers, verifyCurrentPoints } from '../replica/verify-points.js';
import type { ReplicaPoint, Store } from '../store/index.js';

export interface PointCheckOutcome {
  /** Layers made before replicas had digests, not checked. */
  readonly notes: readonly string[];
  /** The damage --force starts anyway. */
  readonly warning?: string;
}

// Throws when refused.
export async function checkFailoverPoint(
  store: Store,
  node: NodeHost,
  point: ReplicaPoint,
  force: boolean,
): Promise<PointCheckOutcome> {
  // The point's backing chain: the complete points of its chain up to it (folded ones live in them).
  const chain = (points: readonly ReplicaPoint[]) =>
    points
      .slice(0, points.findIndex((candidate) => candidate.id === point.id) + 1)
      .filter((candidate) => candidate.chainId === point.chainId);
  // A failed-over domain's layers are its own (the failover then refuses by itself, with why).
  const skip = await failedOverLayers(store, point.plan, await completePoints(store, point.plan));
  const checks = await verifyCurrentPoints(store, point.plan, node, chain, { skip });
  const notes: string[] = [];
  const without = checks.filter((check) => check.state === 'no-digests');
  if (without.length > 0)
    notes.push(
      `not checked, made before replicas had digests: ${without.map((check) => `point ${check.pointId} disk ${check.diskKey}`).join(', ')}`,
    );
  const damaged = checks.filter((check) => check.state === 'damaged');
  if (damaged.length === 0) return { notes };
  const what = damaged
    .map((check) => `point ${check.pointId} disk ${check.diskKey}: ${check.findings[0]?.message ?? 'damaged'}`)
    .join('; ');
  if (!force) {
    throw new SendenseError(
      `point ${point.id} differs from the digests its syncs recorded (${what}): nothing started; choose another point (--point, sendense-run replicas --verify lists them) or start it anyway with --force`,
      { exitCode: 1 },
    );
  }
  return {
    notes,
    warning: `--force: starting point ${point.id} although it differs from the digests its syncs recorded: ${what}`,
  };
}
