// Open (creating if needed) the SQLite state file and bring its schema up to date.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, Migrator } from 'kysely';
import { SendenseError } from '../errors.js';
import { SqliteDatabase } from './sqlite-driver.js';
import { ImmediateSqliteDialect } from './immediate-sqlite-dialect.js';
import { migrationProvider } from './migrations/index.js';
import type { StoreDatabase } from './schema.js';
import { sqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT_MS = 10_000;

// Switching to WAL needs an exclusive lock and SQLite does not wait for it through busy_timeout:
// several processes opening a new file at once retry here instead of failing.
function enableWal(database: SqliteDatabase): void {
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

/** An empty state database in memory, gone when closed (--dry-run without a state file). */
export const IN_MEMORY = ':memory:';

function openDatabase(dbPath: string): SqliteDatabase {
  try {
    // 0700: the state names every VM, disk and backup file.
    if (dbPath !== IN_MEMORY) mkdirSync(path.dirname(dbPath), { recursive: true, mode: 0o700 });
    const database = new SqliteDatabase(dbPath);
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
  const absolute = dbPath === IN_MEMORY ? dbPath : path.resolve(dbPath);
  const database = openDatabase(absolute);
  const db = new Kysely<StoreDatabase>({ dialect: new ImmediateSqliteDialect({ database }) });
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error !== undefined) {
    await db.destroy();
    // A database a newer sendense-run has upgraded: say so, not "corrupted".
    const newer = /previously executed migration (\S+) is missing/.exec((error as Error).message);
    if (newer) {
      throw new SendenseError(
        `state database ${absolute} was upgraded by a newer sendense-run (it has migration ${newer[1]}, which this version does not know): run that version, or give another --db`,
        { cause: error },
      );
    }
    const failed = results?.find((result) => result.status === 'Error')?.migrationName;
    throw new SendenseError(
      `cannot migrate state database ${absolute}${failed ? ` (migration ${failed})` : ''}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return sqliteStore(db);
}
