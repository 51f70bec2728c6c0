// One backup run per VM at a time: both would add and remove bitmaps on the same source disks.

import type { Kysely, Migration } from 'kysely';

export const vmLocksMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('vm_locks')
      .addColumn('vm', 'text', (col) => col.primaryKey())
      .addColumn('run_id', 'text', (col) => col.notNull().references('runs.id'))
      .addColumn('plan', 'text', (col) => col.notNull())
      .addColumn('pid', 'integer', (col) => col.notNull())
      .addColumn('hostname', 'text', (col) => col.notNull())
      .addColumn('start_ticks', 'integer')
      .addColumn('since', 'text', (col) => col.notNull())
      .execute();
  },
};
