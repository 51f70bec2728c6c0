// Which point a failover starts (docs/replication.md#failover): the replica's newest complete
// point, or the one --point names, which must be a complete point of this plan.

import { SendenseError } from '../errors.js';
import { formatDuration } from '../format/duration.js';
import { formatLocalTime } from '../format/local-time.js';
import { completePoints, pointTime } from '../replica/replica-points.js';
import type { ReplicaPoint, Store } from '../store/index.js';

export async function choosePoint(store: Store, plan: string, wanted: string | undefined): Promise<ReplicaPoint> {
  const points = await completePoints(store, plan);
  if (points.length === 0)
    throw new SendenseError(
      `plan ${plan} has no complete replica point yet: there is nothing to start (run a sync of it first)`,
    );
  if (wanted === undefined) return points[points.length - 1]!;
  const point = points.find((candidate) => candidate.id === wanted);
  if (point !== undefined) return point;
  const available = [...points]
    .reverse()
    .map((candidate) => `${candidate.id} (${formatLocalTime(pointTime(candidate))})`);
  throw new SendenseError(
    `--point ${wanted} is not a complete point of plan ${plan}; its points, newest first: ${available.join(', ')}`,
  );
}

// Seconds from the point's time to now.
export function pointAge(point: ReplicaPoint, now = Date.now()): number {
  return Math.max(0, (now - Date.parse(pointTime(point))) / 1000);
}

// "20261122-102453-1861 of 2026-11-22 10:24:53 (0:05:12 ago)"
export function describePoint(point: ReplicaPoint, now = Date.now()): string {
  return `point ${point.id} of ${formatLocalTime(pointTime(point))} (${formatDuration(pointAge(point, now))} ago)`;
}
