// The tables of docs/how-it-works.md#what-is-recorded-and-where and the indexes for the store's lookups. Bytes and sizes are
// bigint: 64-bit on every database (SQLite gives them INTEGER affinity, as before).

import { sql, type Kysely, type Migration } from 'kysely';

export const initialMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('runs')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('plan', 'text', (col) => col.notNull())
      .addColumn('kind', 'text', (col) => col.notNull())
      .addColumn('trigger', 'text', (col) => col.notNull().check(sql`"trigger" in ('manual', 'schedule')`))
      .addColumn('status', 'text', (col) =>
        col.notNull().check(sql`status in ('running', 'succeeded', 'failed', 'interrupted', 'skipped')`),
      )
      .addColumn('started_at', 'text', (col) => col.notNull())
      .addColumn('ended_at', 'text')
      .addColumn('error', 'text')
      .addColumn('pid', 'integer')
      .addColumn('hostname', 'text')
      .addColumn('plan_file', 'text')
      .addColumn('backup_id', 'text')
      .execute();
    await db.schema.createIndex('runs_plan_started').on('runs').columns(['plan', 'started_at']).execute();
    await db.schema.createIndex('runs_status').on('runs').column('status').execute();

    await db.schema
      .createTable('backups')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('vm', 'text', (col) => col.notNull())
      .addColumn('plan', 'text', (col) => col.notNull())
      .addColumn('type', 'text', (col) => col.notNull().check(sql`type in ('full', 'incremental')`))
      .addColumn('chain_id', 'text', (col) => col.notNull())
      // A parent cannot be deleted while an incremental still stands on it.
      .addColumn('parent_id', 'text', (col) => col.references('backups.id'))
      .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('running', 'complete', 'failed')`))
      .addColumn('repository', 'text', (col) => col.notNull())
      .addColumn('started_at', 'text', (col) => col.notNull())
      .addColumn('completed_at', 'text')
      .addColumn('bytes', 'bigint')
      .addColumn('run_id', 'text', (col) => col.notNull().references('runs.id'))
      .execute();
    await db.schema.createIndex('backups_vm_status').on('backups').columns(['vm', 'status']).execute();
    await db.schema.createIndex('backups_chain').on('backups').column('chain_id').execute();
    await db.schema.createIndex('backups_parent').on('backups').column('parent_id').execute();
    await db.schema.createIndex('backups_run').on('backups').column('run_id').execute();

    await db.schema
      .createTable('backup_disks')
      .addColumn('backup_id', 'text', (col) => col.notNull().references('backups.id').onDelete('cascade'))
      .addColumn('disk_key', 'integer', (col) => col.notNull())
      .addColumn('file', 'text', (col) => col.notNull())
      .addColumn('virtual_size', 'bigint', (col) => col.notNull())
      .addColumn('change_id', 'text')
      .addColumn('bytes', 'bigint')
      .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('running', 'complete', 'failed')`))
      .addColumn('source', 'text', (col) => col.notNull())
      .addColumn('source_node', 'text', (col) => col.notNull())
      .addColumn('bitmap', 'text')
      .addPrimaryKeyConstraint('backup_disks_pk', ['backup_id', 'disk_key'])
      .execute();

    await db.schema
      .createTable('port_leases')
      .addColumn('port', 'integer', (col) => col.primaryKey())
      .addColumn('run_id', 'text', (col) => col.notNull().references('runs.id'))
      .addColumn('pid', 'integer', (col) => col.notNull())
      .addColumn('hostname', 'text', (col) => col.notNull())
      .addColumn('since', 'text', (col) => col.notNull())
      // /proc/PID/stat starttime of the leasing process, so a reused PID does not keep a lease alive.
      .addColumn('start_ticks', 'integer')
      .execute();
    await db.schema.createIndex('port_leases_run').on('port_leases').column('run_id').execute();

    await db.schema
      .createTable('processes')
      .addColumn('pid', 'integer', (col) => col.notNull())
      .addColumn('run_id', 'text', (col) => col.notNull().references('runs.id'))
      .addColumn('kind', 'text', (col) => col.notNull())
      .addColumn('argv_json', 'text', (col) => col.notNull())
      .addColumn('started_at', 'text', (col) => col.notNull())
      .addColumn('start_ticks', 'integer', (col) => col.notNull())
      .addPrimaryKeyConstraint('processes_pk', ['pid', 'start_ticks'])
      .execute();
    await db.schema.createIndex('processes_run').on('processes').column('run_id').execute();
  },

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async down(db: Kysely<any>): Promise<void> {
    for (const table of ['processes', 'port_leases', 'backup_disks', 'backups', 'runs']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
