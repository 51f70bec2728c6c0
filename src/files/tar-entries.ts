// Reads the tar stream libguestfs's tar_out writes (GNU tar in the appliance: ustar headers,
// GNU long names 'L'/'K', pax 'x' records, base-256 numbers) as entries with their data, so
// the host decides what to create instead of handing a guest's archive to its own tar.

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo' | 'other';

export interface TarEntry {
  /** The name's bytes as archived (may not be UTF-8), e.g. "./etc/hosts". */
  readonly name: Buffer;
  readonly type: TarEntryType;
  /** The tar type flag, for messages about an 'other' entry. */
  readonly flag: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  /** Symlink target or hard link source (bytes). */
  readonly link: Buffer;
}

export type TarEvent =
  { readonly kind: 'entry'; readonly entry: TarEntry } | { readonly kind: 'data'; readonly chunk: Buffer };

const BLOCK = 512;
const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
};

// The entries of a tar stream in order: each 'entry' is followed by its data (size bytes) as 'data' events.
export async function* tarEvents(source: AsyncIterable<Buffer>): AsyncGenerator<TarEvent> {
  const reader = new BlockReader(source);
  let longName: Buffer | undefined;
  let longLink: Buffer | undefined;
  let pax: Readonly<Record<string, Buffer>> = {};
  for (;;) {
    const header = await reader.read(BLOCK);
    if (header === undefined) return;
    if (header.every((byte) => byte === 0)) {
      // The end: tar pads its last record with zeros, which the writer still has to hand over.
      await reader.drain();
      return;
    }
    checkChecksum(header);
    const flag = String.fromCharCode(header[156]);
    const size = Number(pax.size?.toString() ?? number(header, 124, 12));
    if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
      const body = await reader.exactly(size);
      await reader.read(padding(size));
      if (flag === 'L') longName = cString(body);
      else if (flag === 'K') longLink = cString(body);
      else if (flag === 'x') pax = paxRecords(body);
      continue;
    }
    const entry: TarEntry = {
      name: pax.path ?? longName ?? ustarName(header),
      type: TYPES[flag] ?? 'other',
      flag,
      mode: number(header, 100, 8) & 0o7777,
      uid: Number(pax.uid?.toString() ?? number(header, 108, 8)),
      gid: Number(pax.gid?.toString() ?? number(header, 116, 8)),
      size: flag === '5' || flag === '1' || flag === '2' ? 0 : size,
      mtime: Number(pax.mtime?.toString() ?? number(header, 136, 12)),
      link: pax.linkpath ?? longLink ?? cString(header.subarray(157, 257)),
    };
    longName = longLink = undefined;
    pax = {};
    yield { kind: 'entry', entry };
    let left = entry.size;
    while (left > 0) {
      const chunk = await reader.read(Math.min(left, 1024 * 1024), true);
      if (chunk === undefined) throw new Error('the tar stream ended inside an entry');
      left -= chunk.length;
      yield { kind: 'data', chunk };
    }
    await reader.read(padding(entry.size));
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function checkChecksum(header: Buffer): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  if (sum !== number(header, 148, 8)) throw new Error('the tar stream has a damaged header');
}

// An octal field, or base-256 when its first byte has the high bit (GNU, for large values).
function number(header: Buffer, offset: number, length: number): number {
  const field = header.subarray(offset, offset + length);
  if (field[0] & 0x80) {
    let value = field[0] & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + field[i];
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function cString(bytes: Buffer): Buffer {
  const end = bytes.indexOf(0);
  return Buffer.from(end < 0 ? bytes : bytes.subarray(0, end));
}

// POSIX ustar splits long names into prefix/name; the GNU format uses those bytes for other things.
function ustarName(header: Buffer): Buffer {
  const name = cString(header.subarray(0, 100));
  const posix = header.subarray(257, 263).toString('latin1') === 'ustar\0';
  const prefix = posix ? cString(header.subarray(345, 500)) : Buffer.alloc(0);
  return prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), name]) : name;
}

// "LEN key=value\n" records of a pax extended header.
function paxRecords(body: Buffer): Record<string, Buffer> {
  const records: Record<string, Buffer> = {};
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const length = Number.parseInt(body.subarray(at, space).toString('latin1'), 10);
    if (space < 0 || !(length > 0)) break;
    const record = body.subarray(space + 1, at + length - 1);
    const equals = record.indexOf(0x3d);
    records[record.subarray(0, equals).toString('latin1')] = Buffer.from(record.subarray(equals + 1));
    at += length;
  }
  return records;
}

// Reads a byte stream in the sizes asked for.
class BlockReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);

  constructor(source: AsyncIterable<Buffer>) {
    this.chunks = source[Symbol.asyncIterator]();
  }

  // `size` bytes (fewer only when `upTo` and the stream has some at hand), or undefined at the end.
  async read(size: number, upTo = false): Promise<Buffer | undefined> {
    if (size === 0) return Buffer.alloc(0);
    while (this.pending.length < size && !(upTo && this.pending.length > 0)) {
      const next = await this.chunks.next();
      if (next.done) {
        if (this.pending.length === 0) return undefined;
        throw new Error('the tar stream ended inside a block');
      }
      this.pending = this.pending.length === 0 ? next.value : Buffer.concat([this.pending, next.value]);
    }
    const taken = this.pending.subarray(0, Math.min(size, this.pending.length));
    this.pending = this.pending.subarray(taken.length);
    return taken;
  }

  async drain(): Promise<void> {
    while (!(await this.chunks.next()).done);
    this.pending = Buffer.alloc(0);
  }

  async exactly(size: number): Promise<Buffer> {
    const bytes = await this.read(size);
    if (bytes === undefined || bytes.length < size) throw new Error('the tar stream ended inside a header');
    return bytes;
  }
}
