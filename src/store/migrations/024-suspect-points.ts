// Suspect points (docs/anomaly.md#what-a-suspect-point-does): why a point is suspect, who cleared
// it and when, and on each clean point before it the suspect point that keeps it from retention.
// point_figures: each incremental's figures, kept after retention merges the point away, so a VM's
// history outlives keep-last rules shorter than it.

import type { Kysely, Migration } from 'kysely';

export const suspectPointsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    for (const column of ['suspect', 'suspect_cleared_by', 'suspect_cleared_at', 'held_by'])
      await db.schema.alterTable('backups').addColumn(column, 'text').execute();
    await db.schema
      .createTable('point_figures')
      .addColumn('backup_id', 'text', (col) => col.primaryKey())
      .addColumn('vm', 'text', (col) => col.notNull())
      .addColumn('repository', 'text', (col) => col.notNull())
      .addColumn('taken_at', 'text', (col) => col.notNull())
      .addColumn('changed_bytes', 'bigint', (col) => col.notNull())
      .addColumn('sampled_blocks', 'integer', (col) => col.notNull())
      .addColumn('incompressible_blocks', 'integer', (col) => col.notNull())
      .addColumn('suspect', 'integer', (col) => col.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createIndex('point_figures_vm')
      .on('point_figures')
      .columns(['vm', 'repository', 'taken_at'])
      .execute();
  },
};
