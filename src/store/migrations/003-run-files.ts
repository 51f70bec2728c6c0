// Files a run creates outside the repository before they are finished (a restore's target, written
// beside the final path and renamed into place on success): recorded before they exist, so
// `doctor` can remove what a killed run left half-written, and nothing else.

import type { Kysely, Migration } from 'kysely';

export const runFilesMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('run_files')
      .addColumn('run_id', 'text', (col) => col.notNull().references('runs.id'))
      .addColumn('node', 'text', (col) => col.notNull())
      .addColumn('path', 'text', (col) => col.notNull())
      .addColumn('kind', 'text', (col) => col.notNull())
      .addColumn('since', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('run_files_pk', ['node', 'path'])
      .execute();
  },
};
