// Replica points (see migrations/012-replica-points.ts): the layers each sync of a `replicate`
// plan writes on its replica node, and the failover a plan may be in. Only complete points are
// parents or the replica's newest point.

import type { Kysely, Selectable } from 'kysely';
import type { DiskKey } from '../plan/types.js';
import { dialectOf } from './dialect.js';
import { nowIso } from './new-id.js';
import type { BackupType, ReplicaFailover, ReplicaPoint, ReplicaPointDisk, ReplicaPointStatus } from './records.js';
import type { ReplicaPointDisksTable, ReplicaPointsTable, StoreDatabase } from './schema.js';
import type { NewReplicaPoint, NewReplicaPointDisk } from './store.js';

type Db = Kysely<StoreDatabase>;

// Where each status may go; staying is allowed too (to add facts). folding → complete: a fold given up before any layer changed.
const NEXT: Readonly<Record<ReplicaPointStatus, readonly ReplicaPointStatus[]>> = Object.freeze({
  running: ['installing', 'complete', 'failed'],
  installing: ['complete', 'failed'],
  complete: ['folding'],
  folding: ['folded', 'complete'],
  failed: [],
  folded: [],
});

// Statuses that need every disk written.
const WRITTEN: readonly ReplicaPointStatus[] = ['installing', 'complete'];

function toDisk(row: Selectable<ReplicaPointDisksTable>): ReplicaPointDisk {
  return Object.freeze({
    pointId: row.point_id,
    diskKey: row.disk_key,
    path: row.path,
    layer: row.layer,
    virtualSize: row.virtual_size,
    changeId: row.change_id,
    bytes: row.bytes,
    source: row.source,
  });
}

function toPoint(row: Selectable<ReplicaPointsTable>, disks: readonly ReplicaPointDisk[]): ReplicaPoint {
  return Object.freeze({
    id: row.id,
    plan: row.plan,
    vm: row.vm,
    type: row.type as BackupType,
    chainId: row.chain_id,
    parentId: row.parent_id,
    status: row.status as ReplicaPointStatus,
    runId: row.run_id,
    sourceNode: row.source_node,
    replicaNode: row.replica_node,
    startedAt: row.started_at,
    takenAt: row.taken_at,
    completedAt: row.completed_at,
    bytes: row.bytes,
    definition: row.definition,
    disks: Object.freeze(disks.filter((disk) => disk.pointId === row.id)),
  });
}

// The points of these rows, each with its disks.
async function withDisks(db: Db, rows: readonly Selectable<ReplicaPointsTable>[]): Promise<readonly ReplicaPoint[]> {
  if (rows.length === 0) return Object.freeze([]);
  const ids = rows.map((row) => row.id);
  const disks = (
    await db.selectFrom('replica_point_disks').selectAll().where('point_id', 'in', ids).orderBy('disk_key').execute()
  ).map(toDisk);
  return Object.freeze(rows.map((row) => toPoint(row, disks)));
}

export async function createReplicaPoint(db: Db, point: NewReplicaPoint): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (point.type === 'incremental') {
      if (point.parentId === undefined) throw new Error(`createReplicaPoint: incremental ${point.id} needs a parent`);
      const parent = await trx
        .selectFrom('replica_points')
        .select(['plan', 'chain_id', 'status'])
        .where('id', '=', point.parentId)
        .executeTakeFirst();
      if (
        parent === undefined ||
        parent.status !== 'complete' ||
        parent.plan !== point.plan ||
        parent.chain_id !== point.chainId
      ) {
        throw new Error(
          `createReplicaPoint: parent ${point.parentId} is not a complete point of plan ${point.plan} in chain ${point.chainId}`,
        );
      }
    } else if (point.parentId !== undefined) {
      throw new Error(`createReplicaPoint: full point ${point.id} cannot have a parent`);
    }
    await trx
      .insertInto('replica_points')
      .values({
        id: point.id,
        plan: point.plan,
        vm: point.vm,
        type: point.type,
        chain_id: point.chainId,
        parent_id: point.parentId ?? null,
        status: 'running',
        run_id: point.runId,
        source_node: point.sourceNode,
        replica_node: point.replicaNode,
        started_at: nowIso(),
        seq: dialectOf(trx).nextReplicaPointSeq(),
      })
      .execute();
  });
}

export async function addReplicaPointDisk(db: Db, pointId: string, disk: NewReplicaPointDisk): Promise<void> {
  await db
    .insertInto('replica_point_disks')
    .values({
      point_id: pointId,
      disk_key: disk.diskKey,
      path: disk.path,
      layer: disk.layer,
      virtual_size: disk.virtualSize,
      source: disk.source,
    })
    .execute();
}

export async function replicaPointTaken(db: Db, pointId: string, takenAt: string): Promise<void> {
  const updated = await db
    .updateTable('replica_points')
    .set({ taken_at: takenAt })
    .where('id', '=', pointId)
    .executeTakeFirst();
  if (updated.numUpdatedRows === 0n) throw new Error(`replicaPointTaken: no replica point ${pointId}`);
}

export async function completeReplicaPointDisk(
  db: Db,
  pointId: string,
  diskKey: DiskKey,
  facts: { readonly changeId: string | null; readonly bytes: number },
): Promise<void> {
  const updated = await db
    .updateTable('replica_point_disks')
    .set({ change_id: facts.changeId, bytes: facts.bytes })
    .where('point_id', '=', pointId)
    .where('disk_key', '=', diskKey)
    .executeTakeFirst();
  if (updated.numUpdatedRows === 0n)
    throw new Error(`completeReplicaPointDisk: replica point ${pointId} has no disk ${diskKey}`);
}

export async function setReplicaPointStatus(
  db: Db,
  pointId: string,
  status: ReplicaPointStatus,
  facts: { readonly bytes?: number; readonly definition?: string | null } = {},
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const point = await trx
      .selectFrom('replica_points')
      .select(['status', 'bytes', 'completed_at'])
      .where('id', '=', pointId)
      .executeTakeFirst();
    if (point === undefined) throw new Error(`setReplicaPointStatus: no replica point ${pointId}`);
    const from = point.status as ReplicaPointStatus;
    if (from !== status && !NEXT[from].includes(status))
      throw new Error(`setReplicaPointStatus: replica point ${pointId} cannot go from ${from} to ${status}`);
    let bytes = facts.bytes ?? point.bytes;
    if (WRITTEN.includes(status)) {
      const disks = await trx
        .selectFrom('replica_point_disks')
        .select(['disk_key', 'bytes'])
        .where('point_id', '=', pointId)
        .orderBy('disk_key')
        .execute();
      const unfinished = disks.filter((disk) => disk.bytes === null).map((disk) => disk.disk_key);
      if (disks.length === 0 || unfinished.length > 0) {
        throw new Error(
          `setReplicaPointStatus: replica point ${pointId} has ${disks.length === 0 ? 'no disks' : `incomplete disks ${unfinished.join(', ')}`}`,
        );
      }
      bytes ??= disks.reduce((sum, disk) => sum + (disk.bytes ?? 0), 0);
    }
    await trx
      .updateTable('replica_points')
      .set({
        status,
        bytes,
        ...(status === 'complete' ? { completed_at: point.completed_at ?? nowIso() } : {}),
        ...(facts.definition === undefined ? {} : { definition: facts.definition }),
      })
      .where('id', '=', pointId)
      .execute();
  });
}

export async function getReplicaPoint(db: Db, id: string): Promise<ReplicaPoint | undefined> {
  return (await withDisks(db, await db.selectFrom('replica_points').selectAll().where('id', '=', id).execute()))[0];
}

export async function listReplicaPoints(
  db: Db,
  filter: { readonly plan?: string; readonly statuses?: readonly ReplicaPointStatus[] } = {},
): Promise<readonly ReplicaPoint[]> {
  // Recording order, never the times: a clock set back stamps a newer point older (019).
  let query = db.selectFrom('replica_points').selectAll().orderBy('seq');
  if (filter.plan !== undefined) query = query.where('plan', '=', filter.plan);
  if (filter.statuses !== undefined) {
    if (filter.statuses.length === 0) return Object.freeze([]);
    query = query.where('status', 'in', filter.statuses);
  }
  return withDisks(db, await query.execute());
}

export async function latestCompleteReplicaPoint(db: Db, plan: string): Promise<ReplicaPoint | undefined> {
  const query = db
    .selectFrom('replica_points')
    .selectAll()
    .where('plan', '=', plan)
    .where('status', '=', 'complete')
    .orderBy('seq', 'desc')
    .limit(1);
  return (await withDisks(db, await query.execute()))[0];
}

export async function recordReplicaFailover(db: Db, failover: Omit<ReplicaFailover, 'at'>): Promise<void> {
  const current = await replicaFailover(db, failover.plan);
  if (current !== undefined)
    throw new Error(
      `recordReplicaFailover: plan ${failover.plan} is failed over already (to ${current.domain} on ${current.node}, point ${current.pointId})`,
    );
  // On disk at its commit, also after a power loss: a sync must never write over a replica the VM now runs from.
  await dialectOf(db).durably(db, () =>
    db
      .insertInto('replica_failovers')
      .values({
        plan: failover.plan,
        point_id: failover.pointId,
        run_id: failover.runId,
        domain: failover.domain,
        node: failover.node,
        at: nowIso(),
      })
      .execute(),
  );
}

export async function replicaFailover(db: Db, plan: string): Promise<ReplicaFailover | undefined> {
  const row = await db.selectFrom('replica_failovers').selectAll().where('plan', '=', plan).executeTakeFirst();
  if (row === undefined) return undefined;
  return Object.freeze({
    plan: row.plan,
    pointId: row.point_id,
    runId: row.run_id,
    domain: row.domain,
    node: row.node,
    at: row.at,
  });
}

export async function forgetReplicaFailover(db: Db, plan: string): Promise<void> {
  await db.deleteFrom('replica_failovers').where('plan', '=', plan).execute();
}
