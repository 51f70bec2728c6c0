// The state in PostgreSQL (docs/how-it-works.md#scale): a pg Pool behind kysely's PostgresDialect. The
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

export function postgresConfig(url: string): { config: pg.ClientConfig; target: PostgresTarget } {
  const target = parsePostgresUrl(url);
  const password = passwordFromFile();
  const config: pg.ClientConfig = {
    host: target.host,
    port: target.port,
    database: target.database,
    ...(target.user ? { user: target.user } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(target.params.sslmode && target.params.sslmode !== 'disable'
      ? { ssl: { rejectUnauthorized: target.params.sslmode === 'verify-full' } }
      : {}),
    application_name: 'sendense-run',
    connectionTimeoutMillis: 10_000,
    types,
  };
  return { config, target };
}

// One connection first, closed either way: a refused login leaves pg's socket open until the
// server's authentication timeout (a minute) when it fails inside a pool, keeping the process alive.
export async function checkConnection(config: pg.ClientConfig): Promise<void> {
  const client = new pg.Client(config);
  client.on('error', () => {});
  try {
    await client.connect();
    await client.end();
  } catch (error) {
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    throw error;
  }
}

export function openPostgres(config: pg.ClientConfig, connections = 4): Kysely<StoreDatabase> {
  const pool = new pg.Pool({ ...config, max: connections });
  // A client's connection error (a server restart, a network cut) must not crash the process; the
  // next query on it reports it. The pool listens while a client is idle, not while it is checked
  // out (kysely holds one through a transaction): each client gets a listener of its own.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return new Kysely<StoreDatabase>({ dialect: new PostgresDialect({ pool }) });
}

// One line naming the database by its URL (no password in it), e.g. for a refused connection.
export function postgresError(target: PostgresTarget, doing: string, error: unknown): SendenseError {
  const code = (error as { code?: string }).code;
  let message = (error as Error).message || code || String(error);
  // pg's words when the server asks for a password and none was found.
  if (/client password must be a string/.test(message))
    message = 'the server wants a password: set PGPASSWORD, ~/.pgpass or $SENDENSE_DB_PASSWORD_FILE';
  return new SendenseError(`cannot ${doing} state database ${target.display}: ${message}`, { cause: error });
}
