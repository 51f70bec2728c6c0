// Repository directories are private (0700: VM disks hold whatever the guests hold), and the ones
// a failed run created are removed again, so no empty disk-<key>/ is left behind. Whoever can
// write the repository is an adversary (docs/threat-model.md): a folder inside it is never
// followed when it is a symlink, so a run, a merge or `protect` cannot be made to write, close or
// delete anything outside it. The repository's own path is the operator's and may be one.

import { constants } from 'node:fs';
import { lstat, mkdir, open, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import type { Backup } from '../store/index.js';
import { domainDefinitionFile } from './layout.js';

// Creates dir and its missing parents as 0700; returns the directories it created, deepest first.
// `within`: the repository dir is in, whose folders down to dir must be real ones (requireRealDirs),
// before and after.
export async function makePrivateDirs(dir: string, within?: string): Promise<readonly string[]> {
  if (within !== undefined) await requireRealDirs(within, dir);
  const first = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (within !== undefined) await requireRealDirs(within, dir);
  if (first === undefined) return [];
  const created: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    created.push(current);
    if (current === path.resolve(first) || current === path.dirname(current)) break;
  }
  return created;
}

/**
 * Each folder below `repository` down to `dir` (those that exist) is a real directory, not a
 * symlink; else a one-line error naming it, before anything is changed.
 */
export async function requireRealDirs(repository: string, dir: string): Promise<void> {
  const root = path.resolve(repository);
  const below = path.relative(root, path.resolve(dir));
  if (below === '') return;
  if (below.startsWith('..') || path.isAbsolute(below))
    throw new SendenseError(`${dir} is not inside the repository ${repository}: nothing was changed`);
  let current = root;
  for (const name of below.split(path.sep)) {
    current = path.join(current, name);
    let info;
    try {
      info = await lstat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    if (info.isSymbolicLink())
      throw new SendenseError(
        `${current} is a symlink inside the repository ${repository}, which is not followed: nothing was changed`,
      );
    if (!info.isDirectory())
      throw new SendenseError(`${current} in the repository ${repository} is not a directory: nothing was changed`);
  }
}

// The folders of a point's files and of its domain definition: real ones, not symlinks.
export async function requireRealPointDirs(
  backup: Pick<Backup, 'repository' | 'vm' | 'id'> & { readonly disks: readonly { readonly file: string }[] },
): Promise<void> {
  const files = [
    ...backup.disks.map((disk) => disk.file),
    domainDefinitionFile(backup.repository, backup.vm, backup.id),
  ];
  for (const file of files) await requireRealDirs(backup.repository, path.dirname(file));
}

// chmod 0700 of a directory itself, never of what a symlink put in its place points to.
export async function closeDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOOP') throw error;
    throw new SendenseError(`${dir} is a symlink, which is not followed: nothing was changed`);
  }
  try {
    await handle.chmod(0o700);
  } finally {
    await handle.close();
  }
}

// Removes those directories again where they are empty (rmdir never deletes content).
export async function removeEmptyDirs(created: readonly string[]): Promise<void> {
  for (const dir of created) {
    try {
      await rmdir(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
      if (code !== 'ENOENT') throw error;
    }
  }
}
