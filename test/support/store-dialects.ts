// The store's databases for tests, like kysely's tests loop over dialects: every case runs on a
// SQLite file and on a real PostgreSQL (one server per test file, started on first use and
// stopped after the file, even when it fails; a new database per test).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach } from 'vitest';
import { startPostgres, type PostgresServer } from './postgres-server.js';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type Dialect = (typeof DIALECTS)[number];

let server: Promise<PostgresServer> | undefined;

// The file's PostgreSQL server (started once; afterAll stops it).
export function postgresServer(): Promise<PostgresServer> {
  if (server === undefined) {
    server = startPostgres();
    afterAll(async () => {
      await (await server!).stop();
      server = undefined;
    });
  }
  return server;
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
  const started = dialect === 'postgres' ? postgresServer() : undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `sendense-${dialect}-`));
    db = started ? await (await started).createDatabase('store') : join(dir, 'state', 'sendense.db');
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
