// The order replica points were recorded in, as a column (`seq`), as 006 did for backups: which
// point is newest, which are folded first and which a failover starts must not follow the points'
// times, which a hub clock set back puts out of order (docs/replication.md#points). Existing rows
// are numbered by their times, the order used until now.

import { sql, type Kysely, type Migration } from 'kysely';
import { dialectOf } from '../dialect.js';

export const replicaPointOrderMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('replica_points').addColumn('seq', 'bigint').execute();
    await sql`update replica_points set seq = (select count(*) from replica_points older
      where older.started_at < replica_points.started_at
         or (older.started_at = replica_points.started_at and older.id <= replica_points.id))`.execute(db);
    await db.schema.createIndex('replica_points_seq').unique().on('replica_points').column('seq').execute();
    if (!dialectOf(db).sharedByHubs) return;
    await sql`create sequence replica_points_seq_order owned by replica_points.seq`.execute(db);
    await sql`select setval('replica_points_seq_order', coalesce((select max(seq) from replica_points), 0) + 1, false)`.execute(
      db,
    );
  },
};
