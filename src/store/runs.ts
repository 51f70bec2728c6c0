// Runs: one row per execution of a plan (or a skipped one), for `history` and the scheduler.

import os from 'node:os';
import path from 'node:path';
import type { Insertable, Kysely, Selectable } from 'kysely';
import { maskSecrets } from '../secrets/mask.js';
import { newId, nowIso } from './new-id.js';
import type { Run, RunKind, RunStatus, RunTrigger } from './records.js';
import type { RunsTable, StoreDatabase } from './schema.js';
import type { NewRun, SkippedRun } from './store.js';

type Db = Kysely<StoreDatabase>;

function toRun(row: Selectable<RunsTable>): Run {
  return Object.freeze({
    id: row.id,
    plan: row.plan,
    kind: row.kind as RunKind,
    trigger: row.trigger as RunTrigger,
    status: row.status as RunStatus,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    error: row.error,
    pid: row.pid,
    hostname: row.hostname,
    planFile: row.plan_file,
    backupId: row.backup_id,
    queuedSeconds: row.queued_seconds ?? null,
  });
}

export async function getRun(db: Db, id: string): Promise<Run | undefined> {
  const row = await db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toRun(row);
}

export async function createRun(db: Db, run: NewRun): Promise<Run> {
  return insertRun(db, run.id ?? newId(), run, {
    status: 'running',
    started_at: nowIso(),
    pid: run.pid ?? process.pid,
    hostname: run.hostname ?? os.hostname(),
  });
}

export async function finishRun(db: Db, id: string, status: RunStatus, error?: string): Promise<Run> {
  const result = await db
    .updateTable('runs')
    .set({ status, ended_at: nowIso(), error: maskSecrets(error) ?? null })
    .where('id', '=', id)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new Error(`finishRun: no run ${id}`);
  return (await getRun(db, id))!;
}

export async function recordSkippedRun(db: Db, run: SkippedRun): Promise<Run> {
  const now = nowIso();
  return insertRun(db, newId(), run, {
    status: 'skipped',
    started_at: now,
    ended_at: now,
    error: maskSecrets(run.reason),
    pid: process.pid,
    hostname: os.hostname(),
  });
}

// A started run and a skipped one are the same row with a different status and times.
async function insertRun(
  db: Db,
  id: string,
  run: NewRun | SkippedRun,
  state: Pick<Insertable<RunsTable>, 'status' | 'started_at' | 'ended_at' | 'error' | 'pid' | 'hostname'>,
): Promise<Run> {
  await db
    .insertInto('runs')
    .values({ id, plan: run.plan, kind: run.kind, trigger: run.trigger, plan_file: storedPlanFile(run.planFile), ...state })
    .execute();
  return (await getRun(db, id))!;
}

export async function listRuns(db: Db, filter: { plan?: string; limit?: number } = {}): Promise<readonly Run[]> {
  let query = db.selectFrom('runs').selectAll().orderBy('started_at', 'desc').orderBy('id', 'desc');
  if (filter.plan !== undefined) query = query.where('plan', '=', filter.plan);
  if (filter.limit !== undefined) query = query.limit(filter.limit);
  return Object.freeze((await query.execute()).map(toRun));
}

export async function runningRuns(db: Db): Promise<readonly Run[]> {
  const rows = await db.selectFrom('runs').selectAll().where('status', '=', 'running').orderBy('started_at').execute();
  return Object.freeze(rows.map(toRun));
}

// Absolute, so `history` still says which file it was when read from another directory.
function storedPlanFile(file: string | undefined): string | null {
  return file === undefined ? null : path.resolve(file);
}
