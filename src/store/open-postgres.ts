// The state in PostgreSQL (SPEC section 12): a pg Pool behind kysely's PostgresDialect. The
// password never comes from the URL (database-target.ts); errors name the database by its URL,
// which has none.

import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { SendenseError } from '../errors.js';
import { parsePostgresUrl, passwordFromFile, type PostgresTarget } from './database-target.js';
import type { StoreDatabase } from './schema.js';

// int8 (bigint: sizes, bytes, sequences) as a JavaScript number: every size fits in 2^53.
const INT8_OID = 20;
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

export function openPostgres(url: string): { db: Kysely<StoreDatabase>; target: PostgresTarget; pool: pg.Pool } {
  const target = parsePostgresUrl(url);
  const password = passwordFromFile();
  const pool = new pg.Pool({
    host: target.host,
    port: target.port,
    database: target.database,
    ...(target.user ? { user: target.user } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(target.params.sslmode && target.params.sslmode !== 'disable' ? { ssl: { rejectUnauthorized: target.params.sslmode === 'verify-full' } } : {}),
    application_name: 'sendense-run',
    max: 4,
    connectionTimeoutMillis: 10_000,
    types,
  });
  // An idle client's error (server restart) must not crash the process; the next query reports it.
  pool.on('error', () => {});
  return { db: new Kysely<StoreDatabase>({ dialect: new PostgresDialect({ pool }) }), target, pool };
}

// One line naming the database by its URL (no password in it), e.g. for a refused connection.
export function postgresError(target: PostgresTarget, doing: string, error: unknown): SendenseError {
  const code = (error as { code?: string }).code;
  const message = (error as Error).message || code || String(error);
  return new SendenseError(`cannot ${doing} state database ${target.display}: ${message}`, { cause: error });
}
