// Reading a point's files through one appliance: which filesystem a short name is, mounting it
// read-only (one at a time, at the appliance's /), listing and stat'ing paths inside it.

import { isUtf8 } from 'node:buffer';
import { SendenseError } from '../errors.js';
import type { Filesystem, DiskLayout } from './filesystems.js';
import { readable } from './filesystems.js';
import { GuestfsCallError, type GuestfsAgent } from './guestfs-agent.js';
import { guestNameText } from './guest-name.js';
import { formatGuestPath, type GuestPath } from './guest-path.js';

export type EntryType = 'file' | 'directory' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface GuestEntry {
  /** The name; when its bytes are not UTF-8, escaped (\\xNN) and the bytes in nameBytes. */
  readonly name: string;
  readonly nameBytes?: Buffer;
  readonly type: EntryType;
  readonly size: number;
  /** Permission bits with setuid/setgid/sticky, e.g. 0o644. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch (with the fraction the filesystem keeps). */
  readonly mtime: number;
  readonly atime: number;
  /** Symlinks only; escaped like name when not UTF-8, the bytes in targetBytes. */
  readonly target?: string;
  readonly targetBytes?: Buffer;
}

interface StatNs {
  readonly st_mode: number;
  readonly st_size: number;
  readonly st_uid: number;
  readonly st_gid: number;
  readonly st_ino: number;
  readonly st_mtime_sec: number;
  readonly st_mtime_nsec: number;
  readonly st_atime_sec: number;
  readonly st_atime_nsec: number;
}

const TYPES: Readonly<Record<number, EntryType>> = {
  0o100000: 'file',
  0o040000: 'directory',
  0o120000: 'symlink',
  0o020000: 'char',
  0o060000: 'block',
  0o010000: 'fifo',
  0o140000: 'socket',
};
const BATCH = 1000;

export class GuestFiles {
  private mounted: string | undefined;

  constructor(
    readonly agent: GuestfsAgent,
    readonly layout: DiskLayout,
    /** Where the files come from, for messages: "VM pgtest1, backup X, disk 2000". */
    readonly where: string,
  ) {}

  filesystem(name: string): Filesystem {
    const fs = this.layout.filesystems.find((candidate) => candidate.name === name);
    if (fs === undefined) {
      const names = this.layout.filesystems.filter(readable).map((candidate) => candidate.name);
      throw new SendenseError(
        `${this.where} has no filesystem '${name}' (${names.length ? `it has ${names.join(', ')}` : 'it has none that can be read'})`,
      );
    }
    if (!readable(fs))
      throw new SendenseError(
        `${name} of ${this.where} is ${fs.type === 'unknown' ? 'not a filesystem that can be read' : `${fs.type}, not a filesystem`}`,
      );
    return fs;
  }

  // The filesystem mounted read-only at the appliance's / (another one is unmounted first).
  async use(name: string): Promise<Filesystem> {
    const fs = this.filesystem(name);
    if (this.mounted === fs.device) return fs;
    if (this.mounted !== undefined) await this.agent.call('umount_all');
    this.mounted = undefined;
    try {
      await this.agent.call('mount_ro', [fs.device, '/']);
    } catch (error) {
      throw new SendenseError(`could not mount ${name} (${fs.type}) of ${this.where}: ${guestfsMessage(error)}`, {
        cause: error,
      });
    }
    this.mounted = fs.device;
    return fs;
  }

  async stat(where: GuestPath): Promise<GuestEntry> {
    await this.use(where.fs);
    let stat: StatNs;
    try {
      // A struct comes back as a flattened hash.
      stat = (await this.agent.hash('lstatns', [where.path])) as unknown as StatNs;
    } catch (error) {
      throw new SendenseError(`${formatGuestPath(where)}: ${guestfsMessage(error)} (in ${this.where})`, {
        cause: error,
      });
    }
    const name = where.path === '/' ? '/' : where.path.slice(where.path.lastIndexOf('/') + 1);
    const entry = toEntry(name, stat);
    if (entry.type !== 'symlink') return entry;
    const [target] = (await this.agent.callBytes('readlink', [where.path])) as Buffer[];
    return { ...entry, target: guestNameText(target), ...(isUtf8(target) ? {} : { targetBytes: target }) };
  }

  // A directory's entries sorted by name; a path that is not a directory lists as itself.
  async list(where: GuestPath): Promise<readonly GuestEntry[]> {
    const self = await this.stat(where);
    if (self.type !== 'directory') return [self];
    // Names as bytes, passed back as bytes: one that is not UTF-8 must still be found.
    const names = ((await this.agent.callBytes('ls', [where.path])) as Buffer[]).sort(Buffer.compare);
    const entries: GuestEntry[] = [];
    for (let i = 0; i < names.length; i += BATCH) {
      const batch = names.slice(i, i + BATCH);
      const stats = (await this.agent.call('lstatnslist', [where.path, batch])) as StatNs[];
      const links = batch.filter((_, j) => typeOf(Number(stats[j].st_mode)) === 'symlink');
      const targets = links.length
        ? ((await this.agent.callBytes('readlinklist', [where.path, links])) as Buffer[])
        : [];
      batch.forEach((name, j) => {
        const entry: GuestEntry = {
          ...toEntry(guestNameText(name), stats[j]),
          ...(isUtf8(name) ? {} : { nameBytes: name }),
        };
        const target = targets[links.indexOf(name)];
        if (entry.type !== 'symlink' || target === undefined) entries.push(entry);
        else
          entries.push({ ...entry, target: guestNameText(target), ...(isUtf8(target) ? {} : { targetBytes: target }) });
      });
    }
    return entries;
  }
}

function typeOf(mode: number): EntryType {
  return TYPES[mode & 0o170000] ?? 'file';
}

function toEntry(name: string, stat: StatNs): GuestEntry {
  const mode = Number(stat.st_mode);
  return {
    name,
    type: typeOf(mode),
    size: Number(stat.st_size),
    mode: mode & 0o7777,
    uid: Number(stat.st_uid),
    gid: Number(stat.st_gid),
    mtime: Number(stat.st_mtime_sec) + Number(stat.st_mtime_nsec) / 1e9,
    atime: Number(stat.st_atime_sec) + Number(stat.st_atime_nsec) / 1e9,
  };
}

// "lstatns: /x: No such file or directory" -> "No such file or directory".
export function guestfsMessage(error: unknown): string {
  const message = error instanceof GuestfsCallError ? error.message : String((error as Error)?.message ?? error);
  const parts = message.split(': ');
  return parts.length > 2 ? parts.slice(2).join(': ') : parts[parts.length - 1];
}

// A libguestfs call that failed where no step gave it context (an I/O error in the guest
// filesystem, the appliance dying) is still a fact about the backup, not a bug: one line.
export function asUserError(error: unknown): unknown {
  if (error instanceof GuestfsCallError)
    return new SendenseError(`libguestfs ${error.method}: ${error.message}`, { cause: error });
  if (error instanceof Error && error.message.startsWith('the libguestfs agent ended'))
    return new SendenseError(error.message, { cause: error });
  return error;
}
