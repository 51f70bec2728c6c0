// The store's databases for tests, like kysely's tests loop over dialects: every case runs on a
// SQLite file and on a real PostgreSQL (one server per describe block, started before its first
// test and stopped after its last, even when they fail; a new database per test).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { startPostgres, type PostgresServer } from './postgres-server.js';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type Dialect = (typeof DIALECTS)[number];

// Registers the hooks: a PostgreSQL server for the tests of the enclosing describe block.
export function usePostgresServer(): { readonly server: PostgresServer } {
  let server: PostgresServer | undefined;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
    server = undefined;
  });
  return {
    get server() {
      if (!server) throw new Error('no PostgreSQL server outside a test');
      return server;
    },
  };
}

export interface StoreTarget {
  /** What --db / openStore takes: a file path or a postgres:// URL. */
  readonly db: string;
  /** A temp directory of the test (removed after). */
  readonly dir: string;
}

// Registers the hooks: a fresh database (and temp dir) for each test of the dialect.
export function useStoreTarget(dialect: Dialect): StoreTarget {
  let db: string | undefined;
  let dir: string | undefined;
  const postgres = dialect === 'postgres' ? usePostgresServer() : undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `sendense-${dialect}-`));
    db = postgres ? await postgres.server.createDatabase('store') : join(dir, 'state', 'sendense.db');
  });
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    db = dir = undefined;
  });
  return {
    get db() {
      if (!db) throw new Error('no database outside a test');
      return db;
    },
    get dir() {
      if (!dir) throw new Error('no temp dir outside a test');
      return dir;
    },
  };
}
