// The file that says "this directory is a sendense-run repository": a restore refuses any target
// below a directory that holds one, even when this state database has never seen that repository.
// It also records how the repository stores its backups (docs/encryption.md), fixed at creation.

import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';

export const REPOSITORY_MARKER = '.sendense-repository';

/** How every backup file of a repository is stored; a marker without these fields is a plain repository. */
export interface RepositorySettings {
  readonly encryption: 'luks' | 'none';
  readonly compression: 'zstd' | 'none';
}

// Undefined when the repository has no marker yet (never used).
export async function readRepositoryMarker(repository: string): Promise<RepositorySettings | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(repository, REPOSITORY_MARKER), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
  let marker: { encryption?: unknown; compression?: unknown };
  try {
    marker = JSON.parse(text) as typeof marker;
  } catch {
    throw new SendenseError(`${path.join(repository, REPOSITORY_MARKER)} is damaged (not JSON)`);
  }
  return {
    encryption: marker.encryption === 'luks' ? 'luks' : 'none',
    compression: marker.compression === 'zstd' ? 'zstd' : 'none',
  };
}

// Written once (O_EXCL: an existing marker is left as it is), private like every repository file.
export async function ensureRepositoryMarker(repository: string, settings: RepositorySettings): Promise<void> {
  const text = `${JSON.stringify({ format: 'sendense-run repository', version: 1, created: new Date().toISOString(), ...settings })}\n`;
  try {
    const file = await open(path.join(repository, REPOSITORY_MARKER), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    await file.writeFile(text);
    await file.sync();
    await file.close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
