// Repository directories are private (0700: VM disks hold whatever the guests hold), and the ones
// a failed run created are removed again, so no empty disk-<key>/ is left behind.

import { mkdir, rmdir } from 'node:fs/promises';
import path from 'node:path';

// Creates dir and its missing parents as 0700; returns the directories it created, deepest first.
export async function makePrivateDirs(dir: string): Promise<readonly string[]> {
  const first = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (first === undefined) return [];
  const created: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    created.push(current);
    if (current === path.resolve(first) || current === path.dirname(current)) break;
  }
  return created;
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
