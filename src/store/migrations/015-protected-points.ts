// A point the operator protected (`sendense-run protect`): retention and forget leave it alone
// (docs/how-it-works.md#protected-points). 0/1, as backup_disks.manifest.

import type { Kysely, Migration } from 'kysely';

export const protectedPointsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .alterTable('backups')
      .addColumn('protected', 'integer', (column) => column.notNull().defaultTo(0))
      .execute();
  },
};
