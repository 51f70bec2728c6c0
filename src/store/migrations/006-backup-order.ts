// The order backups were recorded in, as a column (`seq`) instead of SQLite's rowid: ties between
// backups started in the same millisecond are broken the same way on any database.

import { sql, type Kysely, type Migration } from 'kysely';
import { dialectOf } from '../dialect.js';

export const backupOrderMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('backups').addColumn('seq', 'bigint').execute();
    // Existing rows keep the order they were inserted in (the one place rowid is read). A
    // PostgreSQL database is created empty by these migrations: it has no rows and no rowid.
    if (dialectOf(db).hasRowid) await sql`update backups set seq = rowid`.execute(db);
    await db.schema.createIndex('backups_seq').unique().on('backups').column('seq').execute();
  },
};
