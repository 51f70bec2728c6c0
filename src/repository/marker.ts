// The file that says "this directory is a sendense-run repository": a restore refuses any target
// below a directory that holds one, even when this state database has never seen that repository.

import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';

export const REPOSITORY_MARKER = '.sendense-repository';

// Written once (O_EXCL: an existing marker is left as it is), private like every repository file.
export async function ensureRepositoryMarker(repository: string): Promise<void> {
  const text = `${JSON.stringify({ format: 'sendense-run repository', version: 1, created: new Date().toISOString() })}\n`;
  try {
    const file = await open(path.join(repository, REPOSITORY_MARKER), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    await file.writeFile(text);
    await file.close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
