// Replica points (docs/how-it-works.md#what-is-recorded-and-where): each sync of a `replicate` plan
// writes a new qcow2 layer per disk on the replica node; the hub keeps only these records of them,
// and of the one failover a plan may be in. Bytes and sizes are bigint, as in 001-initial.

import { sql, type Kysely, type Migration } from 'kysely';

export const replicaPointsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('replica_points')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('plan', 'text', (col) => col.notNull())
      .addColumn('vm', 'text', (col) => col.notNull())
      .addColumn('type', 'text', (col) => col.notNull().check(sql`type in ('full', 'incremental')`))
      .addColumn('chain_id', 'text', (col) => col.notNull())
      .addColumn('parent_id', 'text', (col) => col.references('replica_points.id'))
      // No CHECK on status: a new status must not need a table rebuild on SQLite (backups' 'damaged' had to go in a column of its own).
      .addColumn('status', 'text', (col) => col.notNull())
      .addColumn('run_id', 'text', (col) => col.notNull().references('runs.id'))
      .addColumn('source_node', 'text', (col) => col.notNull())
      .addColumn('replica_node', 'text', (col) => col.notNull())
      .addColumn('started_at', 'text', (col) => col.notNull())
      .addColumn('taken_at', 'text')
      .addColumn('completed_at', 'text')
      .addColumn('bytes', 'bigint')
      .addColumn('definition', 'text')
      .execute();
    await db.schema
      .createIndex('replica_points_plan_started')
      .on('replica_points')
      .columns(['plan', 'started_at'])
      .execute();
    await db.schema.createIndex('replica_points_run').on('replica_points').column('run_id').execute();

    await db.schema
      .createTable('replica_point_disks')
      .addColumn('point_id', 'text', (col) => col.notNull().references('replica_points.id').onDelete('cascade'))
      .addColumn('disk_key', 'integer', (col) => col.notNull())
      .addColumn('path', 'text', (col) => col.notNull())
      .addColumn('layer', 'text', (col) => col.notNull())
      .addColumn('virtual_size', 'bigint', (col) => col.notNull())
      .addColumn('change_id', 'text')
      .addColumn('bytes', 'bigint')
      .addColumn('source', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('replica_point_disks_pk', ['point_id', 'disk_key'])
      .execute();

    await db.schema
      .createTable('replica_failovers')
      .addColumn('plan', 'text', (col) => col.primaryKey())
      .addColumn('point_id', 'text', (col) => col.notNull().references('replica_points.id'))
      .addColumn('run_id', 'text', (col) => col.notNull().references('runs.id'))
      .addColumn('domain', 'text', (col) => col.notNull())
      .addColumn('node', 'text', (col) => col.notNull())
      .addColumn('at', 'text', (col) => col.notNull())
      .execute();
  },
};
