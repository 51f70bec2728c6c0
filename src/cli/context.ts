// What every command gets: the common options (docs/commands.md) and where to write.

import { homedir } from 'node:os';
import path from 'node:path';
import type { Output } from '../engine/output.js';
import { resolveDatabase } from '../store/database-target.js';

export interface CliContext extends Output {
  /** SQLite state file or postgres:// URL: --db, else $SENDENSE_DB, else the per-user default (defaultDbPath). */
  readonly dbPath: string;
  /** --hub-config PATH (README.md, "Hub limits"); undefined = the default file, if any. */
  readonly hubConfig?: string;
}

// docs/commands.md (--db): $SENDENSE_DB, else one fixed place per user — never the current directory (a
// run from elsewhere would start a new chain beside the existing backups and add a bitmap).
export function defaultDbPath(
  env: NodeJS.ProcessEnv = process.env,
  uid = process.getuid?.() ?? -1,
  home = homedir(),
): string {
  if (env.SENDENSE_DB) return resolveDatabase(env.SENDENSE_DB);
  if (uid === 0) return '/var/lib/sendense/sendense.db';
  // The XDG base directory spec: a relative XDG_STATE_HOME is invalid and ignored.
  const stateHome =
    env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(home, '.local', 'state');
  return path.join(stateHome, 'sendense', 'sendense.db');
}
