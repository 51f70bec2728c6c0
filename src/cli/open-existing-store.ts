// The state database for the commands that report on it (backups, history, doctor): a path with
// no database is said plainly and not created, so a mistyped --db never looks like an empty history.

import { statSync } from 'node:fs';
import { isPostgresUrl } from '../store/database-target.js';
import { openStore, type Store } from '../store/index.js';
import type { CliContext } from './context.js';

// Undefined (after saying so) when there is no database at cli.dbPath.
async function openExistingStore(cli: CliContext): Promise<Store | undefined> {
  if (!isMissing(cli.dbPath)) return openStore(cli.dbPath);
  // In --json mode stdout carries records only: the note goes to stderr.
  const out = cli.json ? cli.stderr : cli.stdout;
  out.write(
    `no state database at ${cli.dbPath}: nothing has run with it yet (give --db or $SENDENSE_DB to use another)\n`,
  );
  return undefined;
}

// use(store), closed after, or use(undefined) without a word when there is no database yet (status:
// plans that never ran are still shown).
export async function withStoreIfAny<T>(cli: CliContext, use: (store: Store | undefined) => Promise<T>): Promise<T> {
  if (isMissing(cli.dbPath)) return use(undefined);
  const store = await openStore(cli.dbPath);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

// Only a path that is not there counts as missing: an unreadable one is opened, and its error shown.
// A PostgreSQL database is never missing: connecting says what is wrong.
function isMissing(file: string): boolean {
  if (isPostgresUrl(file)) return false;
  try {
    statSync(file);
    return false;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR';
  }
}

// use(store), closed after; 0 without it when there is no database (said by openExistingStore).
export async function withExistingStore(cli: CliContext, use: (store: Store) => Promise<number>): Promise<number> {
  const store = await openExistingStore(cli);
  if (store === undefined) return 0;
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}
