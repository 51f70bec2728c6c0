// The start time of an API task's process beside its PID (docs/api.md#tasks): a server starting
// beside another, or before an old one has drained, must tell a task whose process still lives
// from one whose PID a later process reuses, before it marks a task lost.

import type { Kysely, Migration } from 'kysely';

export const apiTaskProcessMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('api_tasks').addColumn('pid_start_ticks', 'bigint').execute();
  },
};
