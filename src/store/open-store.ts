// Open the state (a SQLite file, created if needed, or a PostgreSQL database by URL) and bring
// its schema up to date.

import { accessSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import { Kysely, Migrator, type MigrationProvider } from 'kysely';
import { SendenseError } from '../errors.js';
import { SqliteDatabase } from './sqlite-driver.js';
import { ImmediateSqliteDialect } from './immediate-sqlite-dialect.js';
import { MIGRATION_NAMES } from './migrations/names.js';
import type { StoreDatabase } from './schema.js';
import { sqlStore } from './sql-store.js';
import { isPostgresUrl } from './database-target.js';
import { defaultSelf, startHeartbeat } from './hub-liveness.js';
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
    if (dbPath !== IN_MEMORY) {
      mkdirSync(path.dirname(dbPath), { recursive: true, mode: 0o700 });
      createPrivately(dbPath);
      // SQLite would open a file it may not write read-only, and fail at the first write.
      const hint = accessHint(dbPath);
      if (hint !== '') throw new Error('not writable by this user');
    }
    const database = new SqliteDatabase(dbPath);
    database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    enableWal(database);
    database.pragma('foreign_keys = ON');
    database.pragma('synchronous = NORMAL');
    return database;
  } catch (error) {
    throw new SendenseError(`cannot open state database ${dbPath}: ${(error as Error).message}${accessHint(dbPath)}`, {
      cause: error,
    });
  }
}

// Why SQLite could not open it when that is the file's owner and mode (a state made by root, a
// command run as another user): said with the fix.
function accessHint(dbPath: string): string {
  if (dbPath === IN_MEMORY) return '';
  try {
    accessSync(dbPath, constants.R_OK | constants.W_OK);
    accessSync(path.dirname(dbPath), constants.W_OK | constants.X_OK);
    return '';
  } catch {
    const stat = statSync(dbPath, { throwIfNoEntry: false });
    const owner = stat
      ? `it belongs to uid ${stat.uid}, mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}`
      : 'its folder is not writable';
    return ` (permission denied for this user, uid ${process.getuid?.() ?? '?'}: ${owner}; run as the user that owns the state, e.g. the service's, or give another --db)`;
  }
}

// A new state file is 0600 from its first byte, whoever makes it (SQLite would make it 0644, and
// its -wal and -shm copy its mode). An empty file is an empty database; an existing one is left as it is.
function createPrivately(dbPath: string): void {
  try {
    closeSync(
      openSync(dbPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600),
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

export interface OpenStoreOptions {
  /** The hub this process belongs to (hub config name); default the host name. */
  readonly hub?: string;
}

// A path (SQLite) or a postgres:// / postgresql:// URL.
export async function openStore(dbPath: string, options: OpenStoreOptions = {}): Promise<Store> {
  const self = defaultSelf(options.hub);
  if (isPostgresUrl(dbPath)) return openPostgresStore(dbPath, self);
  const absolute = dbPath === IN_MEMORY ? dbPath : path.resolve(dbPath);
  const database = openDatabase(absolute);
  const db = new Kysely<StoreDatabase>({ dialect: new ImmediateSqliteDialect({ database }) });
  if (!isCurrent(database)) await migrate(db, absolute);
  return sqlStore(db, { self });
}

// Loaded only for a PostgreSQL URL: pg (and the fetch stack it touches) costs a SQLite run ~45 ms.
async function openPostgresStore(url: string, self: ReturnType<typeof defaultSelf>): Promise<Store> {
  const { checkConnection, openPostgres, postgresConfig, postgresError } = await import('./open-postgres.js');
  const { config, target } = postgresConfig(url);
  try {
    await checkConnection(config);
  } catch (error) {
    throw postgresError(target, 'connect to', error);
  }
  const db = openPostgres(config);
  await migrate(db, target.display);
  // Other hubs judge this process by its heartbeat (hub-liveness.ts): beat before any row is
  // written, on a connection of its own, so a beat never waits behind the store's queries.
  // A beat that hangs (the database unreachable, no answer at all) must not hold the next ones
  // nor the close: each gives up after two intervals.
  const beatDb = openPostgres({ ...config, query_timeout: 2 * self.beatMs }, 1);
  const heartbeat = startHeartbeat(beatDb, self, target.display, () => {});
  const stopBeating = async () => {
    try {
      await heartbeat.stop();
    } finally {
      await beatDb.destroy();
    }
  };
  try {
    await heartbeat.beat();
  } catch (error) {
    await stopBeating().catch(() => {});
    await db.destroy();
    throw postgresError(target, 'write to', error);
  }
  return sqlStore(db, { self, beforeClose: stopBeating, fenced: heartbeat.fenced });
}

// The schema holds exactly the migrations this version knows: nothing to do, and the migrator
// (its lock, its own tables' checks, ~20 ms per run) is not needed. Anything else, including a
// database another process is migrating right now, goes through the migrator.
function isCurrent(database: SqliteDatabase): boolean {
  try {
    const applied = database.prepare('SELECT name FROM kysely_migration ORDER BY name').pluck().all() as string[];
    return applied.length === MIGRATION_NAMES.length && applied.every((name, index) => name === MIGRATION_NAMES[index]);
  } catch {
    return false; // no migration table yet: a new database
  }
}

// Concurrent openers are safe: kysely's Migrator locks (a table on SQLite inside BEGIN
// IMMEDIATE, an advisory lock on PostgreSQL).
async function migrate(db: Kysely<StoreDatabase>, name: string): Promise<void> {
  const { migrationProvider }: { migrationProvider: MigrationProvider } = await import('./migrations/index.js');
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error === undefined) return;
  await db.destroy();
  // A database a newer sendense-run has upgraded: say so, not "corrupted".
  const newer = /previously executed migration (\S+) is missing/.exec((error as Error).message);
  if (newer) {
    throw new SendenseError(
      `state database ${name} was upgraded by a newer sendense-run (it has migration ${newer[1]}, which this version does not know): run that version, or give another --db`,
      {
        cause: error,
      },
    );
  }
  const failed = results?.find((result) => result.status === 'Error')?.migrationName;
  throw new SendenseError(
    `cannot migrate state database ${name}${failed ? ` (migration ${failed})` : ''}: ${(error as Error).message}`,
    { cause: error },
  );
}
