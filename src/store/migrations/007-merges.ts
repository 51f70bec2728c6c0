// Retention merges (docs/how-it-works.md#retention): a merge of a point into its child is recorded here before
// any file is touched and removed in the transaction that rewrites the records, so a crash leaves
// a row that doctor finishes (or rolls back) and that runs and restores of the VM refuse to pass.

import type { Kysely, Migration } from 'kysely';

export const mergesMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('merges')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('vm', 'text', (col) => col.notNull())
      .addColumn('parent_id', 'text', (col) => col.notNull())
      .addColumn('child_id', 'text', (col) => col.notNull())
      // planned: no file touched yet (doctor rolls back); merging: files being changed (doctor finishes).
      .addColumn('phase', 'text', (col) => col.notNull())
      .addColumn('run_id', 'text', (col) => col.notNull())
      .addColumn('since', 'text', (col) => col.notNull())
      .execute();
    await db.schema.createIndex('merges_vm').on('merges').column('vm').execute();
  },
};
