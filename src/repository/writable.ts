// Whether a backup can write into its repository, asked before anything is taken: a read-only
// filesystem or a directory this user cannot write says so in one line naming the path (a mkdir
// into a read-only mount would only report ENOENT). docs/operations.md#installing-a-hub.

import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

// Undefined when the repository (or the nearest directory it would be created in) is writable.
export function repositoryWriteProblem(repository: string): string | undefined {
  let existing = path.resolve(repository);
  while (statOrNone(existing) === undefined && existing !== path.dirname(existing)) existing = path.dirname(existing);
  const where = existing === path.resolve(repository) ? '' : ` (it would be created in ${existing})`;
  if (!statSync(existing).isDirectory())
    return `repository ${repository} cannot be created: ${existing} is not a directory`;
  try {
    accessSync(existing, constants.W_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return `repository ${repository} is read-only (${existing} is on a read-only filesystem)`;
    if (code === 'EACCES' || code === 'EPERM') return `repository ${repository} is not writable by this user${where}`;
    return `repository ${repository} is not writable${where}: ${(error as Error).message}`;
  }
}

// A path that is not there, or lies under a plain file (ENOTDIR): undefined, so the walk goes up to that file.
function statOrNone(file: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}
