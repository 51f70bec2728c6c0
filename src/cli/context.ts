// What every command gets: the common options (SPEC section 5) and where to write.

import path from 'node:path';

export interface CliContext {
  /** SQLite state file: --db, else $SENDENSE_DB, else ./sendense.db. */
  readonly dbPath: string;
  /** --json: one JSON object per line instead of the human view. */
  readonly json: boolean;
  readonly quiet: boolean;
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}

export type Command = (context: CliContext, args: readonly string[]) => Promise<number>;

export function defaultDbPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.SENDENSE_DB ?? 'sendense.db');
}
