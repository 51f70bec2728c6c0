// The repositories' numbers (docs/api.md#old-system-routes): the old system named a repository by a
// number, so each repository path the hub has served or recorded gets one, in the order it was
// first seen, kept across restarts.

import type { Kysely, Migration } from 'kysely';

export const repositoryNumbersMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('repository_numbers')
      .addColumn('number', 'integer', (col) => col.primaryKey())
      .addColumn('path', 'text', (col) => col.notNull().unique())
      .addColumn('first_seen_at', 'text', (col) => col.notNull())
      .execute();
  },
};
