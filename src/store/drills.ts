// Drill records (docs/drills.md#what-a-drill-records): one per drill run, written once it ends.

import type { Kysely, Selectable } from 'kysely';
import type { DrillCheckResult, DrillRecord } from './records.js';
import type { DrillsTable, StoreDatabase } from './schema.js';

type Db = Kysely<StoreDatabase>;

export async function recordDrill(db: Db, drill: DrillRecord): Promise<void> {
  await db
    .insertInto('drills')
    .values({
      run_id: drill.runId,
      plan: drill.plan,
      vm: drill.vm,
      repository: drill.repository,
      backup_id: drill.backupId,
      started_at: drill.startedAt,
      ended_at: drill.endedAt,
      outcome: drill.outcome,
      boot_seconds: drill.bootSeconds,
      heartbeat_seconds: drill.heartbeatSeconds,
      checks: JSON.stringify(drill.checks),
      screenshot_png: drill.screenshotPng,
      console_tail: drill.consoleTail,
    })
    .execute();
}

/** The newest drills of a plan or of a VM (in a repository), newest first. */
export async function listDrills(
  db: Db,
  filter: { readonly plan?: string; readonly vm?: string; readonly repository?: string; readonly outcome?: 'passed' },
  limit: number,
): Promise<readonly DrillRecord[]> {
  let query = db.selectFrom('drills').selectAll();
  if (filter.plan !== undefined) query = query.where('plan', '=', filter.plan);
  if (filter.vm !== undefined) query = query.where('vm', '=', filter.vm);
  if (filter.repository !== undefined) query = query.where('repository', '=', filter.repository);
  if (filter.outcome !== undefined) query = query.where('outcome', '=', filter.outcome);
  const rows = await query.orderBy('ended_at', 'desc').orderBy('run_id', 'desc').limit(limit).execute();
  return rows.map(drillOf);
}

export async function drillOfRun(db: Db, runId: string): Promise<DrillRecord | undefined> {
  const row = await db.selectFrom('drills').selectAll().where('run_id', '=', runId).executeTakeFirst();
  return row === undefined ? undefined : drillOf(row);
}

function drillOf(row: Selectable<DrillsTable>): DrillRecord {
  return {
    runId: row.run_id,
    plan: row.plan,
    vm: row.vm,
    repository: row.repository,
    backupId: row.backup_id,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    outcome: row.outcome === 'passed' ? 'passed' : 'failed',
    bootSeconds: row.boot_seconds === null ? null : Number(row.boot_seconds),
    heartbeatSeconds: row.heartbeat_seconds === null ? null : Number(row.heartbeat_seconds),
    checks: JSON.parse(row.checks) as DrillCheckResult[],
    screenshotPng: row.screenshot_png,
    consoleTail: row.console_tail,
  };
}
