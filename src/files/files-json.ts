// What `files --json` prints for a filesystem and for a directory entry (docs/json-events.md),
// one shape for the command and the API's files routes.

import type { DiskLayout, Filesystem } from './filesystems.js';
import type { GuestEntry } from './guest-files.js';

export interface FilesystemJson extends Filesystem {
  readonly partitionTable: string;
}

export interface EntryJson {
  readonly name: string;
  readonly type: GuestEntry['type'];
  readonly size: number;
  /** Octal text, e.g. "0755". */
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  /** ISO-8601 UTC, whole milliseconds. */
  readonly mtime: string;
  readonly target?: string;
  /** base64 of a name that is not UTF-8. */
  readonly nameBytes?: string;
  readonly targetBytes?: string;
}

export function filesystemsJson(layout: DiskLayout): FilesystemJson[] {
  return layout.filesystems.map((fs) => ({ ...fs, partitionTable: layout.partitionTable }));
}

// Names exactly as they are (JSON escapes a newline); bytes that are not UTF-8 also in base64.
export function entryJson(entry: GuestEntry): EntryJson {
  const { atime: _atime, nameBytes, targetBytes, ...rest } = entry;
  return {
    ...rest,
    ...(nameBytes ? { nameBytes: nameBytes.toString('base64') } : {}),
    ...(targetBytes ? { targetBytes: targetBytes.toString('base64') } : {}),
    mode: `0${entry.mode.toString(8).padStart(3, '0')}`,
    mtime: isoTime(entry.mtime),
  };
}

export function isoTime(seconds: number): string {
  return new Date(Math.floor(seconds * 1000)).toISOString();
}
