// What every command gets: the common options (docs/commands.md) and where to write.

import type { Output } from '../engine/output.js';

export interface CliContext extends Output {
  /** SQLite state file or postgres:// URL: --db, else $SENDENSE_DB, else the per-user default (src/store/default-db-path.ts). */
  readonly dbPath: string;
  /** --hub-config PATH (README.md, "Hub limits"); undefined = the default file, if any. */
  readonly hubConfig?: string;
}
