// Many hubs on one PostgreSQL database (docs/how-it-works.md#scale): the hub that holds each run, lease,
// VM lock and disk slot; one row per live process with its heartbeat, so a hub can tell another
// hub's dead process from a live one (a PID means nothing on another host); the scheduled fire a
// run belongs to, unique, so no fire runs twice. On PostgreSQL, backups.seq comes from a sequence
// (max+1 would race between hubs) and start ticks are 64-bit.

import { sql, type Kysely, type Migration } from 'kysely';
import { dialectOf } from '../dialect.js';

export const manyHubsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('runs').addColumn('hub', 'text').execute();
    await db.schema.alterTable('runs').addColumn('fire', 'text').execute();
    await db.schema.createIndex('runs_fire').unique().on('runs').column('fire').execute();
    for (const table of ['port_leases', 'vm_locks', 'disk_slots']) {
      await db.schema.alterTable(table).addColumn('hub', 'text').execute();
    }
    await db.schema
      .createTable('hub_processes')
      .addColumn('hub', 'text', (col) => col.notNull())
      .addColumn('hostname', 'text', (col) => col.notNull())
      .addColumn('pid', 'integer', (col) => col.notNull())
      .addColumn('started_at', 'text', (col) => col.notNull())
      .addColumn('beat_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('hub_processes_pk', ['hub', 'hostname', 'pid'])
      .execute();
    if (!dialectOf(db).sharedByHubs) return;
    await sql`create sequence backups_seq_order owned by backups.seq`.execute(db);
    await sql`select setval('backups_seq_order', coalesce((select max(seq) from backups), 0) + 1, false)`.execute(db);
    const ticks: [string, string][] = [
      ['port_leases', 'start_ticks'],
      ['processes', 'start_ticks'],
      ['vm_locks', 'start_ticks'],
      ['disk_slots', 'start_ticks'],
      ['file_mounts', 'server_start_ticks'],
      ['file_mounts', 'owner_start_ticks'],
    ];
    for (const [table, column] of ticks) {
      await db.schema
        .alterTable(table)
        .alterColumn(column, (col) => col.setDataType('bigint'))
        .execute();
    }
  },
};
