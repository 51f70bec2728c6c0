// Recovery drills (docs/drills.md#what-a-drill-records): one row per drill run, the point it
// started, how it ended, each check's result and time, the measured recovery time, the screenshot
// (a PNG, base64) and the last lines of the guest's console.

import type { Kysely, Migration } from 'kysely';

export const drillsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('drills')
      .addColumn('run_id', 'text', (col) => col.primaryKey())
      .addColumn('plan', 'text', (col) => col.notNull())
      .addColumn('vm', 'text', (col) => col.notNull())
      .addColumn('repository', 'text', (col) => col.notNull())
      .addColumn('backup_id', 'text', (col) => col.notNull())
      .addColumn('started_at', 'text', (col) => col.notNull())
      .addColumn('ended_at', 'text', (col) => col.notNull())
      .addColumn('outcome', 'text', (col) => col.notNull())
      .addColumn('boot_seconds', 'real')
      .addColumn('heartbeat_seconds', 'real')
      .addColumn('checks', 'text', (col) => col.notNull())
      .addColumn('screenshot_png', 'text')
      .addColumn('console_tail', 'text')
      .execute();
    await db.schema.createIndex('drills_vm').on('drills').columns(['vm', 'repository', 'ended_at']).execute();
  },
};
