// Where the state database is when no --db is given (docs/commands.md, --db).

import { homedir } from 'node:os';
import path from 'node:path';
import { resolveDatabase } from './database-target.js';

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
