// The API's tasks (docs/api.md#tasks): the long operations it runs as processes of their own.

import type { Kysely } from 'kysely';
import { nowIso } from './new-id.js';
import type { ApiTasksTable, StoreDatabase } from './schema.js';

export interface ApiTask {
  readonly id: string;
  readonly operation: string;
  readonly title: string;
  readonly token: string | null;
  readonly hub: string | null;
  readonly status: string;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly exitCode: number | null;
  readonly pid: number | null;
  /** The start time of that process (docs/api.md#tasks): with the PID, which process it is. */
  readonly pidStartTicks: number | null;
  readonly runId: string | null;
  readonly error: string | null;
}

export interface ApiTasks {
  saveTask(task: ApiTask): Promise<void>;
  getTask(id: string): Promise<ApiTask | undefined>;
  /** Newest first. */
  listTasks(filter?: { readonly limit?: number }): Promise<readonly ApiTask[]>;
  /** Tasks of this hub marked running: this server's, another live server's, or a dead server's. */
  runningTasks(hub: string): Promise<readonly ApiTask[]>;
  /** Marks a running task lost (its process is gone, nobody recorded its end); false if it had ended. */
  loseTask(id: string, error: string): Promise<boolean>;
}

const task = (row: ApiTasksTable): ApiTask => ({
  id: row.id,
  operation: row.operation,
  title: row.title,
  token: row.token,
  hub: row.hub,
  status: row.status,
  startedAt: row.started_at,
  endedAt: row.ended_at,
  exitCode: row.exit_code === null ? null : Number(row.exit_code),
  pid: row.pid === null ? null : Number(row.pid),
  pidStartTicks: row.pid_start_ticks === null ? null : Number(row.pid_start_ticks),
  runId: row.run_id,
  error: row.error,
});

export function apiTasks(db: Kysely<StoreDatabase>): ApiTasks {
  return {
    async saveTask(saved) {
      const row: ApiTasksTable = {
        id: saved.id,
        operation: saved.operation,
        title: saved.title,
        token: saved.token,
        hub: saved.hub,
        status: saved.status,
        started_at: saved.startedAt,
        ended_at: saved.endedAt,
        exit_code: saved.exitCode,
        pid: saved.pid,
        pid_start_ticks: saved.pidStartTicks,
        run_id: saved.runId,
        error: saved.error,
      };
      await db
        .insertInto('api_tasks')
        .values(row)
        .onConflict((oc) =>
          oc.column('id').doUpdateSet({
            status: row.status,
            ended_at: row.ended_at,
            exit_code: row.exit_code,
            pid: row.pid,
            pid_start_ticks: row.pid_start_ticks,
            run_id: row.run_id,
            error: row.error,
          }),
        )
        .execute();
    },
    async getTask(id) {
      const row = await db.selectFrom('api_tasks').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? undefined : task(row);
    },
    async listTasks(filter = {}) {
      let query = db.selectFrom('api_tasks').selectAll().orderBy('started_at', 'desc').orderBy('id', 'desc');
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(task);
    },
    async runningTasks(hub) {
      const rows = await db
        .selectFrom('api_tasks')
        .selectAll()
        .where('status', '=', 'running')
        .where('hub', '=', hub)
        .orderBy('started_at')
        .execute();
      return rows.map(task);
    },
    async loseTask(id, error) {
      // Only while still running: the task's own server may have recorded its end meanwhile.
      const result = await db
        .updateTable('api_tasks')
        .set({ status: 'lost', ended_at: nowIso(), error })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}
