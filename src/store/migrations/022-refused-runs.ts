// A run refused its start (another run held its VM: busy: fail, or past busy.wait) is its own
// outcome in history, not a failure of the plan (docs/how-it-works.md#busy-vms). A column, not a
// status value: the status CHECK of 001 cannot change without rebuilding the table; the row keeps
// status 'failed' for a reader of an earlier version.

import type { Kysely, Migration } from 'kysely';

export const refusedRunsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .alterTable('runs')
      .addColumn('refused', 'integer', (col) => col.notNull().defaultTo(0))
      .execute();
  },
};
