// Verification of stored backups (docs/how-it-works.md#verification): when each backup was last checked against its
// manifests, and what was found (non-null = damaged: never restorable, never a parent). A column,
// not a status value: the status CHECK of 001 cannot change without rebuilding the table.

import type { Kysely, Migration } from 'kysely';

export const verificationMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('backups').addColumn('verified_at', 'text').execute();
    await db.schema.alterTable('backups').addColumn('damage', 'text').execute();
  },
};
