// Open (creating if needed) the SQLite state file and bring its schema up to date.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator } from 'kysely';
import { SendenseError } from '../errors.js';
import { ImmediateSqliteDialect } from './immediate-sqlite-dialect.js';
import { migrationProvider } from './migrations/index.js';
import type { StoreDatabase } from './schema.js';
import { sqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT_MS = 10_000;

// Switching to WAL needs an exclusive lock and SQLite does not wait for it through busy_timeout:
// several processes opening a new file at once retry here instead of failing.
function enableWal(database: Database.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      if (database.pragma('journal_mode', { simple: true }) === 'wal') return;
      database.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5 + Math.random() * 20);
    }
  }
}

// better-sqlite3 12 statements freed by the garbage collector abort the process on Node.js 24.19 and
// later (Assertion (env) != nullptr in RemoveEnvironmentCleanupHook); better-sqlite3 13 fixes it but
// needs Node.js >= 22. Refused in one line rather than a hub that dies at random mid-run.
export function refuseUnsafeNode(version: string = process.versions.node): void {
  const [major, minor] = version.split('.').map(Number);
  if ((major === 24 && minor >= 19) || major >= 25) {
    throw new SendenseError(
      `Node.js ${version} is not supported on the hub: its SQLite driver (better-sqlite3 12) can abort the process on Node.js 24.19 and later; run sendense-run on Node.js 20, 22 or 24.0-24.18 (the node transfer on a node may use any of them)`,
    );
  }
}

function openDatabase(dbPath: string): Database.Database {
  refuseUnsafeNode();
  try {
    // 0700: the state names every VM, disk and backup file.
    mkdirSync(path.dirname(dbPath), { recursive: true, mode: 0o700 });
    const database = new Database(dbPath);
    database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    enableWal(database);
    database.pragma('foreign_keys = ON');
    database.pragma('synchronous = NORMAL');
    return database;
  } catch (error) {
    throw new SendenseError(`cannot open state database ${dbPath}: ${(error as Error).message}`, { cause: error });
  }
}

export async function openStore(dbPath: string): Promise<Store> {
  const absolute = path.resolve(dbPath);
  const database = openDatabase(absolute);
  const db = new Kysely<StoreDatabase>({ dialect: new ImmediateSqliteDialect({ database }) });
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error !== undefined) {
    await db.destroy();
    const failed = results?.find((result) => result.status === 'Error')?.migrationName;
    throw new SendenseError(
      `cannot migrate state database ${absolute}${failed ? ` (migration ${failed})` : ''}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return sqliteStore(db);
}
