// What the fast path's readers of one filesystem do (docs/file-level-restore.md#the-fast-path):
// ext2/3/4 by debugfs (./ext-reader.ts), NTFS by ntfs-3g's tools (./ntfs-reader.ts), FAT by our
// sandboxed walker (./fat-reader.ts).

import type { GuestEntry } from '../guest-files.js';

/** Which reader listed a filesystem (said in --json and the API's answer). */
export type FilesReader = 'debugfs' | 'ntfs-3g' | 'fat-walker' | 'appliance';

export interface FastReader {
  readonly name: Exclude<FilesReader, 'appliance'>;
  /** The filesystem's bytes (its partition's size): a file claiming more is the appliance's to read. */
  readonly capacity: number;
  /** A directory's entries sorted by name (bytes); a path that is not a directory lists as itself. */
  list(guestPath: string): Promise<readonly GuestEntry[]>;
  /** What a path is (itself, not what a symlink points to). */
  stat(guestPath: string): Promise<GuestEntry>;
  /** A file's bytes, streamed to `read`. */
  fileBytes<T>(guestPath: string, read: (bytes: AsyncIterable<Buffer>) => Promise<T>): Promise<T>;
}
