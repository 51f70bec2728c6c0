// The bytes a run moved when it made no backup record to count them in: a copy's bytes sent to
// the other host (docs/copies.md), shown by `history`. bigint, as in 001-initial.

import type { Kysely, Migration } from 'kysely';

export const runBytesMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('runs').addColumn('bytes', 'bigint').execute();
  },
};
