// Where `serve --writable` keeps its overlays (docs/instant-recovery.md, "Where the overlays
// live"): serve-overlays/ beside the SQLite state database, or in this user's state directory when
// the state is in PostgreSQL. Private (0700: the overlays hold what the guest writes), this
// user's, and never inside a repository: a backup file is never written, nor anything beside it.

import { chmod, lstat } from 'node:fs/promises';
import path from 'node:path';
import { defaultDbPath } from '../store/default-db-path.js';
import { SendenseError } from '../errors.js';
import { createLocalNode } from '../node/local.js';
import { repositoryHolding } from '../repository/containing-repository.js';
import { makePrivateDirs } from '../repository/private-dirs.js';
import { isPostgresUrl } from '../store/database-target.js';
import type { Store } from '../store/index.js';

export const OVERLAY_DIR_NAME = 'serve-overlays';

export function overlayDirFor(dbPath: string): string {
  // With PostgreSQL: where this user's SQLite file would be by default (XDG_STATE_HOME honoured).
  const stateDir = isPostgresUrl(dbPath)
    ? path.dirname(defaultDbPath({ ...process.env, SENDENSE_DB: undefined }))
    : path.dirname(path.resolve(dbPath));
  return path.join(stateDir, OVERLAY_DIR_NAME);
}

// Creates it (0700) unless it exists as this user's own directory; refused inside any repository.
export async function prepareOverlayDir(store: Store, dir: string): Promise<void> {
  const known = [...new Set((await store.listBackups()).map((backup) => backup.repository))];
  const repository = await repositoryHolding(createLocalNode(), dir, known);
  if (repository !== undefined) {
    throw new SendenseError(
      `the overlay directory ${dir} is inside the repository ${repository}: serve --writable never writes into a repository (keep the state database outside it)`,
    );
  }
  await makePrivateDirs(dir);
  const stat = await lstat(dir);
  if (!stat.isDirectory())
    throw new SendenseError(
      `the overlay directory ${dir} is not a directory (a symlink or a file is never followed): remove it`,
    );
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid)
    throw new SendenseError(
      `the overlay directory ${dir} belongs to uid ${stat.uid}, not to this user (uid ${uid}): remove it`,
    );
  if ((stat.mode & 0o077) !== 0) await chmod(dir, 0o700);
}
