// Hub-wide disk slots (docs/how-it-works.md#scale): one row per run that waits for or holds slots, tied to
// its process like a port lease, so a kill -9'd holder's slots are taken back, never leaked. The
// runs keep how long they waited (history).

import type { Kysely, Migration } from 'kysely';

export const hubSlotsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('disk_slots')
      .addColumn('run_id', 'text', (col) => col.primaryKey().references('runs.id'))
      .addColumn('plan', 'text', (col) => col.notNull())
      .addColumn('wanted', 'integer', (col) => col.notNull())
      .addColumn('granted', 'integer', (col) => col.notNull().defaultTo(0))
      .addColumn('queued_at', 'text', (col) => col.notNull())
      .addColumn('granted_at', 'text')
      .addColumn('pid', 'integer', (col) => col.notNull())
      .addColumn('hostname', 'text', (col) => col.notNull())
      .addColumn('start_ticks', 'integer')
      .execute();
    await db.schema.alterTable('runs').addColumn('queued_seconds', 'real').execute();
  },
};
