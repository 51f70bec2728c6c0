// The SQLite driver for this Node.js: better-sqlite3 13 where Node-API 10 exists (Node.js 22.14+
// and 24), better-sqlite3 12 on Node.js 20.
//
// better-sqlite3 12 is built on node::ObjectWrap; from Node.js 24.19 its statements freed by the
// garbage collector abort the process (Assertion (env) != nullptr in
// RemoveEnvironmentCleanupHook). 13 is built on Node-API and ships its binaries for every
// platform inside the package, but needs Node-API 10, which Node.js 20 does not have (loading it
// there crashes). Both are installed (13 under the alias better-sqlite3-13) and the one this
// runtime can run is loaded; their JavaScript API is the same.

import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);

export function sqliteDriverName(napiVersion: number = Number(process.versions.napi)): string {
  return napiVersion >= 10 ? 'better-sqlite3-13' : 'better-sqlite3';
}

export const SqliteDatabase = require(sqliteDriverName()) as typeof BetterSqlite3;
export type SqliteDatabase = BetterSqlite3.Database;
