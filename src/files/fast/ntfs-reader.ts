// An NTFS filesystem of a point read by ntfs-3g's own tools (ntfsls, ntfscat, ntfsinfo) in the
// sandbox (./sandbox.ts), on its partition shown as a file of its own (they take no offset). What
// they give is turned into what the appliance's ntfs-3g mount shows: mode 0777, owner root,
// times of $STANDARD_INFORMATION to 100 ns, a folder's size its index's, Interix symlinks, FIFOs
// and sockets. Each tool runs with -f: a volume marked dirty (any crash-consistent snapshot of a
// running Windows) is read, as the appliance's read-only mount reads it. A reparse point (a junction, a Windows symlink), an Interix device or a name the
// tools cannot print on one line is the appliance's. docs/file-level-restore.md#the-fast-path

import { isUtf8 } from 'node:buffer';
import { SendenseError } from '../../errors.js';
import type { EntryType, GuestEntry } from '../guest-files.js';
import { guestNameText } from '../guest-name.js';
import { NotForFastPath } from './ext-reader.js';
import type { FastReader } from './fast-reader.js';
import { runSandboxed, streamSandboxed, type ReaderSandbox } from './sandbox.js';

const ROOT_INODE = 5;
const STEP_TIMEOUT_MS = 20_000;
const MAX_ANSWER = 64 * 1024 * 1024;
// Entries whose facts one shell run reads (argv stays well under its limit).
const PER_RUN = 2000;
// Shells reading one batch's $STANDARD_INFORMATION at once.
const SHELLS = 4;
// What follows each answer in a batch's output.
const END = '\n--sendense-ntfs-end--\n';
// 100 ns units between 1601-01-01 and 1970-01-01.
const EPOCH_DIFFERENCE = 116_444_736_000_000_000n;
const ATTR_HIDDEN = 0x2;
const ATTR_SYSTEM = 0x4;
const ATTR_REPARSE_POINT = 0x400;
// Interix special files (what ntfs-3g reads as a symlink or a device): an 8-byte magic, then the target in UTF-16LE.
const INTERIX_HEADER = 8;
const INTERIX_MAX = INTERIX_HEADER + 2 * 4096;
const INTERIX_SYMLINK = Buffer.from('IntxLNK\x01', 'latin1');
const INTERIX_DEVICES = [Buffer.from('IntxCHR\0', 'latin1'), Buffer.from('IntxBLK\0', 'latin1')];

/** Whether an NTFS boot sector starts what `read` reads ("NTFS    " at byte 3). */
export async function isNtfsFilesystem(read: (offset: number, length: number) => Promise<Buffer>): Promise<boolean> {
  return (await read(0, 512)).toString('latin1', 3, 11) === 'NTFS    ';
}

interface Listed {
  readonly inode: number;
  readonly directory: boolean;
  /** The data size ntfsls says (0 for a folder). */
  readonly size: number;
  readonly name: Buffer;
}

export class NtfsReader implements FastReader {
  readonly name = 'ntfs-3g';

  constructor(
    /** The partition as a file of its own (PointExport.partitionFile). */
    private readonly partitionFile: string,
    /** "p2 of VM win1, backup X, disk 2000", for messages. */
    private readonly what: string,
    private readonly sandbox: () => ReaderSandbox,
    readonly capacity: number,
  ) {}

  // A directory's entries sorted by name; a path that is not a directory lists as itself.
  async list(guestPath: string): Promise<readonly GuestEntry[]> {
    const { self, path } = await this.resolve(guestPath);
    if (!self.directory) return this.entries([self]);
    return this.entries((await this.listDirectory(path)).sort((a, b) => Buffer.compare(a.name, b.name)));
  }

  async stat(guestPath: string): Promise<GuestEntry> {
    return (await this.entries([(await this.resolve(guestPath)).self]))[0];
  }

  /** A file's bytes (ntfscat of its inode), streamed to `read`. */
  async fileBytes<T>(guestPath: string, read: (bytes: AsyncIterable<Buffer>) => Promise<T>): Promise<T> {
    const entry = await this.stat(guestPath);
    if (entry.type !== 'file') throw new SendenseError(`${this.what}: ${guestPath} is not a file`);
    // A size past the partition: zeros ntfscat would stream for ever when crafted (a sparse giant is the appliance's).
    if (entry.size > this.capacity) throw new NotForFastPath();
    const { self } = await this.resolve(guestPath);
    const { value } = await streamSandboxed(
      ['ntfscat', '-f', '-i', String(self.inode), this.partitionFile],
      { sandbox: this.sandbox(), idleMs: STEP_TIMEOUT_MS, what: `ntfscat reading ${guestPath} of ${this.what}` },
      read,
    );
    return value;
  }

  // Each folder of the path listed and its name found as bytes (ntfs-3g's own lookup may ignore case).
  private async resolve(guestPath: string): Promise<{ readonly self: Listed; readonly path: string }> {
    const names = guestPath.split('/').filter((part) => part !== '');
    let self: Listed = { inode: ROOT_INODE, directory: true, size: 0, name: Buffer.from('/') };
    for (const [i, name] of names.entries()) {
      const parent = `/${names.slice(0, i).join('/')}`;
      if (!self.directory) throw new SendenseError(`${this.what}: ${parent} is not a directory`);
      const found = (await this.listDirectory(parent)).find((entry) => entry.name.equals(Buffer.from(name, 'utf8')));
      if (found === undefined)
        throw new SendenseError(`${this.what}: /${names.slice(0, i + 1).join('/')}: No such file or directory`);
      if (!found.directory && i < names.length - 1 && (await this.facts(found)).type === 'symlink')
        throw new NotForFastPath();
      self = found;
    }
    return { self, path: `/${names.join('/')}` };
  }

  // `ntfsls -l -i -F`: "INODE SIZE Mon DD HH:MM YYYY NAME", a folder's name ending in '/'.
  private async listDirectory(path: string): Promise<Listed[]> {
    const stdout = await this.run(['ntfsls', '-f', '-l', '-i', '-F', '-p', path, this.partitionFile]);
    const entries: Listed[] = [];
    for (const line of stdout.toString('utf8').split('\n')) {
      if (line === '') continue;
      const m = /^ *(\d+) +(\d+) [A-Z][a-z]{2} +\d+ \d\d:\d\d -?\d+ (.+)$/.exec(line);
      // A name holding a newline: the appliance lists it.
      if (m === null) throw new NotForFastPath();
      const directory = m[3].endsWith('/');
      const name = Buffer.from(directory ? m[3].slice(0, -1) : m[3], 'utf8');
      if (name.equals(Buffer.from('.')) || name.equals(Buffer.from('..'))) continue;
      entries.push({ inode: Number(m[1]), directory, size: Number(m[2]), name });
    }
    return entries;
  }

  // The facts of many entries from two runs per batch: every $STANDARD_INFORMATION, every folder's index size.
  private async entries(listed: readonly Listed[]): Promise<GuestEntry[]> {
    const entries: GuestEntry[] = [];
    for (let i = 0; i < listed.length; i += PER_RUN) {
      const batch = listed.slice(i, i + PER_RUN);
      const folders = batch.filter((entry) => entry.directory).map((entry) => entry.inode);
      // A few shells at once: each ntfscat opens the volume anew, most of its time.
      const share = Math.ceil(batch.length / SHELLS);
      const shares = Array.from({ length: Math.ceil(batch.length / share) }, (_, k) =>
        this.standardInformation(batch.slice(k * share, (k + 1) * share).map((entry) => entry.inode)),
      );
      const [infos, sizes] = await Promise.all([
        Promise.all(shares).then((parts) => parts.flat()),
        folders.length > 0 ? this.indexSizes(folders) : new Map<number, number>(),
      ]);
      for (const [j, entry] of batch.entries()) entries.push(await this.facts(entry, infos[j], sizes.get(entry.inode)));
    }
    return entries;
  }

  // `ntfscat -a 0x10` of each inode in one sandboxed shell, each answer followed by a line of its own:
  // 48 or 72 bytes each (NTFS 1.2 or 3.x), anything else refused (a crafted value holding the line).
  private async standardInformation(inodes: readonly number[]): Promise<Buffer[]> {
    const script = `f=$1; shift; for i; do ntfscat -f -a 0x10 -i "$i" "$f" || exit 1; printf '${END}'; done`;
    const stdout = await this.run(['sh', '-c', script, 'sh', this.partitionFile, ...inodes.map(String)]);
    const infos: Buffer[] = [];
    let at = 0;
    for (const inode of inodes) {
      const end = stdout.indexOf(END, at);
      const info = end < 0 ? undefined : stdout.subarray(at, end);
      if (info === undefined || (info.length !== 48 && info.length !== 72))
        throw new SendenseError(`${this.what}: inode ${inode} has no readable standard information`);
      infos.push(info);
      at = end + END.length;
    }
    return infos;
  }

  // What ntfs-3g says a folder's size is: its $I30 index allocation's data size, 0 when all fits in the record.
  private async indexSizes(inodes: readonly number[]): Promise<Map<number, number>> {
    const script = `f=$1; shift; for i; do printf '${END}%s\\n' "$i"; ntfsinfo -f -i "$i" "$f" || exit 1; done`;
    const text = (await this.run(['sh', '-c', script, 'sh', this.partitionFile, ...inodes.map(String)])).toString(
      'utf8',
    );
    const sizes = new Map<number, number>();
    const parts = text.split(END).slice(1);
    // One part per folder, in order: a name holding the separator line would break that.
    if (parts.length !== inodes.length) throw new NotForFastPath();
    for (const [k, part] of parts.entries()) {
      const inode = Number(/^(\d+)\n/.exec(part)?.[1]);
      if (inode !== inodes[k]) throw new NotForFastPath();
      const allocation = /^Dumping attribute \$INDEX_ALLOCATION \(0xa0\)[^]*?^\s*Data size:\s+(\d+)/m.exec(part);
      sizes.set(inode, allocation ? Number(allocation[1]) : 0);
    }
    return sizes;
  }

  // $STANDARD_INFORMATION (times, attributes) read raw; a folder's index size; an Interix file's kind.
  private async facts(listed: Listed, info?: Buffer, indexSize?: number): Promise<GuestEntry> {
    info ??= (await this.standardInformation([listed.inode]))[0];
    const attributes = info.readUInt32LE(32);
    if (attributes & ATTR_REPARSE_POINT) throw new NotForFastPath();
    let type: EntryType = listed.directory ? 'directory' : 'file';
    let size = listed.directory
      ? (indexSize ?? (await this.indexSizes([listed.inode])).get(listed.inode)!)
      : listed.size;
    let target: Buffer | undefined;
    if (!listed.directory && attributes & ATTR_SYSTEM) {
      if (!(attributes & ATTR_HIDDEN) && size === 0) type = 'fifo';
      else if (!(attributes & ATTR_HIDDEN) && size === 1) type = 'socket';
      else if (size > INTERIX_HEADER && size <= INTERIX_MAX) {
        const data = await this.run(['ntfscat', '-f', '-i', String(listed.inode), this.partitionFile]);
        const magic = data.subarray(0, INTERIX_HEADER);
        if (INTERIX_DEVICES.some((device) => device.equals(magic))) throw new NotForFastPath();
        if (magic.equals(INTERIX_SYMLINK)) {
          type = 'symlink';
          target = Buffer.from(data.subarray(INTERIX_HEADER).toString('utf16le'), 'utf8');
          size = target.length;
        }
      }
    }
    return {
      name: guestNameText(listed.name),
      ...(isUtf8(listed.name) ? {} : { nameBytes: listed.name }),
      type,
      size,
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: ntfsTime(info, 8),
      atime: ntfsTime(info, 24),
      ...(target === undefined
        ? {}
        : { target: guestNameText(target), ...(isUtf8(target) ? {} : { targetBytes: target }) }),
    };
  }

  private async run(argv: readonly string[]): Promise<Buffer> {
    try {
      const { stdout } = await runSandboxed(argv, {
        sandbox: this.sandbox(),
        timeoutMs: STEP_TIMEOUT_MS,
        maxBytes: MAX_ANSWER,
        what: `${argv[0]} reading ${this.what}`,
      });
      return stdout;
    } catch (error) {
      if (!(error instanceof SendenseError)) throw error;
      const said = error.message.replaceAll(this.partitionFile, 'the partition').split('\n');
      const complaint =
        said.find((line) => !/^NOTE/.test(line) && /fail|error|corrupt|inconsistent|cannot|invalid/i.test(line)) ??
        said[0];
      throw new SendenseError(`${this.what} could not be read by ntfs-3g: ${complaint.slice(0, 300)}`, {
        cause: error,
      });
    }
  }
}

// An NTFS time (100 ns since 1601, little-endian at `at`) as seconds since 1970, as ntfs-3g gives it.
function ntfsTime(info: Buffer, at: number): number {
  const since1970 = info.readBigUInt64LE(at) - EPOCH_DIFFERENCE;
  const seconds = since1970 / 10_000_000n;
  let rest = since1970 % 10_000_000n;
  let whole = seconds;
  if (rest < 0n) {
    rest += 10_000_000n;
    whole -= 1n;
  }
  return Number(whole) + Number(rest * 100n) / 1e9;
}
