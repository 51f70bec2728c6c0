// fsync of a file or a directory by its path: what a write through the page cache needs before
// the repository may depend on it (a new backup file, a directory entry after a rename).

import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

export async function syncPath(file: string): Promise<void> {
  const handle = await open(file, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
