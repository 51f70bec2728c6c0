// Runs: one row per execution of a plan (or a skipped one), for `history` and the scheduler.

import path from 'node:path';
import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import { maskSecrets } from '../secrets/mask.js';
import { serialize } from './dialect.js';
import { databaseTimeIso, holderLiveness, type StoreSelf } from './hub-liveness.js';
import { newRunId } from '../repository/layout.js';
import { nowIso } from './new-id.js';
import type { BackupType, Run, RunKind, RunRecord, RunStatus, RunTrigger } from './records.js';
import type { RunsTable, StoreDatabase } from './schema.js';
import type { FireClaim, NewRun, SkippedRun } from './store.js';

type Db = Kysely<StoreDatabase>;

function toRun(row: Selectable<RunsTable>): Run {
  return Object.freeze({
    id: row.id,
    plan: row.plan,
    kind: row.kind as RunKind,
    // 001-initial's CHECK allows manual and schedule only: an API run is stored as manual with its actor.
    trigger: (row.actor ? 'api' : row.trigger) as RunTrigger,
    // 001-initial's CHECK predates refused: such a run is stored failed, with refused set.
    status: (row.refused ? 'refused' : row.status) as RunStatus,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    error: row.error,
    pid: row.pid,
    hostname: row.hostname,
    planFile: row.plan_file,
    backupId: row.backup_id,
    queuedSeconds: row.queued_seconds ?? null,
    vmWaitSeconds: row.vm_wait_seconds ?? null,
    hub: row.hub ?? null,
    fire: row.fire ?? null,
    note: row.note ?? null,
    bytes: row.bytes ?? null,
    taken: (row.taken ?? null) as BackupType | null,
    actor: row.actor ?? null,
    acknowledgedBy: row.acknowledged_by ?? null,
    acknowledgedAt: row.acknowledged_at ?? null,
  });
}

export async function getRun(db: Db, id: string): Promise<Run | undefined> {
  const row = await db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toRun(row);
}

export async function createRun(db: Db, self: StoreSelf, run: NewRun): Promise<Run> {
  return insertRun(db, run.id ?? newRunId(), run, {
    status: 'running',
    started_at: nowIso(),
    pid: run.pid ?? self.pid,
    hostname: run.hostname ?? self.hostname,
    hub: self.hub,
  });
}

// The end and the run's record (docs/commands.md#history), written here once and never after: what a
// merge later does to its point is recorded apart (dropped_points). No record given (a run found
// dead): its backup's type and bytes as they stand now.
export async function finishRun(
  db: Db,
  id: string,
  status: RunStatus,
  error?: string,
  record?: RunRecord,
): Promise<Run> {
  const columns = record === undefined ? await backupRecord(db, id) : recordColumns(record);
  const result = await db
    .updateTable('runs')
    .set({
      status: status === 'refused' ? 'failed' : status,
      ...(status === 'refused' ? { refused: 1 } : {}),
      ended_at: nowIso(),
      error: maskSecrets(error) ?? null,
      ...columns,
    })
    .where('id', '=', id)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new Error(`finishRun: no run ${id}`);
  return (await getRun(db, id))!;
}

function recordColumns(record: RunRecord): Updateable<RunsTable> {
  return {
    ...(record.backupId === undefined ? {} : { backup_id: record.backupId }),
    ...(record.taken === undefined ? {} : { taken: record.taken }),
    ...(record.bytes === undefined ? {} : { bytes: record.bytes }),
  };
}

async function backupRecord(db: Db, runId: string): Promise<Updateable<RunsTable>> {
  const backup = await db
    .selectFrom('runs')
    .innerJoin('backups', 'backups.id', 'runs.backup_id')
    .select(['backups.id', 'backups.type', 'backups.bytes'])
    .where('runs.id', '=', runId)
    .executeTakeFirst();
  if (backup === undefined) return {};
  const disks = await db.selectFrom('backup_disks').select('bytes').where('backup_id', '=', backup.id).execute();
  const copied = disks.flatMap((disk) => (disk.bytes === null ? [] : [disk.bytes]));
  const bytes = backup.bytes ?? (copied.length === 0 ? null : copied.reduce((a, b) => a + b, 0));
  return { taken: backup.type, bytes };
}

// What a run's history line adds, in its own words (verify: a damage mark cleared).
export async function noteRun(db: Db, id: string, note: string): Promise<void> {
  await db
    .updateTable('runs')
    .set({ note: maskSecrets(note) ?? null })
    .where('id', '=', id)
    .execute();
}

// An operator looked at a failed run (docs/operations.md#acknowledging-failures): the first
// acknowledgement stands; false when the run is not there.
export async function acknowledgeRun(db: Db, id: string, by: string): Promise<boolean> {
  await db
    .updateTable('runs')
    .set({ acknowledged_by: by, acknowledged_at: nowIso() })
    .where('id', '=', id)
    .where('acknowledged_by', 'is', null)
    .execute();
  return (await getRun(db, id)) !== undefined;
}

// How long a run waited for its VM (docs/how-it-works.md#busy-vms).
export async function recordVmWait(db: Db, id: string, seconds: number): Promise<void> {
  await db.updateTable('runs').set({ vm_wait_seconds: seconds }).where('id', '=', id).execute();
}

// The bytes a run moved that no backup record counts (a copy's bytes sent).
export async function recordRunBytes(db: Db, id: string, bytes: number): Promise<void> {
  await db.updateTable('runs').set({ bytes }).where('id', '=', id).execute();
}

export async function recordSkippedRun(db: Db, self: StoreSelf, run: SkippedRun): Promise<Run> {
  const now = nowIso();
  return insertRun(db, newRunId(), run, {
    status: 'skipped',
    started_at: now,
    ended_at: now,
    error: maskSecrets(run.reason),
    pid: self.pid,
    hostname: self.hostname,
    hub: self.hub,
  });
}

// One scheduled fire shared by hubs: in one serialized transaction, nothing if the fire already
// has a run (another hub took it), a skipped run if a live run of the plan is still going, else
// this hub's running run. `skip`: record it skipped with that reason (a fire taken too late).
export async function claimFire(
  db: Db,
  self: StoreSelf,
  run: NewRun & { readonly fire: string; readonly skip?: string },
): Promise<FireClaim> {
  return db.transaction().execute(async (trx) => {
    await serialize(trx, `fire:${run.plan}`);
    const taken = await trx.selectFrom('runs').select('id').where('fire', '=', run.fire).executeTakeFirst();
    if (taken !== undefined) return { claimed: 'taken' as const, runId: taken.id };
    if (run.skip !== undefined)
      return { claimed: 'skipped' as const, run: await recordSkippedRun(trx, self, { ...run, reason: run.skip }) };
    const running = await trx
      .selectFrom('runs')
      .selectAll()
      .where('plan', '=', run.plan)
      .where('status', '=', 'running')
      .execute();
    const isAlive = await holderLiveness(trx, self);
    const going = running.find((row) => isAlive(row));
    if (going !== undefined) {
      const reason = `a run of this plan is still going (run ${going.id} on hub ${going.hub ?? going.hostname}, started ${going.started_at})`;
      return { claimed: 'skipped' as const, run: await recordSkippedRun(trx, self, { ...run, reason }) };
    }
    return { claimed: 'run' as const, run: await createRun(trx, self, run) };
  });
}

// A started run and a skipped one are the same row with a different status and times.
async function insertRun(
  db: Db,
  id: string,
  run: NewRun | SkippedRun,
  state: Pick<Insertable<RunsTable>, 'status' | 'started_at' | 'ended_at' | 'error' | 'pid' | 'hostname' | 'hub'>,
): Promise<Run> {
  await db
    .insertInto('runs')
    .values({
      id,
      plan: run.plan,
      kind: run.kind,
      trigger: run.trigger === 'api' ? 'manual' : run.trigger,
      plan_file: storedPlanFile(run.planFile),
      fire: run.fire ?? null,
      ...('actor' in run && run.actor ? { actor: run.actor } : {}),
      ...state,
    })
    .execute();
  return (await getRun(db, id))!;
}

export async function listRuns(db: Db, filter: { plan?: string; limit?: number } = {}): Promise<readonly Run[]> {
  let query = db.selectFrom('runs').selectAll().orderBy('started_at', 'desc').orderBy('id', 'desc');
  if (filter.plan !== undefined) query = query.where('plan', '=', filter.plan);
  if (filter.limit !== undefined) query = query.limit(filter.limit);
  return Object.freeze((await query.execute()).map(toRun));
}

export async function runPlanFiles(db: Db): Promise<readonly string[]> {
  const rows = await db
    .selectFrom('runs')
    .select('plan_file')
    .distinct()
    .where('plan_file', 'is not', null)
    .orderBy('plan_file')
    .execute();
  return Object.freeze(rows.map((row) => row.plan_file!));
}

export async function runningRuns(db: Db): Promise<readonly Run[]> {
  const rows = await db
    .selectFrom('runs')
    .selectAll()
    .where('status', '=', 'running')
    .orderBy('started_at')
    .orderBy('id')
    .execute();
  return Object.freeze(rows.map(toRun));
}

// Runs still 'running' whose process is dead (another hub's that stopped beating, or one of this
// hub's whose PID is gone): failed with why, and their leases, VM locks and disk slots freed.
export async function reapDeadRuns(db: Db, self: StoreSelf): Promise<readonly Run[]> {
  return db.transaction().execute(async (trx) => {
    await serialize(trx, 'reap');
    const running = await trx.selectFrom('runs').selectAll().where('status', '=', 'running').execute();
    const isAlive = await holderLiveness(trx, self);
    const dead = running.filter((row) => row.pid !== null && row.hostname !== null && !isAlive(row));
    const reaped: Run[] = [];
    for (const row of dead) {
      const who = `hub ${row.hub ?? row.hostname} (pid ${row.pid} on ${row.hostname})`;
      const error =
        row.hub === self.hub && row.hostname === self.hostname
          ? `${who} is gone: the run was killed`
          : `${who} stopped answering: no heartbeat for ${Math.round(self.deadAfterMs / 1000)} s`;
      await trx.deleteFrom('port_leases').where('run_id', '=', row.id).execute();
      await trx.deleteFrom('vm_locks').where('run_id', '=', row.id).execute();
      await trx.deleteFrom('disk_slots').where('run_id', '=', row.id).execute();
      reaped.push(await finishRun(trx, row.id, 'failed', error));
    }
    // Heartbeats of processes long dead (killed ones never remove their row) are forgotten.
    await trx
      .deleteFrom('hub_processes')
      .where('beat_at', '<', databaseTimeIso(trx, 24 * 3600_000))
      .execute();
    return Object.freeze(reaped);
  });
}

// Absolute, so `history` still says which file it was when read from another directory.
function storedPlanFile(file: string | undefined): string | null {
  return file === undefined ? null : path.resolve(file);
}
