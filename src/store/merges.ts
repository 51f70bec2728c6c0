// Retention merges in the store: the intent recorded before a merge touches a file, and the one
// transaction that makes the child stand where its parent stood and forgets the parent.

import { sql, type Kysely } from 'kysely';
import { dialectOf } from './dialect.js';
import { newId, nowIso } from './new-id.js';
import type { DroppedPoint, MergeRecord, RunFile } from './records.js';
import type { StoreDatabase } from './schema.js';

type Db = Kysely<StoreDatabase>;

export async function recordMerge(
  db: Db,
  merge: Pick<MergeRecord, 'vm' | 'parentId' | 'childId' | 'runId'>,
): Promise<MergeRecord> {
  const row = {
    id: newId(),
    vm: merge.vm,
    parent_id: merge.parentId,
    child_id: merge.childId,
    phase: 'planned',
    run_id: merge.runId,
    since: nowIso(),
  };
  await durably(db, () => db.insertInto('merges').values(row).execute());
  return toMerge(row);
}

export async function setMergePhase(db: Db, id: string, phase: MergeRecord['phase']): Promise<void> {
  await durably(db, () => db.updateTable('merges').set({ phase }).where('id', '=', id).execute());
}

// The intent must be on disk before the files change, also after a power loss.
async function durably(db: Db, write: () => Promise<unknown>): Promise<void> {
  await dialectOf(db).durably(db, write);
}

export async function forgetMerge(db: Db, id: string): Promise<void> {
  await db.deleteFrom('merges').where('id', '=', id).execute();
}

export async function listMerges(db: Db, filter: { readonly vm?: string } = {}): Promise<readonly MergeRecord[]> {
  let query = db.selectFrom('merges').selectAll().orderBy('since').orderBy('id');
  if (filter.vm !== undefined) query = query.where('vm', '=', filter.vm);
  return (await query.execute()).map(toMerge);
}

// After the files: the child takes the parent's place (its parent, and its type when the parent
// was the full; not verified since), anything else on the parent (failed records) too, then the parent's records go
// and the intent with them. `childId` null: the parent was the newest of its chain, just removed.
export async function dropPoint(db: Db, parentId: string, childId: string | null, mergeId?: string): Promise<void> {
  await db.transaction().execute((trx) => dropPointIn(trx, parentId, childId, mergeId));
}

// A point removed whole (the newest of an older chain): its records go first, durably, and its
// files are noted as the run's in the same transaction, so it is never complete without its files;
// the run deletes them next, doctor's run-files sweep if the run dies first (docs/how-it-works.md#retention).
export async function removePoint(
  db: Db,
  backupId: string,
  files: Pick<RunFile, 'runId' | 'node' | 'kind'> & { readonly paths: readonly string[] },
): Promise<void> {
  await durably(db, () =>
    db.transaction().execute(async (trx) => {
      await dropPointIn(trx, backupId, null);
      const since = nowIso();
      for (const path of files.paths)
        await trx
          .insertInto('run_files')
          .values({ run_id: files.runId, node: files.node, path, kind: files.kind, since })
          .execute();
    }),
  );
}

async function dropPointIn(trx: Db, parentId: string, childId: string | null, mergeId?: string): Promise<void> {
  const parent = await trx.selectFrom('backups').selectAll().where('id', '=', parentId).executeTakeFirstOrThrow();
  if (childId !== null) {
    // Bytes copied into the child's file over time, as its merged manifest counts them.
    const bytes = sql<number | null>`case when bytes is null then null else bytes + ${parent.bytes ?? 0} end`;
    // Its file is now another one (the parent's, with its clusters): an earlier verify no longer speaks for it.
    await trx
      .updateTable('backups')
      .set({ parent_id: parent.parent_id, type: parent.type, bytes, verified_at: null })
      .where('id', '=', childId)
      .execute();
    for (const disk of await trx
      .selectFrom('backup_disks')
      .select(['disk_key', 'bytes'])
      .where('backup_id', '=', parentId)
      .execute()) {
      await trx
        .updateTable('backup_disks')
        .set({
          bytes: sql<number | null>`case when bytes is null then null else bytes + ${disk.bytes ?? 0} end`,
          // Its file took the parent's clusters: read again (the merge records it next, a listing if it died first).
          facts_at: null,
        })
        .where('backup_id', '=', childId)
        .where('disk_key', '=', disk.disk_key)
        .execute();
    }
  }
  await trx.updateTable('backups').set({ parent_id: parent.parent_id }).where('parent_id', '=', parentId).execute();
  await trx.deleteFrom('backup_disks').where('backup_id', '=', parentId).execute();
  await trx.deleteFrom('backups').where('id', '=', parentId).execute();
  await recordDroppedPoint(trx, parentId, childId);
  if (mergeId !== undefined) await trx.deleteFrom('merges').where('id', '=', mergeId).execute();
}

// A point's fate, kept apart from the run that made it (docs/commands.md#history).
export async function recordDroppedPoint(db: Db, backupId: string, mergedInto: string | null): Promise<void> {
  await db
    .insertInto('dropped_points')
    .values({ backup_id: backupId, merged_into: mergedInto, dropped_at: nowIso() })
    .execute();
}

export async function droppedPoints(db: Db, backupIds: readonly string[]): Promise<readonly DroppedPoint[]> {
  if (backupIds.length === 0) return [];
  const rows = await db.selectFrom('dropped_points').selectAll().where('backup_id', 'in', backupIds).execute();
  return rows.map((row) =>
    Object.freeze({ backupId: row.backup_id, mergedInto: row.merged_into, droppedAt: row.dropped_at }),
  );
}

function toMerge(row: StoreDatabase['merges']): MergeRecord {
  return Object.freeze({
    id: row.id,
    vm: row.vm,
    parentId: row.parent_id,
    childId: row.child_id,
    phase: row.phase as MergeRecord['phase'],
    runId: row.run_id,
    since: row.since,
  });
}
