// Replicate plans and their complete points on the replica node, newest first
// (docs/replication.md#listing-the-points): each plan's lag (its newest point's age) and whether it
// is failed over. `replicas --json` prints one per line; GET /api/v1/replicas answers them.

import { Type, type Static } from '@sinclair/typebox';
import { pointAge } from '../failover/failover-point.js';
import { pointTime } from '../replica/replica-points.js';
import type { Store } from '../store/index.js';
import { Nullable } from './schema-types.js';

export const ListReplicasInput = Type.Object(
  { plan: Type.Optional(Type.String({ minLength: 1, description: 'only this plan' })) },
  { additionalProperties: false },
);
export type ListReplicasInput = Static<typeof ListReplicasInput>;

export const ReplicaFailover = Type.Object(
  {
    plan: Type.String(),
    pointId: Type.String(),
    runId: Type.String(),
    domain: Type.String(),
    node: Type.String(),
    at: Type.String(),
  },
  { additionalProperties: false },
);

export const ListedReplica = Type.Object(
  {
    plan: Type.String(),
    vm: Nullable(Type.String()),
    replicaNode: Nullable(Type.String()),
    lagSeconds: Nullable(Type.Number({ description: "the newest point's age" })),
    failover: Nullable(ReplicaFailover),
    points: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          takenAt: Type.String(),
          ageSeconds: Type.Number(),
          type: Type.String(),
          chainId: Type.String(),
          parentId: Nullable(Type.String()),
          bytes: Nullable(Type.Integer()),
          disks: Type.Array(
            Type.Object(
              {
                key: Type.Integer(),
                path: Type.String(),
                layer: Type.String(),
                virtualSize: Type.Integer(),
                bytes: Nullable(Type.Integer()),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
      { description: 'complete points, newest first' },
    ),
  },
  { additionalProperties: false, description: 'a replicate plan as `replicas --json` prints it (docs/json-events.md)' },
);
export type ListedReplica = Static<typeof ListedReplica>;

// Every plan with a point recorded (any status), by name; its complete points newest first.
export async function listReplicas(store: Store, input: ListReplicasInput, now = Date.now()): Promise<ListedReplica[]> {
  const all = await store.listReplicaPoints(input.plan === undefined ? {} : { plan: input.plan });
  const plans = [...new Set(all.map((point) => point.plan))].sort();
  return Promise.all(
    plans.map(async (plan) => {
      const points = all.filter((point) => point.plan === plan && point.status === 'complete').reverse();
      const failover = await store.replicaFailover(plan);
      const newest = points[0];
      return {
        plan,
        vm: newest?.vm ?? null,
        replicaNode: newest?.replicaNode ?? null,
        lagSeconds: newest === undefined ? null : pointAge(newest, now),
        failover: failover ?? null,
        points: points.map((point) => ({
          id: point.id,
          takenAt: pointTime(point),
          ageSeconds: pointAge(point, now),
          type: point.type,
          chainId: point.chainId,
          parentId: point.parentId,
          bytes: point.bytes,
          disks: point.disks.map((disk) => ({
            key: disk.diskKey,
            path: disk.path,
            layer: disk.layer,
            virtualSize: disk.virtualSize,
            bytes: disk.bytes,
          })),
        })),
      };
    }),
  );
}
