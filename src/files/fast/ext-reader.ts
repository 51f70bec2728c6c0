// An ext2/3/4 filesystem of a point read by e2fsprogs' debugfs in catastrophic mode (-c: read-only,
// no bitmaps), in the sandbox (./sandbox.ts), on the disk file nbdfuse shows (`FILE?offset=N`, a
// unix_io option). Paths are walked by inode number, never handed to debugfs as text.
// docs/file-level-restore.md#the-fast-path

import { isUtf8 } from 'node:buffer';
import { SendenseError } from '../../errors.js';
import type { EntryType, GuestEntry } from '../guest-files.js';
import { guestNameText } from '../guest-name.js';
import type { FastReader } from './fast-reader.js';
import { runSandboxed, streamSandboxed, type ReaderSandbox } from './sandbox.js';

const EXT_MAGIC = 0xef53;
const ROOT_INODE = 2;
const STEP_TIMEOUT_MS = 20_000;
const MAX_ANSWER = 256 * 1024 * 1024;
const STATS_PER_RUN = 2000;
const TYPES: Readonly<Record<number, EntryType>> = {
  0o100000: 'file',
  0o040000: 'directory',
  0o120000: 'symlink',
  0o020000: 'char',
  0o060000: 'block',
  0o010000: 'fifo',
  0o140000: 'socket',
};

/** A path the fast path does not take (a symlink among its folders): the appliance resolves it. */
export class NotForFastPath extends Error {}

/** Whether an ext2/3/4 superblock starts 1024 bytes into what `read` reads. */
export async function isExtFilesystem(read: (offset: number, length: number) => Promise<Buffer>): Promise<boolean> {
  const superblock = await read(1024, 1024);
  return superblock.readUInt16LE(56) === EXT_MAGIC;
}

interface Listed {
  readonly inode: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly name: Buffer;
}

export class ExtReader implements FastReader {
  readonly name = 'debugfs';

  constructor(
    /** The disk file (nbdfuse) and the filesystem's offset in it. */
    private readonly diskFile: string,
    private readonly offset: number,
    /** "p1 of VM pgtest1, backup X, disk 2000", for messages. */
    private readonly what: string,
    /** How debugfs runs (the point export's sandbox). */
    private readonly sandbox: () => ReaderSandbox,
    /** The filesystem's bytes: a file claiming more is the appliance's to read (FastReader). */
    readonly capacity = Number.MAX_SAFE_INTEGER,
  ) {}

  // A directory's entries sorted by name; a path that is not a directory lists as itself.
  async list(guestPath: string): Promise<readonly GuestEntry[]> {
    const self = await this.resolve(guestPath);
    if (typeOf(self.mode) !== 'directory') return this.entries([self]);
    return this.entries((await this.listInode(self.inode)).sort((a, b) => Buffer.compare(a.name, b.name)));
  }

  /** What a path is (itself, not what a symlink points to). */
  async stat(guestPath: string): Promise<GuestEntry> {
    return (await this.entries([await this.resolve(guestPath)]))[0];
  }

  /** A file's bytes (debugfs `cat`), streamed to `read`; no more than its size. */
  async fileBytes<T>(guestPath: string, read: (bytes: AsyncIterable<Buffer>) => Promise<T>): Promise<T> {
    const self = await this.resolve(guestPath);
    if (typeOf(self.mode) !== 'file') throw new SendenseError(`${this.what}: ${guestPath} is not a file`);
    const { value, stderr } = await streamSandboxed(
      ['debugfs', '-c', '-R', `cat <${self.inode}>`, `${this.diskFile}?offset=${this.offset}`],
      { sandbox: this.sandbox(), idleMs: STEP_TIMEOUT_MS, what: `debugfs reading ${guestPath} of ${this.what}` },
      read,
    );
    this.refuseComplaint(stderr);
    return value;
  }

  // The path walked by inode number from the root; a symlink among its folders is the appliance's.
  private async resolve(guestPath: string): Promise<Listed> {
    const names = guestPath.split('/').filter((part) => part !== '');
    let self: Listed = { inode: ROOT_INODE, mode: 0o040000, uid: 0, gid: 0, name: Buffer.from('/') };
    for (const [i, name] of names.entries()) {
      if (typeOf(self.mode) === 'symlink') throw new NotForFastPath();
      if (typeOf(self.mode) !== 'directory')
        throw new SendenseError(`${this.what}: /${names.slice(0, i).join('/')} is not a directory`);
      const found = (await this.listInode(self.inode)).find((entry) => entry.name.equals(Buffer.from(name, 'utf8')));
      if (found === undefined)
        throw new SendenseError(`${this.what}: /${names.slice(0, i + 1).join('/')}: No such file or directory`);
      self = found;
    }
    return self;
  }

  // One request (-R), or many on stdin (-f -, each echoed as "debugfs: REQUEST" before its answer).
  private async debugfs(requests: readonly string[]): Promise<Buffer> {
    const argv = ['debugfs', '-c', ...(requests.length === 1 ? ['-R', requests[0]] : ['-f', '-'])];
    const { stdout, stderr } = await runSandboxed([...argv, `${this.diskFile}?offset=${this.offset}`], {
      sandbox: this.sandbox(),
      input: requests.length === 1 ? undefined : `${requests.join('\n')}\n`,
      timeoutMs: STEP_TIMEOUT_MS,
      maxBytes: MAX_ANSWER,
      what: `debugfs reading ${this.what}`,
    });
    this.refuseComplaint(stderr);
    return stdout;
  }

  // debugfs says on stderr what it could not read, and still exits 0.
  private refuseComplaint(stderr: string): void {
    const complaint = stderr
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !/^debugfs \d/.test(line) && !/^checksum error/i.test(line));
    if (complaint.length > 0)
      throw new SendenseError(
        `${this.what} could not be read by debugfs: ${complaint[0].replaceAll(this.diskFile, 'the disk').slice(0, 300)}`,
      );
  }

  // `ls -p`: /INODE/MODE/UID/GID/NAME/SIZE/ per entry; a name holds no '/' but may hold a newline.
  private async listInode(inode: number): Promise<Listed[]> {
    const text = (await this.debugfs([`ls -p <${inode}>`])).toString('latin1');
    const entries: Listed[] = [];
    for (const m of text.matchAll(/\/(\d+)\/([0-7]+)\/(\d+)\/(\d+)\/([^/]*)\/(\d*)\/\n/g)) {
      const name = Buffer.from(m[5], 'latin1');
      if (m[1] === '0' || name.equals(Buffer.from('.')) || name.equals(Buffer.from('..'))) continue;
      entries.push({ inode: Number(m[1]), mode: Number.parseInt(m[2], 8), uid: Number(m[3]), gid: Number(m[4]), name });
    }
    return entries;
  }

  private async entries(listed: readonly Listed[]): Promise<GuestEntry[]> {
    const entries: GuestEntry[] = [];
    for (let i = 0; i < listed.length; i += STATS_PER_RUN) {
      const batch = listed.slice(i, i + STATS_PER_RUN);
      const stats = await this.stats(batch.map((entry) => entry.inode));
      for (const entry of batch) entries.push(await this.entry(entry, stats.get(entry.inode)));
    }
    return entries;
  }

  // `stat <INODE>` of many inodes in one run: Size, atime, mtime and a fast symlink's target.
  private async stats(inodes: readonly number[]): Promise<Map<number, string>> {
    const text = (await this.debugfs(inodes.map((inode) => `stat <${inode}>`))).toString('latin1');
    const stats = new Map<number, string>();
    for (const block of text.split(/^(?=Inode: \d+ )/m)) {
      const inode = /^Inode: (\d+) /.exec(block);
      if (inode) stats.set(Number(inode[1]), block);
    }
    return stats;
  }

  private async entry(listed: Listed, stat: string | undefined): Promise<GuestEntry> {
    if (stat === undefined) throw new SendenseError(`${this.what}: debugfs gave no stat of inode ${listed.inode}`);
    const size = /\bSize: (\d+)/.exec(stat);
    const type = typeOf(listed.mode);
    const entry: GuestEntry = {
      name: guestNameText(listed.name),
      ...(isUtf8(listed.name) ? {} : { nameBytes: listed.name }),
      type,
      size: size ? Number(size[1]) : 0,
      mode: listed.mode & 0o7777,
      uid: listed.uid,
      gid: listed.gid,
      mtime: inodeTime(stat, 'mtime'),
      atime: inodeTime(stat, 'atime'),
    };
    if (type !== 'symlink') return entry;
    const fast = /Fast link dest: "([^]*?)"\n/.exec(stat);
    const target = fast
      ? Buffer.from(fast[1], 'latin1')
      : await this.debugfs([`cat <${listed.inode}>`]).then((bytes) => bytes.subarray(0, entry.size));
    return { ...entry, target: guestNameText(target), ...(isUtf8(target) ? {} : { targetBytes: target }) };
  }
}

// " mtime: 0x6b09c39d:00000000 -- …": seconds (signed 32 bits), then 2 epoch bits and 30 bits of ns.
function inodeTime(stat: string, which: 'mtime' | 'atime'): number {
  const m = new RegExp(`^\\s*${which}: 0x([0-9a-f]{8})(?::([0-9a-f]{8}))?`, 'm').exec(stat);
  if (m === null) return 0;
  const seconds = Number.parseInt(m[1], 16) | 0;
  const extra = m[2] === undefined ? 0 : Number.parseInt(m[2], 16);
  return seconds + (extra & 3) * 2 ** 32 + Math.floor(extra / 4) / 1e9;
}

function typeOf(mode: number): EntryType {
  return TYPES[mode & 0o170000] ?? 'file';
}
