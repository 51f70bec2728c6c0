// What differs between the two databases behind the Store, in one place, as what each can do:
// the rest of the store asks these facts and never which database it talks to.

import { PostgresAdapter, sql, type Kysely, type RawBuilder } from 'kysely';

export interface DialectFacts {
  /** Several hubs can share it (docs/operations.md): live holders are told by heartbeats, one schedule is shared. */
  readonly sharedByHubs: boolean;
  /** 026's backup_changes counts every change of a point (hubs sharing PostgreSQL would wait on one row). */
  readonly countsBackupChanges: boolean;
  /** Its rows carry a rowid in insertion order (006 numbered existing backups by it). */
  readonly hasRowid: boolean;
  /**
   * Serializes transactions on one topic (port leases, VM locks, disk slots, backup order, fires).
   * SQLite's transactions already start with BEGIN IMMEDIATE (one writer); on PostgreSQL a
   * transaction-scoped advisory lock does the same per topic, across every hub.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  serialize(trx: Kysely<any>, topic: string): Promise<void>;
  /** The next recording position of a backup, taken in its insert: hubs draw from a sequence. */
  nextBackupSeq(): RawBuilder<number>;
  /** The same for a replica point (019-replica-point-order). */
  nextReplicaPointSeq(): RawBuilder<number>;
  /**
   * Runs one write so that it is on disk at its commit, also after a power loss: SQLite's WAL with
   * synchronous NORMAL syncs only at checkpoints, FULL syncs at this commit; PostgreSQL syncs every
   * commit (synchronous_commit = on) already.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  durably(db: Kysely<any>, write: () => Promise<unknown>): Promise<void>;
  /** The time deltaMs ago as beat_at holds it (toISOString's form): the database's own clock when hubs share it. */
  timeAgo(deltaMs: number): string | RawBuilder<string>;
}

const SQLITE: DialectFacts = Object.freeze<DialectFacts>({
  sharedByHubs: false,
  countsBackupChanges: true,
  hasRowid: true,
  serialize: async () => undefined,
  nextBackupSeq: () => sql<number>`(select coalesce(max(seq), 0) + 1 from backups)`,
  nextReplicaPointSeq: () => sql<number>`(select coalesce(max(seq), 0) + 1 from replica_points)`,
  async durably(db, write) {
    await sql`pragma synchronous = FULL`.execute(db);
    try {
      await write();
    } finally {
      await sql`pragma synchronous = NORMAL`.execute(db);
    }
  },
  timeAgo: (deltaMs) => new Date(Date.now() - deltaMs).toISOString(),
});

const POSTGRES: DialectFacts = Object.freeze<DialectFacts>({
  sharedByHubs: true,
  countsBackupChanges: false,
  hasRowid: false,
  async serialize(trx, topic) {
    await sql`select pg_advisory_xact_lock(hashtext(${`sendense:${topic}`}))`.execute(trx);
  },
  nextBackupSeq: () => sql<number>`nextval('backups_seq_order')`,
  nextReplicaPointSeq: () => sql<number>`nextval('replica_points_seq_order')`,
  async durably(_db, write) {
    await write();
  },
  // One clock for every hub: the database server's.
  timeAgo: (deltaMs) =>
    sql<string>`to_char((now() - make_interval(secs => ${deltaMs / 1000})) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
export function dialectOf(db: Kysely<any>): DialectFacts {
  return db.getExecutor().adapter instanceof PostgresAdapter ? POSTGRES : SQLITE;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
export async function serialize(trx: Kysely<any>, topic: string): Promise<void> {
  await dialectOf(trx).serialize(trx, topic);
}
