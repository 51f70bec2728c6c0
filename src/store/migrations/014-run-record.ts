// A run's record, written once when it ends and never rewritten (docs/commands.md#history): the
// kind it took (`runs.taken`, beside 013's `runs.bytes` and 001's `runs.backup_id`); and what
// happened to a point later (`dropped_points`: merged into a child, or removed), kept apart.
// Runs that ended before this migration get their backup's type and bytes as they stand now.

import { sql, type Kysely, type Migration } from 'kysely';

export const runRecordMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('runs').addColumn('taken', 'text').execute();
    await db.schema
      .createTable('dropped_points')
      .addColumn('backup_id', 'text', (col) => col.primaryKey())
      // null: removed; else the point whose file its data went into.
      .addColumn('merged_into', 'text')
      .addColumn('dropped_at', 'text', (col) => col.notNull())
      .execute();
    const backup = (column: string) =>
      sql`(select backups.${sql.ref(column)} from backups where backups.id = runs.backup_id)`;
    await db
      .updateTable('runs')
      .set({ taken: backup('type'), bytes: sql`coalesce(runs.bytes, ${backup('bytes')})` })
      .where('backup_id', 'is not', null)
      .where('status', '!=', 'running')
      .where('kind', 'in', ['backup', 'incremental'])
      .execute();
    // A replica's sync names its point only in replica_points (run_id).
    const point = (column: string) =>
      sql`(select replica_points.${sql.ref(column)} from replica_points where replica_points.run_id = runs.id)`;
    await db
      .updateTable('runs')
      .set({ backup_id: point('id'), taken: point('type'), bytes: sql`coalesce(runs.bytes, ${point('bytes')})` })
      .where('status', '!=', 'running')
      .where('kind', '=', 'replicate')
      .execute();
  },
};
