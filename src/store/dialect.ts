// What differs between the two databases behind the Store, in one place: which one a Kysely
// talks to, and how a read-then-write is made atomic across processes and hubs.

import { PostgresAdapter, sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

// Serializes transactions on one topic (port leases, VM locks, disk slots, backup order, fires).
// SQLite's transactions already start with BEGIN IMMEDIATE (one writer); on PostgreSQL a
// transaction-scoped advisory lock does the same per topic, across every hub.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function serialize(trx: Kysely<any>, topic: string): Promise<void> {
  if (!isPostgres(trx)) return;
  await sql`select pg_advisory_xact_lock(hashtext(${`sendense:${topic}`}))`.execute(trx);
}
