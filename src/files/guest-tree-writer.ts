// Writes a guest folder's tar entries (src/files/tar-entries.ts) under a host directory, deciding
// what a guest may create here: files (sparse: their zeros become holes), folders, symlinks and
// hard links, with modes, owners (when root) and times; never a device node or FIFO (skipped
// with a note), never a setuid/setgid bit unless asked, never a path outside the directory or
// through a symlink.

import { chmod, chown, lchown, link, lutimes, mkdir, symlink, utimes } from 'node:fs/promises';
import { SparseFile } from './sparse-file.js';
import type { TarEntry, TarEvent } from './tar-entries.js';

export interface GuestTreeOptions {
  /** Keep setuid/setgid bits (else they are cleared). */
  readonly keepSetuid: boolean;
  /** Give files the guest's owners (numeric ids); only root can. */
  readonly owners: boolean;
  /** An entry not written: its path inside the folder (bytes) and why. */
  readonly skipped: (name: Buffer, why: string) => void;
}

export const SKIPPED_TYPES: Readonly<Partial<Record<TarEntry['type'], string>>> = {
  char: 'a character device: device nodes are never created from a backup',
  block: 'a block device: device nodes are never created from a backup',
  fifo: 'a FIFO: FIFOs are never created from a backup',
};

interface Later {
  readonly at: Buffer;
  readonly entry: TarEntry;
}

// Writes every entry of `events` under `root` (which exists); returns the bytes of file data written.
export async function writeGuestTree(
  root: string,
  events: AsyncIterable<TarEvent>,
  options: GuestTreeOptions,
): Promise<number> {
  const rootBytes = Buffer.from(root, 'utf8');
  const at = (name: Buffer) => (name.length === 0 ? rootBytes : Buffer.concat([rootBytes, SLASH, name]));
  const key = (name: Buffer) => name.toString('latin1');
  const folders = new Set<string>(['']);
  const files = new Set<string>();
  const folderFacts: Later[] = [];
  const mode = (entry: TarEntry) => (options.keepSetuid ? entry.mode : entry.mode & ~0o6000);
  let open: { file: SparseFile; entry: TarEntry } | undefined;
  let bytes = 0;
  // tar_out keeps no access times: they are the time of the extraction, as tar -x makes them.
  const now = Date.now() / 1000;
  const closeOpen = async () => {
    if (open === undefined) return;
    const { file, entry } = open;
    open = undefined;
    bytes += await file.close({ ...owner(entry), mode: mode(entry), mtime: entry.mtime, atime: now });
  };
  try {
    for await (const event of events) {
      if (event.kind === 'data') {
        await open?.file.write(event.chunk);
        continue;
      }
      await closeOpen();
      const { entry } = event;
      const name = insideName(entry.name);
      if (name === undefined) {
        options.skipped(entry.name, 'a path that leaves the folder');
        continue;
      }
      if (!folders.has(key(parentOf(name)))) {
        options.skipped(name, 'its folder was not extracted');
        continue;
      }
      const why =
        SKIPPED_TYPES[entry.type] ??
        (entry.type === 'other' ? `a tar entry of type '${entry.flag}', which is not extracted` : undefined);
      if (why !== undefined) {
        options.skipped(name, why);
        continue;
      }
      if (entry.type === 'directory') {
        if (!folders.has(key(name))) {
          if (!(await created(() => mkdir(at(name), { mode: 0o700 })))) {
            options.skipped(name, 'it is in the folder twice');
            continue;
          }
          folders.add(key(name));
        }
        folderFacts.push({ at: at(name), entry });
      } else if (entry.type === 'file') {
        const file = await createdOrUndefined(() => SparseFile.create(at(name)));
        if (file === undefined) options.skipped(name, 'it is in the folder twice');
        else {
          open = { file, entry };
          files.add(key(name));
        }
      } else if (entry.type === 'symlink') {
        if (!(await created(() => symlink(entry.link, at(name))))) options.skipped(name, 'it is in the folder twice');
        else {
          if (options.owners) await lchown(at(name), entry.uid, entry.gid);
          await lutimes(at(name), now, entry.mtime);
        }
      } else if (entry.type === 'hardlink') {
        const source = insideName(entry.link);
        if (source === undefined || !files.has(key(source)))
          options.skipped(name, 'a hard link to a file that was not extracted');
        else if (!(await created(() => link(at(source), at(name))))) options.skipped(name, 'it is in the folder twice');
      }
    }
    await closeOpen();
  } finally {
    await open?.file.abandon();
  }
  // Folders last, deepest first: writing into one would move its time, a read-only one would stop it.
  for (const { at: folder, entry } of folderFacts.reverse()) {
    if (options.owners) await chown(folder, entry.uid, entry.gid);
    await chmod(folder, mode(entry));
    await utimes(folder, now, entry.mtime);
  }
  return bytes;

  function owner(entry: TarEntry): { uid?: number; gid?: number } {
    return options.owners ? { uid: entry.uid, gid: entry.gid } : {};
  }
}

const SLASH = Buffer.from('/');

// "./etc/hosts" -> "etc/hosts", "./" -> "" (the folder itself); undefined for a ".." component.
export function insideName(name: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i < name.length && name[i] !== 0x2f) continue;
    const part = name.subarray(start, i);
    start = i + 1;
    if (part.length === 0 || (part.length === 1 && part[0] === 0x2e)) continue;
    if (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e) return undefined;
    parts.push(part);
  }
  return Buffer.concat(parts.flatMap((part, i) => (i === 0 ? [part] : [SLASH, part])));
}

export function parentOf(name: Buffer): Buffer {
  const slash = name.lastIndexOf(0x2f);
  return slash < 0 ? Buffer.alloc(0) : name.subarray(0, slash);
}

// Runs a create; false when the name exists already.
async function created(create: () => Promise<unknown>): Promise<boolean> {
  return (await createdOrUndefined(async () => (await create(), true))) ?? false;
}

async function createdOrUndefined<T>(create: () => Promise<T>): Promise<T | undefined> {
  try {
    return await create();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  }
}
