// Where a browse session's FIFOs are made (docs/file-level-restore.md#where-a-download-passes): a
// folder of its own in the temp directory, `sendense-browse-<pid>-XXXXXX`, 0700, holding an `owner`
// file with its process's owner tag (process/owner-tag.ts). A process killed with kill -9 cannot
// remove its folder: the next browse session of the same state database removes it, and so does
// doctor. Anyone can make names in the temp directory: only a real folder (not a symlink) of this
// user's, whose owner file names this state database and a process that is gone, is removed.

import { lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '../process/index.js';
import { parseOwnerTag, thisProcessOwnerTag } from '../process/owner-tag.js';
import { readOwnFile } from '../repository/new-file.js';

export const BROWSE_DIR_PREFIX = 'sendense-browse-';
const OWNER_FILE = 'owner';
// A tag is a PID, start ticks and the database's path or URL.
const MAX_OWNER_BYTES = 64 * 1024;

export interface DeadBrowseDir {
  readonly dir: string;
  readonly ownerPid: number;
}

// A new folder for this process (those its state database's dead processes left, removed first).
export function makeBrowseDir(base = tmpdir()): string {
  const tag = thisProcessOwnerTag();
  for (const dead of deadBrowseDirs(parseOwnerTag(tag)?.stateDatabase ?? '', base))
    rmSync(dead.dir, { recursive: true, force: true });
  const dir = mkdtempSync(path.join(base, `${BROWSE_DIR_PREFIX}${process.pid}-`));
  writeFileSync(path.join(dir, OWNER_FILE), tag, { mode: 0o600, flag: 'wx' });
  return dir;
}

// The folders of `base` left by processes of `stateDatabase` that are gone.
export function deadBrowseDirs(stateDatabase: string, base = tmpdir()): DeadBrowseDir[] {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  const found: DeadBrowseDir[] = [];
  for (const name of names.sort()) {
    if (!name.startsWith(BROWSE_DIR_PREFIX)) continue;
    const dir = path.join(base, name);
    if (!isOwnFolder(dir)) continue;
    const tag = readOwnerFile(dir);
    const owner = tag === undefined ? undefined : parseOwnerTag(tag);
    if (owner === undefined || owner.stateDatabase !== stateDatabase) continue;
    if (isProcessAlive(owner.pid, owner.startTicks)) continue;
    found.push({ dir, ownerPid: owner.pid });
  }
  return found;
}

function isOwnFolder(dir: string): boolean {
  try {
    const info = lstatSync(dir);
    const uid = process.getuid?.();
    return info.isDirectory() && (uid === undefined || info.uid === uid);
  } catch {
    return false;
  }
}

// Undefined when there is none yet (a folder being made) or it is not a plain file of this user's.
function readOwnerFile(dir: string): string | undefined {
  return readOwnFile(path.join(dir, OWNER_FILE), MAX_OWNER_BYTES);
}
