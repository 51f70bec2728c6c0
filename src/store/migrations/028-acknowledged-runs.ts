// A failed run an operator has looked at (docs/operations.md#acknowledging-failures): who and when.
// `status` and the dashboard no longer count it as open; history keeps it as it failed.

import type { Kysely, Migration } from 'kysely';

export const acknowledgedRunsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    for (const column of ['acknowledged_by', 'acknowledged_at'])
      await db.schema.alterTable('runs').addColumn(column, 'text').execute();
  },
};
