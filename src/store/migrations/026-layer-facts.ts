// What a listing shows of each layer (docs/how-it-works.md#what-a-listing-reads), recorded when the
// layer is written, merged, verified or moved, so a listing opens no file: the space its file takes,
// whether its repository is encrypted, the backing file its header names, and what is wrong with
// that header (null: sound). facts_at null: not recorded (a layer written before 026, or changed
// since): the listing reads it once and records it.
// backup_changes (SQLite only): a number every change of a point or layer record raises, in the
// same transaction, so a listing built once is answered again until a point changes.

import { sql, type Kysely, type Migration } from 'kysely';
import { dialectOf } from '../dialect.js';

export const layerFactsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('backup_disks').addColumn('facts_at', 'text').execute();
    await db.schema.alterTable('backup_disks').addColumn('on_disk_bytes', 'bigint').execute();
    await db.schema.alterTable('backup_disks').addColumn('encrypted', 'integer').execute();
    await db.schema.alterTable('backup_disks').addColumn('backing', 'text').execute();
    await db.schema.alterTable('backup_disks').addColumn('header_problem', 'text').execute();
    await db.schema.createIndex('backups_vm_seq').on('backups').columns(['vm', 'seq']).execute();
    // Hubs sharing a PostgreSQL state would all wait on one counter row: there every listing is read anew.
    if (!dialectOf(db).countsBackupChanges) return;
    await db.schema
      .createTable('backup_changes')
      .addColumn('id', 'integer', (col) => col.primaryKey().check(sql`id = 1`))
      .addColumn('generation', 'integer', (col) => col.notNull())
      .execute();
    await db.insertInto('backup_changes').values({ id: 1, generation: 0 }).execute();
    for (const table of ['backups', 'backup_disks'])
      for (const change of ['insert', 'update', 'delete'])
        await sql
          .raw(
            `create trigger ${table}_${change}_counted after ${change} on ${table} begin update backup_changes set generation = generation + 1; end`,
          )
          .execute(db);
  },
};
