// Backups and their disks: the QCOW2 chains in the repository. Only complete backups are
// parents or restore points (docs/how-it-works.md#what-is-recorded-and-where).

import type { Kysely, Selectable, SelectQueryBuilder } from 'kysely';
import { dialectOf } from './dialect.js';
import type { DiskKey } from '../plan/types.js';
import { recordDroppedPoint } from './merges.js';
import { newId, nowIso } from './new-id.js';
import type {
  Backup,
  BackupDisk,
  BackupStatus,
  BackupType,
  PointFiguresRecord,
  RecordedLayerFacts,
} from './records.js';
import type { BackupDisksTable, BackupsTable, StoreDatabase } from './schema.js';
import type { ImportedBackup, NewBackup, NewBackupDisk } from './store.js';

type Db = Kysely<StoreDatabase>;
type BackupQuery = SelectQueryBuilder<StoreDatabase, 'backups', Selectable<BackupsTable>>;

// Recording order: breaks ties between backups started in the same millisecond.
const insertionOrder = 'backups.seq' as const;
// The next recording position, taken in the insert itself: SQLite has one writer at a time; on
// PostgreSQL concurrent hubs draw from a sequence (009-many-hubs).
function nextSeq(db: Db) {
  return dialectOf(db).nextBackupSeq();
}

function toDisk(row: Selectable<BackupDisksTable>): BackupDisk {
  return Object.freeze({
    backupId: row.backup_id,
    diskKey: row.disk_key,
    file: row.file,
    virtualSize: row.virtual_size,
    changeId: row.change_id,
    bytes: row.bytes,
    status: row.status as BackupStatus,
    source: row.source,
    sourceNode: row.source_node,
    bitmap: row.bitmap,
    manifest: Number(row.manifest) === 1,
    sample:
      row.sampled_blocks === null
        ? null
        : Object.freeze({
            sampledBlocks: Number(row.sampled_blocks),
            incompressibleBlocks: Number(row.incompressible_blocks ?? 0),
          }),
  });
}

function toBackup(row: Selectable<BackupsTable>, disks: readonly BackupDisk[]): Backup {
  return Object.freeze({
    id: row.id,
    vm: row.vm,
    plan: row.plan,
    type: row.type as BackupType,
    chainId: row.chain_id,
    parentId: row.parent_id,
    // A damaged backup keeps status 'complete' in its row (the column's CHECK predates it): damage says it.
    status: (row.damage === null ? row.status : 'damaged') as BackupStatus,
    repository: row.repository,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    bytes: row.bytes,
    runId: row.run_id,
    verifiedAt: row.verified_at,
    damage: row.damage,
    protected: Number(row.protected) === 1,
    suspect: row.suspect,
    suspectClearedBy: row.suspect_cleared_by,
    suspectClearedAt: row.suspect_cleared_at,
    heldBy: row.held_by,
    disks: Object.freeze(disks),
  });
}

// Ids per disks query: SQLite allows 32,766 bound values, PostgreSQL 65,535.
const IDS_PER_QUERY = 5000;

function toFacts(row: Selectable<BackupDisksTable>): RecordedLayerFacts {
  return {
    backupId: row.backup_id,
    diskKey: row.disk_key,
    recordedAt: row.facts_at!,
    onDiskBytes: row.on_disk_bytes === null ? null : Number(row.on_disk_bytes),
    encrypted: Number(row.encrypted) === 1,
    backing: row.backing,
    headerProblem: row.header_problem,
  };
}

// Runs a backups query and attaches each backup's disks (grouped by id: a VM may have 10,000s of
// points); `facts`: what is recorded of each layer is gathered there from the same rows.
async function withDisks(db: Db, query: BackupQuery, facts?: RecordedLayerFacts[]): Promise<readonly Backup[]> {
  const rows = await query.execute();
  if (rows.length === 0) return Object.freeze([]);
  const byBackup = new Map<string, BackupDisk[]>(rows.map((row) => [row.id, []]));
  for (let from = 0; from < rows.length; from += IDS_PER_QUERY) {
    const ids = rows.slice(from, from + IDS_PER_QUERY).map((row) => row.id);
    const disks = await db
      .selectFrom('backup_disks')
      .selectAll()
      .where('backup_id', 'in', ids)
      .orderBy('disk_key')
      .execute();
    for (const disk of disks) {
      byBackup.get(disk.backup_id)!.push(toDisk(disk));
      if (facts !== undefined && disk.facts_at !== null) facts.push(toFacts(disk));
    }
  }
  return Object.freeze(rows.map((row) => toBackup(row, byBackup.get(row.id)!)));
}

function backups(db: Db): BackupQuery {
  return db.selectFrom('backups').selectAll();
}

export async function getBackup(db: Db, id: string): Promise<Backup | undefined> {
  return (await withDisks(db, backups(db).where('id', '=', id)))[0];
}

export async function createBackup(db: Db, backup: NewBackup): Promise<Backup> {
  const id = backup.id ?? newId();
  await db.transaction().execute(async (trx) => {
    let chainId = id;
    if (backup.type === 'incremental') {
      if (backup.parentId === undefined) throw new Error(`createBackup: incremental ${id} needs a parent`);
      const parent = await trx.selectFrom('backups').selectAll().where('id', '=', backup.parentId).executeTakeFirst();
      if (parent === undefined || parent.status !== 'complete' || parent.damage !== null || parent.vm !== backup.vm) {
        throw new Error(`createBackup: parent ${backup.parentId} is not a complete backup of VM ${backup.vm}`);
      }
      chainId = parent.chain_id;
    } else if (backup.parentId !== undefined) {
      throw new Error(`createBackup: full backup ${id} cannot have a parent`);
    }
    await trx
      .insertInto('backups')
      .values({
        id,
        vm: backup.vm,
        plan: backup.plan,
        type: backup.type,
        chain_id: chainId,
        parent_id: backup.parentId ?? null,
        status: 'running',
        repository: backup.repository,
        started_at: nowIso(),
        run_id: backup.runId,
        seq: nextSeq(trx),
      })
      .execute();
    await trx.updateTable('runs').set({ backup_id: id }).where('id', '=', backup.runId).execute();
  });
  return (await getBackup(db, id))!;
}

export async function addBackupDisk(db: Db, backupId: string, disk: NewBackupDisk): Promise<Backup> {
  await db
    .insertInto('backup_disks')
    .values({
      backup_id: backupId,
      disk_key: disk.diskKey,
      file: disk.file,
      virtual_size: disk.virtualSize,
      status: 'running',
      source: disk.source,
      source_node: disk.sourceNode,
      bitmap: disk.bitmap ?? null,
      manifest: 0,
    })
    .execute();
  return (await getBackup(db, backupId))!;
}

export async function completeBackupDisk(
  db: Db,
  backupId: string,
  diskKey: DiskKey,
  result: {
    changeId: string | null;
    bytes: number;
    virtualSize?: number;
    manifest?: boolean;
    sample?: { readonly sampledBlocks: number; readonly incompressibleBlocks: number };
  },
): Promise<void> {
  const updated = await db
    .updateTable('backup_disks')
    .set({
      status: 'complete',
      change_id: result.changeId,
      bytes: result.bytes,
      manifest: result.manifest === true ? 1 : 0,
      ...(result.virtualSize === undefined ? {} : { virtual_size: result.virtualSize }),
      ...(result.sample !== undefined && {
        sampled_blocks: result.sample.sampledBlocks,
        incompressible_blocks: result.sample.incompressibleBlocks,
      }),
    })
    .where('backup_id', '=', backupId)
    .where('disk_key', '=', diskKey)
    .where('status', '=', 'running')
    .executeTakeFirst();
  if (updated.numUpdatedRows === 0n) {
    throw new Error(`completeBackupDisk: backup ${backupId} has no running disk ${diskKey}`);
  }
}

export async function completeBackup(db: Db, id: string, bytes?: number): Promise<Backup> {
  await db.transaction().execute(async (trx) => {
    const backup = await trx
      .selectFrom('backups')
      .select(['status', 'parent_id'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (backup?.status !== 'running') throw new Error(`completeBackup: backup ${id} is not running`);
    const disks = await trx
      .selectFrom('backup_disks')
      .select(['disk_key', 'status', 'bytes'])
      .where('backup_id', '=', id)
      .execute();
    const unfinished = disks.filter((disk) => disk.status !== 'complete').map((disk) => disk.disk_key);
    if (disks.length === 0 || unfinished.length > 0) {
      throw new Error(
        `completeBackup: backup ${id} has ${disks.length === 0 ? 'no disks' : `incomplete disks ${unfinished.join(', ')}`}`,
      );
    }
    const total = bytes ?? disks.reduce((sum, disk) => sum + (disk.bytes ?? 0), 0);
    // verify marked its parent damaged while it ran: it is built on damage too, never restorable
    // as complete (verify marks what is complete then; this one was not yet).
    const parent =
      backup.parent_id === null
        ? undefined
        : await trx.selectFrom('backups').select('damage').where('id', '=', backup.parent_id).executeTakeFirst();
    await trx
      .updateTable('backups')
      .set({
        status: 'complete',
        completed_at: nowIso(),
        bytes: total,
        ...(parent?.damage != null && { damage: `built on damaged backup ${backup.parent_id}` }),
      })
      .where('id', '=', id)
      .execute();
  });
  return (await getBackup(db, id))!;
}

export async function failBackup(db: Db, id: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('backups')
      .set({ status: 'failed', completed_at: null })
      .where('id', '=', id)
      .where('status', '!=', 'complete')
      .execute();
    await trx
      .updateTable('backup_disks')
      .set({ status: 'failed' })
      .where('backup_id', '=', id)
      .where('status', '=', 'running')
      .execute();
  });
}

export async function deleteBackup(db: Db, id: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const child = await trx.selectFrom('backups').select('id').where('parent_id', '=', id).executeTakeFirst();
    if (child !== undefined) throw new Error(`deleteBackup: backup ${child.id} still stands on ${id}`);
    await trx.deleteFrom('backup_disks').where('backup_id', '=', id).execute();
    await trx.deleteFrom('backups').where('id', '=', id).execute();
    await recordDroppedPoint(trx, id, null);
  });
}

export async function listBackups(db: Db, filter: { vm?: string } = {}): Promise<readonly Backup[]> {
  let query = backups(db).orderBy(insertionOrder);
  if (filter.vm !== undefined) query = query.where('vm', '=', filter.vm);
  return withDisks(db, query);
}

/** listBackups, and the facts recorded of their layers, read in the same queries. */
export async function listBackupsWithFacts(
  db: Db,
  filter: { vm?: string } = {},
): Promise<{ readonly backups: readonly Backup[]; readonly facts: readonly RecordedLayerFacts[] }> {
  let query = backups(db).orderBy(insertionOrder);
  if (filter.vm !== undefined) query = query.where('vm', '=', filter.vm);
  const facts: RecordedLayerFacts[] = [];
  return { backups: await withDisks(db, query, facts), facts };
}

function completeOf(db: Db, vm: string, repository?: string): BackupQuery {
  let query = backups(db).where('vm', '=', vm).where('status', '=', 'complete').where('damage', 'is', null);
  if (repository !== undefined) query = query.where('repository', '=', repository);
  return query;
}

export async function latestCompleteBackup(
  db: Db,
  vm: string,
  repository?: string,
  plan?: string,
): Promise<Backup | undefined> {
  let query = completeOf(db, vm, repository);
  if (plan !== undefined) query = query.where('plan', '=', plan);
  return (await withDisks(db, query.orderBy(insertionOrder, 'desc').limit(1)))[0];
}

export async function completeBackupAtOrBefore(
  db: Db,
  vm: string,
  time: Date,
  repository?: string,
): Promise<Backup | undefined> {
  const query = completeOf(db, vm, repository)
    .where('started_at', '<=', time.toISOString())
    .orderBy('started_at', 'desc')
    .orderBy(insertionOrder, 'desc')
    .limit(1);
  return (await withDisks(db, query))[0];
}

export async function chainOf(db: Db, backupId: string): Promise<readonly Backup[]> {
  const chain: Backup[] = [];
  for (let id: string | null = backupId; id !== null;) {
    const backup = await getBackup(db, id);
    if (backup === undefined) throw new Error(`chainOf: backup ${id} is missing from the chain of ${backupId}`);
    chain.unshift(backup);
    id = backup.parentId;
  }
  return Object.freeze(chain);
}

export async function chainLength(db: Db, chainId: string): Promise<number> {
  const row = await db
    .selectFrom('backups')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('chain_id', '=', chainId)
    .where('status', '=', 'complete')
    .where('damage', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function incompleteBackups(db: Db): Promise<readonly Backup[]> {
  return withDisks(db, backups(db).where('status', 'in', ['running', 'failed']).orderBy(insertionOrder));
}

// verify found this backup (or one it stands on) differing from its manifests: it and every backup
// built on it leave the restorable, parent-capable 'complete' state until a verify clears it.
export async function markDamaged(db: Db, ids: readonly string[], damage: string): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('backups')
    .set({ damage })
    .where('id', 'in', ids)
    .where('status', '=', 'complete')
    .where('damage', 'is', null)
    .execute();
}

// verify found a damaged backup's files and those it stands on matching their manifests again
// (a repository put back from a copy, a merge finished by doctor): complete once more.
export async function clearDamage(db: Db, id: string): Promise<void> {
  await db.updateTable('backups').set({ damage: null }).where('id', '=', id).where('status', '=', 'complete').execute();
}

export async function setProtected(db: Db, id: string, on: boolean): Promise<void> {
  await db
    .updateTable('backups')
    .set({ protected: on ? 1 : 0 })
    .where('id', '=', id)
    .execute();
}

// A suspect point (docs/anomaly.md#what-a-suspect-point-does): its reasons, and the clean points
// before it it keeps, in one transaction so no retention sees one without the other.
export async function markSuspect(db: Db, id: string, reasons: string, keep: readonly string[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('backups').set({ suspect: reasons }).where('id', '=', id).execute();
    await trx.updateTable('point_figures').set({ suspect: 1 }).where('backup_id', '=', id).execute();
    if (keep.length > 0)
      await trx
        .updateTable('backups')
        .set({ held_by: id })
        .where('id', 'in', keep)
        .where('held_by', 'is', null)
        .execute();
  });
}

// `sendense-run clear`: the suspect mark stays in the record as cleared (by whom, when), and the
// clean points it kept go back to retention. Returns the points released.
export async function clearSuspect(db: Db, id: string, by: string): Promise<readonly string[]> {
  return db.transaction().execute(async (trx) => {
    const held = await trx.selectFrom('backups').select('id').where('held_by', '=', id).execute();
    await trx.updateTable('backups').set({ held_by: null }).where('held_by', '=', id).execute();
    await trx
      .updateTable('backups')
      .set({ suspect_cleared_by: by, suspect_cleared_at: nowIso() })
      .where('id', '=', id)
      .execute();
    await trx.updateTable('point_figures').set({ suspect: 0 }).where('backup_id', '=', id).execute();
    return held.map((row) => row.id);
  });
}

/** An incremental's figures (docs/anomaly.md#when-a-point-is-suspect), recorded once. */
export async function recordPointFigures(db: Db, figures: PointFiguresRecord): Promise<void> {
  await db
    .insertInto('point_figures')
    .values({
      backup_id: figures.backupId,
      vm: figures.vm,
      repository: figures.repository,
      taken_at: figures.takenAt,
      changed_bytes: figures.changedBytes,
      sampled_blocks: figures.sampledBlocks,
      incompressible_blocks: figures.incompressibleBlocks,
    })
    .onConflict((conflict) => conflict.column('backup_id').doNothing())
    .execute();
}

/** The VM's recorded figures in a repository that are not suspect (cleared ones count), oldest first; at most `limit`, the newest. */
export async function pointFiguresHistory(
  db: Db,
  vm: string,
  repository: string,
  limit: number,
): Promise<readonly PointFiguresRecord[]> {
  const rows = await db
    .selectFrom('point_figures')
    .selectAll()
    .where('vm', '=', vm)
    .where('repository', '=', repository)
    .where('suspect', '=', 0)
    .orderBy('taken_at', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse().map((row) => ({
    backupId: row.backup_id,
    vm: row.vm,
    repository: row.repository,
    takenAt: row.taken_at,
    changedBytes: Number(row.changed_bytes),
    sampledBlocks: Number(row.sampled_blocks),
    incompressibleBlocks: Number(row.incompressible_blocks),
  }));
}

export async function recordVerification(db: Db, id: string, at: string): Promise<void> {
  await db.updateTable('backups').set({ verified_at: at }).where('id', '=', id).execute();
}

// A complete backup rebuilt from the repository's manifests (catalog import), with its own ids
// and times; its parent must be recorded already.
export async function relocateBackup(
  db: Db,
  id: string,
  repository: string,
  files: readonly { readonly diskKey: number; readonly file: string }[],
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('backups').set({ repository }).where('id', '=', id).execute();
    for (const { diskKey, file } of files) {
      await trx
        .updateTable('backup_disks')
        // Another file: what was recorded of the old one no longer speaks for it.
        .set({ file, facts_at: null })
        .where('backup_id', '=', id)
        .where('disk_key', '=', diskKey)
        .execute();
    }
  });
}

export async function importBackup(db: Db, backup: ImportedBackup): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('backups')
      .values({
        id: backup.id,
        vm: backup.vm,
        plan: backup.plan,
        type: backup.type,
        chain_id: backup.chainId,
        parent_id: backup.parentId,
        status: 'complete',
        repository: backup.repository,
        started_at: backup.startedAt,
        completed_at: backup.completedAt,
        bytes: backup.disks.reduce((sum, disk) => sum + disk.bytes, 0),
        run_id: backup.runId,
        seq: nextSeq(trx),
      })
      .execute();
    for (const disk of backup.disks) {
      await trx
        .insertInto('backup_disks')
        .values({
          backup_id: backup.id,
          disk_key: disk.diskKey,
          file: disk.file,
          virtual_size: disk.virtualSize,
          change_id: disk.changeId,
          bytes: disk.bytes,
          status: 'complete',
          source: disk.source,
          source_node: disk.sourceNode,
          bitmap: disk.bitmap,
          manifest: 1,
          sampled_blocks: disk.sample?.sampledBlocks ?? null,
          incompressible_blocks: disk.sample?.incompressibleBlocks ?? null,
        })
        .execute();
    }
  });
}

/** The layers' recorded facts (026-layer-facts), of one VM or all. */
export async function layerFacts(db: Db, filter: { vm?: string } = {}): Promise<readonly RecordedLayerFacts[]> {
  let query = db
    .selectFrom('backup_disks')
    .innerJoin('backups', 'backups.id', 'backup_disks.backup_id')
    .selectAll('backup_disks')
    .where('backup_disks.facts_at', 'is not', null);
  if (filter.vm !== undefined) query = query.where('backups.vm', '=', filter.vm);
  return (await query.execute()).map(toFacts);
}

/** Records layers' facts as read now, in one transaction. */
export async function recordLayerFacts(
  db: Db,
  facts: readonly Omit<RecordedLayerFacts, 'recordedAt'>[],
): Promise<void> {
  if (facts.length === 0) return;
  const at = nowIso();
  await db.transaction().execute(async (trx) => {
    for (const layer of facts)
      await trx
        .updateTable('backup_disks')
        .set({
          facts_at: at,
          on_disk_bytes: layer.onDiskBytes,
          encrypted: layer.encrypted ? 1 : 0,
          backing: layer.backing,
          header_problem: layer.headerProblem,
        })
        .where('backup_id', '=', layer.backupId)
        .where('disk_key', '=', layer.diskKey)
        .execute();
  });
}

/** The number 026's triggers raise on every change of a point or layer; undefined on PostgreSQL (none). */
export async function backupsGeneration(db: Db): Promise<number | undefined> {
  if (!dialectOf(db).countsBackupChanges) return undefined;
  const row = await db.selectFrom('backup_changes').select('generation').where('id', '=', 1).executeTakeFirst();
  return row === undefined ? undefined : Number(row.generation);
}
