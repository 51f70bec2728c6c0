// A guest folder's tar entries (src/files/tar-entries.ts) as an archive for a client may hold
// them, decided as an extraction into a directory decides (src/files/guest-tree-writer.ts):
// files, folders, symlinks (as links, never followed) and hard links, every name inside the
// folder; never a device node or FIFO (skipped, said), no setuid/setgid bit unless asked.

import { insideName, parentOf, SKIPPED_TYPES } from '../../files/guest-tree-writer.js';
import type { TarEntry, TarEvent } from '../../files/tar-entries.js';

export interface ArchiveEntry {
  /** Path inside the folder, '/'-separated bytes; empty for the folder (or file) itself. */
  readonly name: Buffer;
  readonly type: 'file' | 'directory' | 'symlink' | 'hardlink';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  /** A symlink's target as the guest has it, or a hard link's source (a name inside the folder). */
  readonly link: Buffer;
}

export type ArchiveEvent =
  { readonly kind: 'entry'; readonly entry: ArchiveEntry } | { readonly kind: 'data'; readonly chunk: Buffer };

export interface ArchiveEntryOptions {
  readonly keepSetuid: boolean;
  /** An entry left out: its path inside the folder and why. */
  readonly skipped: (name: Buffer, why: string) => void;
}

export async function* archiveEvents(
  events: AsyncIterable<TarEvent>,
  options: ArchiveEntryOptions,
): AsyncGenerator<ArchiveEvent> {
  const key = (name: Buffer) => name.toString('latin1');
  const folders = new Set<string>(['']);
  const names = new Set<string>();
  const files = new Set<string>();
  let passing = false;
  for await (const event of events) {
    if (event.kind === 'data') {
      if (passing) yield event;
      continue;
    }
    passing = false;
    const { entry } = event;
    const name = insideName(entry.name);
    const why = name === undefined ? 'a path that leaves the folder' : refusal(entry, name);
    if (why !== undefined) {
      options.skipped(name ?? entry.name, why);
      continue;
    }
    names.add(key(name!));
    if (entry.type === 'directory') folders.add(key(name!));
    if (entry.type === 'file') files.add(key(name!));
    passing = entry.type === 'file';
    yield {
      kind: 'entry',
      entry: {
        ...entry,
        name: name!,
        type: entry.type as ArchiveEntry['type'],
        mode: options.keepSetuid ? entry.mode : entry.mode & ~0o6000,
        link: entry.type === 'hardlink' ? insideName(entry.link)! : entry.link,
      },
    };
  }

  function refusal(entry: TarEntry, name: Buffer): string | undefined {
    if (name.length > 0 && !folders.has(key(parentOf(name)))) return 'its folder was not extracted';
    const skippedType =
      SKIPPED_TYPES[entry.type] ??
      (entry.type === 'other' ? `a tar entry of type '${entry.flag}', which is not extracted` : undefined);
    if (skippedType !== undefined) return skippedType;
    if (names.has(key(name))) return 'it is in the folder twice';
    if (entry.type === 'hardlink') {
      const source = insideName(entry.link);
      if (source === undefined || !files.has(key(source))) return 'a hard link to a file that was not extracted';
    }
    return undefined;
  }
}

// A lone file (or symlink) as the one entry of an archive, its bytes following.
export async function* singleEntry(
  entry: ArchiveEntry,
  bytes: AsyncIterable<Buffer> | Iterable<Buffer>,
): AsyncGenerator<ArchiveEvent> {
  yield { kind: 'entry', entry };
  for await (const chunk of bytes) yield { kind: 'data', chunk };
}
